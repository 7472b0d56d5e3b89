"""Tests of innspector_tb.analysis.structures: unit types, skip connections, multi-branch blocks, propagation."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import layers

from demo import models as demo_models
from innspector_tb.analysis.structures import find_structures, propagate
from innspector_tb.capture.architecture import extract_architecture
from innspector_tb.store.lineage import build_tree


def of_kind(found, kind):
    return [s for s in found["structures"] if s["kind"] == kind]


def inception():
    image = keras.Input((8, 8, 3), name="image")
    stem = layers.Conv2D(4, 1, name="stem")(image)
    a = layers.Conv2D(4, 1, name="b1")(stem)
    b = layers.Conv2D(4, 1, name="b2a")(stem)
    b = layers.Conv2D(4, 3, padding="same", name="b2b")(b)
    c = layers.MaxPooling2D(3, 1, padding="same", name="b3a")(stem)
    c = layers.Conv2D(4, 1, name="b3b")(c)
    x = layers.Concatenate(name="mix")([a, b, c])
    out = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    return keras.Model(image, out, name="inception")


# ------------------------------------------------------------------ structures


def test_cnn_skip_has_one_skip_connection_ending_at_skip_add():
    found = find_structures(extract_architecture(demo_models.cnn_skip()))
    assert of_kind(found, "skip_connection") == [
        {
            "kind": "skip_connection",
            "from": "conv_1",
            "to": "skip_add",
            "layers": ["conv_1", "conv_2", "skip_add"],
            "skipped": ["conv_2"],
            "namespace": "",
        }
    ]
    assert of_kind(found, "multi_branch") == []  # an identity shortcut is no multi-branch block
    assert found["counts"]["structures"] == {"skip_connection": 1, "multi_branch": 0}
    json.dumps(found, allow_nan=False)


def test_inception_block_is_a_multi_branch():
    found = find_structures(extract_architecture(inception()))
    [block] = of_kind(found, "multi_branch")
    assert block["fork"] == "stem" and block["join"] == "mix" and block["join_type"] == "Concatenate"
    assert block["branches"] == [["b1"], ["b2a", "b2b"], ["b3a", "b3b"]]  # in the order of mix's inputs
    assert block["identity_branch"] is False
    assert block["layers"][0] == "stem" and block["layers"][-1] == "mix"
    assert sorted(block["layers"][1:-1]) == ["b1", "b2a", "b2b", "b3a", "b3b"]
    assert of_kind(found, "skip_connection") == []
    assert found["counts"]["structures"] == {"skip_connection": 0, "multi_branch": 1}


def test_sequential_models_have_no_structures():
    for model in (
        demo_models.dense_baseline(),
        demo_models.cnn((16, 16), 64, "cnn_wide"),
        demo_models.cnn_batchnorm_dropout(),
    ):
        found = find_structures(extract_architecture(model))
        assert found["structures"] == [], model.name
        assert found["counts"]["structures"] == {"skip_connection": 0, "multi_branch": 0}


def test_projection_shortcut_is_multi_branch_and_identity_plus_branches_is_both():
    x_in = keras.Input((8,), name="x")
    h = layers.Dense(8, name="fork")(x_in)
    main = layers.Dense(8, name="main_2")(layers.Dense(8, name="main_1")(h))
    proj = layers.Dense(8, name="proj")(h)
    out = layers.Add(name="join")([main, proj])
    found = find_structures(extract_architecture(keras.Model(x_in, out)))
    assert [(s["kind"], s.get("fork"), s.get("join")) for s in found["structures"]] == [
        ("multi_branch", "fork", "join")
    ]

    y = layers.Add(name="join3")([main, proj, h])  # and an identity edge
    found = find_structures(extract_architecture(keras.Model(x_in, y)))
    kinds = sorted((s["kind"], s.get("from", s.get("fork")), s.get("to", s.get("join"))) for s in found["structures"])
    assert kinds == [("multi_branch", "fork", "join3"), ("skip_connection", "fork", "join3")]
    assert of_kind(found, "multi_branch")[0]["identity_branch"] is True
    assert of_kind(found, "skip_connection")[0]["layers"] == ["fork", "main_1", "main_2", "proj", "join3"]


def test_raw_ops_residual_and_vae_sampling():
    x_in = keras.Input((4,), name="x")
    y = layers.Dense(4, name="dense")(x_in)
    arch = extract_architecture(keras.Model(x_in, x_in + y))
    # Keras names the raw op "add", "add_1", ... depending on what was built before.
    [add_id] = [layer["id"] for layer in arch["layers"] if layer["module"] == "keras.ops"]
    [skip] = of_kind(find_structures(arch), "skip_connection")
    assert (skip["from"], skip["to"]) == ("x", add_id) and add_id.startswith("add")

    found = find_structures(extract_architecture(demo_models.vae("v", 0.5, 0.5)))
    [block] = of_kind(found, "multi_branch")
    assert (block["fork"], block["join"], block["branches"]) == (
        "encoder_hidden",
        "sampling",
        [["z_mean"], ["z_log_var"]],
    )


def test_nested_namespaces_are_flattened_and_counted():
    block_in = keras.Input((6,), name="block_in")
    inner = layers.Dense(6, name="inner")(block_in)
    block = keras.Model(block_in, layers.Add(name="res_add")([block_in, inner]), name="block")
    x_in = keras.Input((6,), name="x")
    x = layers.Dense(6, name="pre")(x_in)
    out = layers.Dense(2, name="post")(block(x))
    found = find_structures(extract_architecture(keras.Model(x_in, out)))
    [skip] = of_kind(found, "skip_connection")
    assert skip["from"] == "block/block_in" and skip["to"] == "block/res_add"
    assert skip["namespace"] == "block"
    assert found["counts"]["by_namespace"] == {
        "": {"skip_connection": 1, "multi_branch": 0},
        "block": {"skip_connection": 1, "multi_branch": 0},
    }


# ------------------------------------------------------------------ unit types


def test_unit_types_of_cnn_skip():
    types = find_structures(extract_architecture(demo_models.cnn_skip()))["unit_types"]
    assert types["layer"]["Conv2D"] == ["conv_1", "conv_2"]
    assert types["layer"]["Add"] == ["skip_add"]
    assert types["layer"]["Dense"] == ["dense_hidden", "classifier"]
    assert types["op"]["conv"] == ["conv_1", "conv_2"]
    assert types["op"]["matmul"] == ["dense_hidden", "classifier"]
    assert types["op"]["add"] == ["skip_add"]
    assert types["variable"]["kernel"] == ["conv_1/kernel", "conv_2/kernel", "dense_hidden/kernel", "classifier/kernel"]
    assert types["activation"] == {"relu": ["conv_1", "conv_2", "dense_hidden"], "softmax": ["classifier"]}


def test_activation_layers_and_nested_variable_names_and_counts():
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.Bidirectional(layers.LSTM(2, name="lstm"), name="bi"),
            layers.Dense(4, name="lin"),
            layers.ReLU(name="relu_layer"),
            layers.Activation("tanh", name="act"),
        ]
    )
    found = find_structures(extract_architecture(model))
    types = found["unit_types"]
    assert types["activation"]["relu"] == ["relu_layer"]
    assert types["activation"]["tanh"][-1] == "act"  # the LSTM's own tanh is listed too
    assert "linear" not in types["activation"]
    assert "bi/forward_lstm/lstm_cell/kernel" in types["variable"]["kernel"]
    assert found["counts"]["variable"]["kernel"] == len(types["variable"]["kernel"]) == 3
    assert found["counts"]["layer"]["Dense"] == 1


# ------------------------------------------------------------------ odd inputs


def test_hand_written_graphs_with_cycles_self_loops_and_unknown_ids():
    arch = {
        "layers": [
            {"id": "a", "type": "Dense"},
            {"id": "b", "type": "Dense"},
            {"id": "c", "type": "Add"},
            None,
            {"id": 3},
        ],
        "edges": [
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
            {"from": "a", "to": "c"},
            {"from": "b", "to": "c"},
            {"from": "c", "to": "c"},
            {"from": "a", "to": "ghost"},
            "junk",
            {"from": "a", "to": "b"},
        ],
    }
    found = find_structures(arch)
    assert [(s["kind"], s.get("from"), s.get("to")) for s in of_kind(found, "skip_connection")] == [
        ("skip_connection", "a", "c"),
        ("skip_connection", "b", "c"),
    ]
    json.dumps(found)


def test_subclassed_imported_and_empty_models_have_no_structures():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.Dense(3, activation="relu", name="a")
            self.b = layers.Dense(3, name="b")

        def call(self, x):
            if keras.ops.any(x > 1e9):  # a branch on a value: not traced, so no edges
                x = x * 0.0
            return self.a(x) + self.b(x)

    net = Net()
    net(np.zeros((1, 2), dtype="float32"))
    found = find_structures(extract_architecture(net))
    assert found["structures"] == [] and found["unit_types"]["layer"]["Dense"] == ["a", "b"]
    imported = {
        "layers": [
            {
                "id": "enc/l1",
                "type": "Unknown",
                "config": {},
                "variables": [{"name": "kernel", "path": "enc/l1/kernel"}],
                "inner": {"nodes": [{"id": "call", "kind": "op", "op": "call"}]},
            }
        ],
        "edges": [],
    }
    found = find_structures(imported)
    assert found["unit_types"]["layer"] == {"Unknown": ["enc/l1"]}
    assert found["unit_types"]["op"] == {"call": ["enc/l1"]}
    assert found["unit_types"]["variable"] == {"kernel": ["enc/l1/kernel"]}
    for empty in ({}, None, {"layers": None, "edges": None}):
        found = find_structures(empty)
        assert found["structures"] == [] and found["counts"]["structures"]["skip_connection"] == 0


# ------------------------------------------------------------------ propagation


def test_propagate_counts_per_model_and_experiment():
    by_run = {
        "skip": find_structures(extract_architecture(demo_models.cnn_skip())),
        "wide": find_structures(extract_architecture(demo_models.cnn((16, 16), 64, "cnn_wide"))),
        "incep": find_structures(extract_architecture(inception())),
    }
    tree = build_tree(
        [
            {"run": "wide", "id": "W", "parents": []},
            {"run": "skip", "id": "S", "parents": ["W"]},
            {"run": "incep", "id": "I", "parents": []},
            {"run": "no_data", "id": "N", "parents": ["I"]},
        ],
        {},
    )
    counts = propagate(by_run, tree["experiments"])
    assert counts["models"]["skip"]["structures"] == {"skip_connection": 1, "multi_branch": 0}
    assert counts["models"]["wide"]["layer"]["Conv2D"] == 2
    exp = counts["experiments"]
    assert set(exp) == {"S", "I"}  # experiment ids: the smallest model id
    assert exp["S"]["structures"] == {"skip_connection": 1, "multi_branch": 0}
    assert exp["S"]["models"] == 2 and exp["S"]["models_with"] == {"skip_connection": 1, "multi_branch": 0}
    assert exp["S"]["layer"]["Conv2D"] == 4 and exp["S"]["activation"]["relu"] == 6
    assert exp["I"]["structures"] == {"skip_connection": 0, "multi_branch": 1} and exp["I"]["models"] == 1
    assert counts["total"]["structures"] == {"skip_connection": 1, "multi_branch": 1}
    assert counts["total"]["models"] == 3

    # without "counts" (recomputed from the lists) and with plain run lists
    stripped = {run: {k: v for k, v in found.items() if k != "counts"} for run, found in by_run.items()}
    again = propagate(stripped, [["skip", "wide", "ghost"], "junk"])
    assert again["experiments"]["0"]["structures"] == exp["S"]["structures"]
    assert again["experiments"]["0"]["layer"] == exp["S"]["layer"]
    assert again["experiments"]["1"]["models"] == 0
    assert propagate(None, None) == {"models": {}, "experiments": {}, "total": propagate({}, [])["total"]}
