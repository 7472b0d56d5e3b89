"""Tests of innspector_tb.store.lineage: the demo's tree of models and hand-written edge cases."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from demo import models as demo_models
from demo import train as demo_train
from innspector_tb.capture.architecture import extract_architecture
from innspector_tb.store.lineage import build_tree, diff_architectures


def entry(run, model_id=None, parents=(), trainable=None, name=None):
    return {
        "run": run,
        "id": model_id or run.upper(),
        "name": name or run,
        "label": run,
        "parents": list(parents),
        "params": {} if trainable is None else {"trainable": trainable, "non_trainable": 0},
    }


def nodes_by_id(tree):
    return {node["id"]: node for node in tree["nodes"]}


def edge(tree, parent, child):
    [found] = [e for e in tree["edges"] if e["from"] == parent and e["to"] == child]
    return found


@pytest.fixture(scope="module")
def demo_tree():
    models = []
    for _, head, _ in demo_train.experiments():
        models.append(
            {
                "run": head["name"],
                "id": head["id"],
                "name": head["name"],
                "label": head["label"],
                "parents": head["parents"],
            }
        )
    return build_tree(models, {}), {m["name"]: m["id"] for m in models}


# ------------------------------------------------------------------ the demo's lineage


def test_demo_experiments_are_the_connected_components(demo_tree):
    tree, ids = demo_tree
    groups = sorted(sorted(nodes_by_id(tree)[m]["name"] for m in e["models"]) for e in tree["experiments"])
    assert groups == [
        ["bilstm_text", "transformer_text"],
        ["cnn_bn_dropout", "cnn_nested", "cnn_rebalanced", "cnn_skip", "cnn_small", "cnn_wide", "dense_baseline"],
        ["spurious_dense", "spurious_mitigated"],
        ["vae_25_75", "vae_50_50", "vae_90_10"],
        ["vae_careless", "vae_fixed", "vae_keras_io"],
    ]
    for experiment in tree["experiments"]:
        assert experiment["id"] == min(experiment["models"])  # stable: the smallest model id
        assert experiment["runs"] == [nodes_by_id(tree)[m]["run"] for m in experiment["models"]]
    roots = sorted(nodes_by_id(tree)[r]["name"] for e in tree["experiments"] for r in e["roots"])
    assert roots == ["dense_baseline", "spurious_dense", "transformer_text", "vae_90_10", "vae_careless"]
    assert tree["missing_parents"] == [] and tree["cycles"] == [] and tree["duplicate_ids"] == []
    json.dumps(tree, allow_nan=False)


def test_demo_depths(demo_tree):
    tree, ids = demo_tree
    depth = {node["name"]: node["depth"] for node in tree["nodes"]}
    assert depth == {
        "dense_baseline": 0,
        "cnn_small": 1,
        "cnn_wide": 2,
        "cnn_bn_dropout": 2,
        "cnn_rebalanced": 3,
        "cnn_skip": 3,
        "cnn_nested": 2,
        "vae_90_10": 0,
        "vae_50_50": 1,
        "vae_25_75": 1,
        "vae_careless": 0,
        "vae_fixed": 1,
        "vae_keras_io": 2,
        "spurious_dense": 0,
        "spurious_mitigated": 1,
        "transformer_text": 0,
        "bilstm_text": 1,
    }
    experiment = {node["name"]: node["experiment"] for node in tree["nodes"]}
    assert experiment["cnn_skip"] == experiment["dense_baseline"] != experiment["vae_fixed"]
    assert len(tree["edges"]) == 12
    assert {(e["from"], e["to"]) for e in tree["edges"]} >= {
        (ids["cnn_wide"], ids["cnn_rebalanced"]),
        (ids["vae_careless"], ids["vae_fixed"]),
        (ids["vae_fixed"], ids["vae_keras_io"]),
        (ids["spurious_dense"], ids["spurious_mitigated"]),
    }


# ------------------------------------------------------------------ edges: parameters and diff

WIDE_PARAMS = 160 + 2320 + 16448 + 650  # conv_1, conv_2, dense_hidden (256 -> 64), classifier
REBALANCED_PARAMS = 80 + 2336 + 32832 + 650  # dense_hidden now sees 4*4*32 = 512 inputs


@pytest.fixture(scope="module")
def classifier_archs():
    return {
        "dense_baseline": extract_architecture(demo_models.dense_baseline()),
        "cnn_small": extract_architecture(demo_models.cnn((8,), 32, "cnn_small")),
        "cnn_wide": extract_architecture(demo_models.cnn((16, 16), 64, "cnn_wide")),
        "cnn_rebalanced": extract_architecture(demo_models.cnn((8, 32), 64, "cnn_rebalanced")),
    }


def test_param_change_from_architectures(classifier_archs):
    assert classifier_archs["cnn_wide"]["params"]["trainable"] == WIDE_PARAMS
    tree = build_tree([entry("cnn_wide"), entry("cnn_rebalanced", parents=["CNN_WIDE"])], classifier_archs)
    change = edge(tree, "CNN_WIDE", "CNN_REBALANCED")["param_change"]
    assert change == pytest.approx(REBALANCED_PARAMS / WIDE_PARAMS - 1)


def test_param_change_from_entries_wins_and_unknown_is_null():
    tree = build_tree(
        [
            entry("a", trainable=200),
            entry("b", parents=["A"], trainable=150),
            entry("c", parents=["B"]),
            entry("z", trainable=0),
            entry("y", parents=["Z"], trainable=5),
        ],
        {"a": {"params": {"trainable": 1}}},
    )
    assert edge(tree, "A", "B")["param_change"] == pytest.approx(-0.25)
    assert edge(tree, "B", "C")["param_change"] is None  # child unknown
    assert edge(tree, "Z", "Y")["param_change"] is None  # parent has no parameters
    assert edge(tree, "A", "B")["diff"] is None  # no architectures for a, b


def test_diff_of_cnn_wide_and_cnn_rebalanced(classifier_archs):
    tree = build_tree([entry("cnn_wide"), entry("cnn_rebalanced", parents=["CNN_WIDE"])], classifier_archs)
    diff = edge(tree, "CNN_WIDE", "CNN_REBALANCED")["diff"]
    assert diff["added"] == [] and diff["removed"] == []
    changed = {c["layer"]: c["fields"] for c in diff["changed"]}
    assert set(changed) == {"conv_1", "conv_2", "pool", "flatten"}
    assert changed["conv_1"]["filters"] == [16, 8]
    assert changed["conv_2"]["filters"] == [16, 32]
    assert changed["conv_1"]["output_shapes"] == [[[None, 8, 8, 16]], [[None, 8, 8, 8]]]
    assert changed["flatten"] == {"output_shapes": [[[None, 256]], [[None, 512]]]}
    assert set(changed["conv_2"]) == {"filters", "output_shapes"}


def test_diff_with_added_layers(classifier_archs):
    diff = diff_architectures(classifier_archs["dense_baseline"], classifier_archs["cnn_small"])
    assert diff["added"] == ["conv_1", "pool"]
    assert diff["removed"] == []
    changed = {c["layer"]: c["fields"] for c in diff["changed"]}
    assert changed["dense_hidden"]["units"] == [64, 32]
    reverse = diff_architectures(classifier_archs["cnn_small"], classifier_archs["dense_baseline"])
    assert reverse["removed"] == ["conv_1", "pool"] and reverse["added"] == []


def test_diff_of_type_and_config_keys():
    before = {
        "layers": [
            {"id": "x", "type": "Dense", "config": {"units": 4, "activation": "relu"}, "output_shapes": [[None, 4]]}
        ]
    }
    after = {
        "layers": [
            {
                "id": "x",
                "type": "EinsumDense",
                "config": {"units": 4, "equation": "ab,bc->ac"},
                "output_shapes": [[None, 4]],
            }
        ]
    }
    diff = diff_architectures(before, after)
    assert diff["changed"] == [
        {
            "layer": "x",
            "fields": {"type": ["Dense", "EinsumDense"], "activation": ["relu", None], "equation": [None, "ab,bc->ac"]},
        }
    ]
    assert diff_architectures(before, before) == {"added": [], "removed": [], "changed": []}
    assert diff_architectures(before, None) is None
    assert diff_architectures({"layers": "nope"}, before) is None


# ------------------------------------------------------------------ edge cases


def test_missing_parents_are_reported_and_connect_siblings():
    tree = build_tree(
        [entry("a", parents=["GONE"]), entry("b", parents=["GONE", "A"]), entry("c", parents=["ELSEWHERE"])], {}
    )
    assert tree["missing_parents"] == [
        {"child": "A", "parent": "GONE"},
        {"child": "B", "parent": "GONE"},
        {"child": "C", "parent": "ELSEWHERE"},
    ]
    experiments = {e["id"]: e for e in tree["experiments"]}
    assert set(experiments) == {"A", "C"}
    assert experiments["A"]["models"] == ["A", "B"] and experiments["A"]["roots"] == ["A"]
    assert experiments["A"]["missing_parents"] == ["GONE"]
    assert nodes_by_id(tree)["B"]["depth"] == 1


def test_siblings_of_one_missing_parent_share_an_experiment():
    tree = build_tree([entry("a", parents=["GONE"]), entry("b", parents=["GONE"])], {})
    [experiment] = tree["experiments"]
    assert experiment["models"] == ["A", "B"] and experiment["roots"] == ["A", "B"]


def test_cycle_is_reported_and_broken_deterministically():
    # z -> t -> u -> s -> t: the cycle s, t, u is entered at t from the true root z,
    # so the search starts at z (not at the smallest id s) and cuts s -> t
    models = [entry("z"), entry("t", parents=["Z", "S"]), entry("u", parents=["T"]), entry("s", parents=["U"])]
    tree = build_tree(models, {})
    assert tree["cycles"] == [["S", "T", "U"]]
    assert tree["broken_edges"] == [{"from": "S", "to": "T"}]
    assert edge(tree, "S", "T")["broken"] is True and edge(tree, "Z", "T")["broken"] is False
    depth = {n["id"]: n["depth"] for n in tree["nodes"]}
    assert depth == {"Z": 0, "T": 1, "U": 2, "S": 3}
    assert {n["id"] for n in tree["nodes"] if n["in_cycle"]} == {"S", "T", "U"}
    assert [e["roots"] for e in tree["experiments"]] == [["Z"]]
    assert any("cycle" in note and "S -> T" in note for note in tree["notes"])
    # the same result whatever the order of the input
    again = build_tree(list(reversed(models)), {})
    assert again["broken_edges"] == tree["broken_edges"]
    assert {n["id"]: n["depth"] for n in again["nodes"]} == depth


def test_pure_cycle_and_self_parent():
    tree = build_tree([entry("f", parents=["G"]), entry("g", parents=["F"]), entry("h", parents=["H"])], {})
    assert tree["cycles"] == [["F", "G"], ["H"]]
    assert {(b["from"], b["to"]) for b in tree["broken_edges"]} == {("G", "F"), ("H", "H")}
    depth = {n["id"]: n["depth"] for n in tree["nodes"]}
    assert depth == {"F": 0, "G": 1, "H": 0}
    roots = {e["id"]: e["roots"] for e in tree["experiments"]}
    assert roots == {"F": ["F"], "H": ["H"]}


def test_duplicate_ids_keep_every_run():
    tree = build_tree(
        [entry("b2", "B", parents=["A"]), entry("a"), entry("b", "B", parents=["A"]), entry("c", parents=["B"])], {}
    )
    assert tree["duplicate_ids"] == [{"id": "B", "runs": ["b", "b2"], "nodes": ["B", "B@b2"]}]
    nodes = nodes_by_id(tree)
    assert nodes["B"]["run"] == "b" and nodes["B@b2"]["run"] == "b2"
    assert nodes["B@b2"]["model_id"] == "B" and nodes["B@b2"]["duplicate_of"] == "B"
    assert nodes["C"]["parents"] == ["B"] and nodes["C"]["depth"] == 2
    assert nodes["B@b2"]["depth"] == 1
    assert [e["id"] for e in tree["experiments"]] == ["A"]


def test_malformed_entries_never_raise():
    tree = build_tree(
        [
            None,
            "x",
            {"run": "no_id"},
            {"id": "P", "parents": "Q"},
            {"id": "Q", "parents": [None, 3, "", "P", "P"], "params": "lots"},
            {"id": "R", "parents": None, "params": {"trainable": "many"}},
        ],
        None,
    )
    ids = sorted(nodes_by_id(tree))
    assert ids == ["P", "Q", "R", "no_id"]
    assert tree["cycles"] == [["P", "Q"]]
    assert len([e for e in tree["edges"] if (e["from"], e["to"]) == ("P", "Q")]) == 1
    json.dumps(tree, allow_nan=False)
    assert build_tree(None, None)["nodes"] == []
    assert build_tree([], {})["experiments"] == []


def test_subclassed_and_imported_architectures_diff_by_layer_ids():
    class Net(keras.Model):
        def __init__(self, units):
            super().__init__()
            self.hidden = keras.layers.Dense(units, name="hidden")

        def call(self, x):
            return self.hidden(x)

    archs = {}
    for run, units in (("small", 2), ("big", 5)):
        net = Net(units)
        net(np.zeros((1, 3), dtype="float32"))
        archs[run] = extract_architecture(net)
    archs["imported"] = {
        "layers": [{"id": "hidden", "type": "Unknown", "config": {}, "output_shapes": []}],
        "edges": [],
        "params": {"trainable": 20},
    }
    tree = build_tree([entry("small"), entry("big", parents=["SMALL"]), entry("imported", parents=["BIG"])], archs)
    big = edge(tree, "SMALL", "BIG")
    assert big["param_change"] == pytest.approx((3 * 5 + 5) / (3 * 2 + 2) - 1)
    assert {c["layer"]: c["fields"]["units"] for c in big["diff"]["changed"]} == {"hidden": [2, 5]}
    imported = edge(tree, "BIG", "IMPORTED")["diff"]
    assert imported["changed"][0]["fields"]["type"] == ["Dense", "Unknown"]
    assert edge(tree, "BIG", "IMPORTED")["param_change"] == pytest.approx(0.0)
