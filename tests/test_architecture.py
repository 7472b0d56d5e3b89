"""Tests of innspector_tb.capture.architecture on small real Keras 3 models.

Expected values (ids, shapes, parameter counts) are worked out by hand from
the model definitions, not copied from the extractor's output.
"""

import itertools
import json
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
from keras import layers

from innspector_tb.capture import tracing
from innspector_tb.capture.architecture import (
    extract_architecture,
    iter_leaf_layers,
    layer_variable_names,
)
from innspector_tb.format.architecture import layer_h5_name

# ------------------------------------------------------------------ helpers


def by_id(arch):
    return {layer["id"]: layer for layer in arch["layers"]}


def edge_set(arch):
    return {(e["from"], e["to"], e["to_input"]) for e in arch["edges"]}


def inner_ops(layer):
    return [node["op"] for node in layer["inner"]["nodes"] if node["kind"] == "op"]


def inner_edges(layer):
    return {tuple(edge) for edge in layer["inner"]["edges"]}


def non_input_ids(arch):
    """Layer ids iter_leaf_layers must yield: no InputLayers, no raw keras.ops."""
    return [layer["id"] for layer in arch["layers"] if layer["type"] != "InputLayer" and layer["module"] != "keras.ops"]


def check_common(arch, model):
    """Invariants every extraction must satisfy."""
    json.dumps(arch, allow_nan=False)
    ids = [layer["id"] for layer in arch["layers"]]
    assert len(ids) == len(set(ids))
    for edge in arch["edges"]:
        assert edge["from"] in ids and edge["to"] in ids
        assert 0 <= edge["call"] < by_id(arch)[edge["to"]]["calls"]
    for layer in arch["layers"]:
        node_ids = [node["id"] for node in layer["inner"]["nodes"]]
        assert len(node_ids) == len(set(node_ids))
        for src, dst in layer["inner"]["edges"]:
            assert src in node_ids and dst in node_ids
    assert [lid for lid, _ in iter_leaf_layers(model)] == non_input_ids(arch)


# ------------------------------------------------------------------ models


def cnn_sequential():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="img"),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flat"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="cnn",
    )


def skip_two_in_two_out():
    a = keras.Input((8,), name="a")
    b = keras.Input((4,), name="b")
    d1 = layers.Dense(8, activation="relu", name="d1")(a)
    skip = layers.Add(name="skip")([d1, a])
    cat = layers.Concatenate(name="cat")([skip, b])
    out1 = layers.Dense(1, name="out1")(cat)
    out2 = layers.Dense(2, name="out2")(skip)
    return keras.Model([a, b], [out1, out2], name="two_heads")


class Scale(layers.Layer):
    """A custom layer with one variable of its own."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w


class BrokenConfig(layers.Layer):
    def get_config(self):
        raise RuntimeError("no config for you")

    def call(self, x):
        return x


class Sub(keras.Model):
    """A subclassed model: no functional graph of its own, a traced one."""

    def __init__(self):
        super().__init__(name="sub")
        self.d1 = layers.Dense(5, name="s_d1")
        self.drop = layers.Dropout(0.1, name="s_drop")
        self.d2 = layers.Dense(2, name="s_d2")

    def call(self, x, training=False):
        return self.d2(self.drop(self.d1(x), training=training))


class VAE(keras.Model):
    """Built functionally, with a custom training step."""

    def __init__(self):
        inputs = keras.Input((6,), name="v_in")
        z = layers.Dense(2, name="z")(inputs)
        outputs = layers.Dense(6, activation="sigmoid", name="recon")(z)
        super().__init__(inputs, outputs, name="vae")

    def train_step(self, data):
        return {"loss": 0.0}


# ------------------------------------------------------------------ tests


def test_sequential_cnn():
    model = cnn_sequential()
    arch = extract_architecture(model)
    check_common(arch, model)
    layers_ = by_id(arch)

    order = ["img", "conv", "bn", "pool", "flat", "drop", "hidden", "probs"]
    assert [layer["id"] for layer in arch["layers"]] == order
    assert arch["model"] == {"name": "cnn", "class": "Sequential", "functional": True, "notes": []}
    assert arch["inputs"] == ["img"]
    assert arch["outputs"] == [{"layer": "probs", "output_index": 0}]
    assert edge_set(arch) == {(a, b, 0) for a, b in itertools.pairwise(order)}
    assert arch["namespaces"] == []

    # 8x8 -conv3x3 valid-> 6x6x4 -pool2-> 3x3x4 -> 36
    assert layers_["img"]["output_shapes"] == [[None, 8, 8, 1]]
    assert layers_["conv"]["input_shapes"] == [[None, 8, 8, 1]]
    assert layers_["conv"]["output_shapes"] == [[None, 6, 6, 4]]
    assert layers_["pool"]["output_shapes"] == [[None, 3, 3, 4]]
    assert layers_["flat"]["output_shapes"] == [[None, 36]]
    assert layers_["probs"]["output_shapes"] == [[None, 3]]
    shapes = {(e["from"], e["to"]): e["shape"] for e in arch["edges"]}
    assert shapes[("flat", "drop")] == [None, 36]

    conv = 3 * 3 * 1 * 4 + 4
    hidden = 36 * 16 + 16
    probs = 16 * 3 + 3
    assert layers_["conv"]["params"] == {"trainable": conv, "non_trainable": 0}
    assert layers_["bn"]["params"] == {"trainable": 8, "non_trainable": 8}
    assert arch["params"] == {"trainable": conv + 8 + hidden + probs, "non_trainable": 8}
    assert sum(arch["params"].values()) == model.count_params()

    assert layers_["conv"]["config"]["filters"] == 4
    assert layers_["conv"]["config"]["kernel_size"] == [3, 3]
    assert layers_["conv"]["config"]["activation"] == "relu"
    assert layers_["conv"]["config"]["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert layers_["drop"]["config"]["rate"] == 0.5
    assert layers_["pool"]["config"]["pool_size"] == [2, 2]
    assert layers_["conv"]["module"] == "keras.layers"
    assert layers_["conv"]["custom"] is False
    assert layers_["img"]["is_input"] is True and layers_["conv"]["is_input"] is False

    assert inner_ops(layers_["conv"]) == ["conv", "bias_add", "activation"]
    conv_labels = [n["label"] for n in layers_["conv"]["inner"]["nodes"] if n["kind"] == "op"]
    assert conv_labels == ["conv2d 3x3", "bias_add", "relu"]
    assert inner_ops(layers_["pool"]) == ["max_pool"]
    assert inner_ops(layers_["flat"]) == ["flatten"]
    assert inner_ops(layers_["drop"]) == ["dropout"]
    act = [n for n in layers_["probs"]["inner"]["nodes"] if n.get("op") == "activation"]
    assert [(n["label"], n["activation"]) for n in act] == [("softmax", "softmax")]
    assert [n["kind"] for n in layers_["img"]["inner"]["nodes"]] == ["input"]


def test_batch_normalization_inner_graph():
    arch = extract_architecture(cnn_sequential())
    bn = by_id(arch)["bn"]
    names = {v["name"]: v for v in bn["variables"]}
    assert set(names) == {"gamma", "beta", "moving_mean", "moving_variance"}
    assert all(v["shape"] == [4] for v in names.values())
    assert names["gamma"]["trainable"] and not names["moving_mean"]["trainable"]
    assert names["moving_variance"]["path"] == "bn/moving_variance"
    assert names["gamma"]["initializer"]["class_name"] == "Ones"
    assert inner_ops(bn) == ["normalize", "scale", "shift"]
    assert {
        ("var:moving_mean", "normalize"),
        ("var:moving_variance", "normalize"),
        ("var:gamma", "scale"),
        ("var:beta", "shift"),
        ("input", "normalize"),
        ("normalize", "scale"),
        ("scale", "shift"),
        ("shift", "output"),
    } == inner_edges(bn)
    assert bn["config"]["momentum"] == pytest.approx(0.99)
    assert bn["config"]["axis"] == -1


def test_dense_inner_graphs():
    x = keras.Input((3,), name="x")
    full = layers.Dense(4, activation="relu", name="full")(x)
    bare = layers.Dense(2, use_bias=False, name="bare")(full)
    model = keras.Model(x, bare)
    layers_ = by_id(extract_architecture(model))

    full_l = layers_["full"]
    assert inner_ops(full_l) == ["matmul", "bias_add", "activation"]
    assert inner_edges(full_l) == {
        ("input", "matmul"),
        ("var:kernel", "matmul"),
        ("matmul", "bias_add"),
        ("var:bias", "bias_add"),
        ("bias_add", "activation"),
        ("activation", "output"),
    }
    variables = {n["variable"]: n["shape"] for n in full_l["inner"]["nodes"] if n["kind"] == "variable"}
    assert variables == {"kernel": [3, 4], "bias": [4]}

    bare_l = layers_["bare"]
    assert inner_ops(bare_l) == ["matmul"]
    assert inner_edges(bare_l) == {("input", "matmul"), ("var:kernel", "matmul"), ("matmul", "output")}
    assert [v["name"] for v in bare_l["variables"]] == ["kernel"]
    assert bare_l["params"] == {"trainable": 4 * 2, "non_trainable": 0}


def test_functional_skip_connection_two_inputs_two_outputs():
    model = skip_two_in_two_out()
    arch = extract_architecture(model)
    check_common(arch, model)
    layers_ = by_id(arch)

    assert arch["model"]["class"] == "Functional" and arch["model"]["functional"]
    assert arch["inputs"] == ["a", "b"]
    assert arch["outputs"] == [{"layer": "out1", "output_index": 0}, {"layer": "out2", "output_index": 0}]
    assert edge_set(arch) == {
        ("a", "d1", 0),
        ("d1", "skip", 0),
        ("a", "skip", 1),
        ("skip", "cat", 0),
        ("b", "cat", 1),
        ("cat", "out1", 0),
        ("skip", "out2", 0),
    }
    assert layers_["skip"]["input_shapes"] == [[None, 8], [None, 8]]
    assert layers_["cat"]["input_shapes"] == [[None, 8], [None, 4]]
    assert layers_["cat"]["output_shapes"] == [[None, 12]]
    assert layers_["cat"]["config"]["axis"] == -1

    add = layers_["skip"]
    assert inner_ops(add) == ["add"]
    assert inner_edges(add) == {("input_0", "add"), ("input_1", "add"), ("add", "output")}
    assert inner_ops(layers_["cat"]) == ["concatenate"]

    params = (8 * 8 + 8) + (12 * 1 + 1) + (8 * 2 + 2)
    assert arch["params"] == {"trainable": params, "non_trainable": 0}
    assert params == model.count_params()


def test_shared_layer_called_twice():
    u = keras.Input((3,), name="u")
    v = keras.Input((3,), name="v")
    shared = layers.Dense(4, name="shared")
    total = layers.Add(name="total")([shared(u), shared(v)])
    model = keras.Model([u, v], total)
    arch = extract_architecture(model)
    check_common(arch, model)

    assert [layer["id"] for layer in arch["layers"]].count("shared") == 1
    shared_l = by_id(arch)["shared"]
    assert shared_l["calls"] == 2
    calls = {(e["from"], e["call"]) for e in arch["edges"] if e["to"] == "shared"}
    assert calls == {("u", 0), ("v", 1)}
    assert edge_set(arch) == {("u", "shared", 0), ("v", "shared", 0), ("shared", "total", 0), ("shared", "total", 1)}
    assert arch["params"] == {"trainable": 3 * 4 + 4, "non_trainable": 0}
    assert [lid for lid, _ in iter_leaf_layers(model)] == ["shared", "total"]


def nested_model():
    inner_in = keras.Input((6,), name="inner_in")
    inner = keras.Model(inner_in, layers.Dense(5, name="core")(inner_in), name="inner")
    enc_in = keras.Input((8,), name="enc_in")
    encoder = keras.Model(enc_in, inner(layers.Dense(6, name="enc_dense")(enc_in)), name="encoder")
    head = keras.Sequential(
        [keras.Input((5,), name="head_in"), layers.Dense(4, name="h1"), layers.Dense(2, name="h2")], name="head"
    )
    x = keras.Input((8,), name="x")
    return keras.Model(x, head(encoder(x)), name="outer")


def test_nested_functional_and_sequential():
    model = nested_model()
    arch = extract_architecture(model)
    check_common(arch, model)

    assert [layer["id"] for layer in arch["layers"]] == [
        "x",
        "encoder/enc_in",
        "encoder/enc_dense",
        "encoder/inner/inner_in",
        "encoder/inner/core",
        "head/head_in",
        "head/h1",
        "head/h2",
    ]
    layers_ = by_id(arch)
    assert layers_["encoder/inner/core"]["name"] == "core"
    assert layers_["encoder/inner/core"]["namespace"] == "encoder/inner"
    assert layers_["x"]["namespace"] == ""
    assert layers_["encoder/inner/core"]["variables"][0]["path"] == "encoder/inner/core/kernel"
    # The rewired edges run leaf to leaf across namespace borders.
    assert edge_set(arch) == {
        ("x", "encoder/enc_in", 0),
        ("encoder/enc_in", "encoder/enc_dense", 0),
        ("encoder/enc_dense", "encoder/inner/inner_in", 0),
        ("encoder/inner/inner_in", "encoder/inner/core", 0),
        ("encoder/inner/core", "head/head_in", 0),
        ("head/head_in", "head/h1", 0),
        ("head/h1", "head/h2", 0),
    }
    assert arch["inputs"] == ["x"]
    assert arch["outputs"] == [{"layer": "head/h2", "output_index": 0}]

    spaces = {ns["id"]: ns for ns in arch["namespaces"]}
    assert set(spaces) == {"encoder", "encoder/inner", "head"}
    assert spaces["encoder/inner"]["parent"] == "encoder"
    assert spaces["encoder"]["parent"] == "" and spaces["head"]["parent"] == ""
    assert spaces["head"]["type"] == "Sequential" and spaces["head"]["functional"]
    assert spaces["encoder"]["layers"] == ["encoder/enc_in", "encoder/enc_dense"]
    assert spaces["encoder"]["inputs"] == ["encoder/enc_in"]
    assert spaces["encoder"]["outputs"] == ["encoder/inner/core"]
    assert spaces["head"]["inputs"] == ["head/head_in"]
    assert spaces["head"]["outputs"] == ["head/h2"]

    enc_dense, core, h1, h2 = 8 * 6 + 6, 6 * 5 + 5, 5 * 4 + 4, 4 * 2 + 2
    assert spaces["encoder"]["params"] == {"trainable": enc_dense + core, "non_trainable": 0}
    assert spaces["encoder/inner"]["params"] == {"trainable": core, "non_trainable": 0}
    assert spaces["head"]["params"] == {"trainable": h1 + h2, "non_trainable": 0}
    assert arch["params"]["trainable"] == enc_dense + core + h1 + h2 == model.count_params()
    assert [lid for lid, _ in iter_leaf_layers(model)] == [
        "encoder/enc_dense",
        "encoder/inner/core",
        "head/h1",
        "head/h2",
    ]
    assert layer_h5_name("encoder/inner/core") == "encoder:inner:core"


def test_nested_model_called_twice():
    e_in = keras.Input((3,), name="e_in")
    twin = keras.Model(e_in, layers.Dense(2, name="t_dense")(e_in), name="twin")
    p = keras.Input((3,), name="p")
    q = keras.Input((3,), name="q")
    model = keras.Model([p, q], layers.Subtract(name="diff")([twin(p), twin(q)]))
    arch = extract_architecture(model)
    check_common(arch, model)

    assert by_id(arch)["twin/e_in"]["calls"] == 2
    into_twin = {(e["from"], e["call"]) for e in arch["edges"] if e["to"] == "twin/e_in"}
    assert into_twin == {("p", 0), ("q", 1)}
    assert {e for e in edge_set(arch) if e[1] == "diff"} == {("twin/t_dense", "diff", 0), ("twin/t_dense", "diff", 1)}
    assert inner_ops(by_id(arch)["diff"]) == ["subtract"]


def test_custom_layer_generic_call():
    x = keras.Input((4,), name="x")
    y = Scale(name="scale")(x)
    model = keras.Model(x, layers.Dense(1, name="out")(y))
    arch = extract_architecture(model)
    check_common(arch, model)

    scale = by_id(arch)["scale"]
    assert scale["type"] == "Scale"
    assert scale["custom"] is True
    assert scale["module"] == __name__
    assert scale["params"] == {"trainable": 4, "non_trainable": 0}
    assert [(v["name"], v["shape"], v["path"]) for v in scale["variables"]] == [("w", [4], "scale/w")]
    ops = [n for n in scale["inner"]["nodes"] if n["kind"] == "op"]
    assert [(n["op"], n["label"]) for n in ops] == [("call", "Scale")]
    assert inner_edges(scale) == {("input", "call"), ("var:w", "call"), ("call", "output")}
    assert edge_set(arch) == {("x", "scale", 0), ("scale", "out", 0)}


def test_keras_op_on_symbolic_tensors():
    # `x + y` on KerasTensors makes a keras.ops operation, not a layer.
    x = keras.Input((2,), name="x")
    d = layers.Dense(2, name="d")(x)
    model = keras.Model(x, layers.Dense(1, name="out")(d + x))
    arch = extract_architecture(model)
    check_common(arch, model)

    ops = [layer for layer in arch["layers"] if layer["module"] == "keras.ops"]
    assert len(ops) == 1 and ops[0]["type"] == "Add"
    op_id = ops[0]["id"]
    assert edge_set(arch) == {("x", "d", 0), ("d", op_id, 0), ("x", op_id, 1), (op_id, "out", 0)}
    assert inner_ops(ops[0]) == ["add"]
    assert op_id not in [lid for lid, _ in iter_leaf_layers(model)]


class Branching(Sub):
    """A subclassed model whose call branches on a value: it cannot be traced."""

    def call(self, x, training=False):
        if keras.ops.sum(x) > 0:
            return self.d2(self.d1(x))
        return self.d2(self.drop(self.d1(x), training=training))


def test_subclassed_model_is_traced():
    # Built by a call on (2, 3) inputs: traced on Inputs of shape (None, 3), the build shape.
    model = Sub()
    model(np.zeros((2, 3), dtype="float32"))
    arch = extract_architecture(model)
    check_common(arch, model)

    assert arch["model"] == {"name": "sub", "class": "Sub", "functional": True, "traced": True, "notes": []}
    assert [layer["id"] for layer in arch["layers"]] == ["input", "s_d1", "s_drop", "s_d2"]
    assert edge_set(arch) == {("input", "s_d1", 0), ("s_d1", "s_drop", 0), ("s_drop", "s_d2", 0)}
    assert arch["inputs"] == ["input"] and arch["outputs"] == [{"layer": "s_d2", "output_index": 0}]
    assert by_id(arch)["s_d2"]["output_shapes"] == [[None, 2]]
    assert [lid for lid, _ in iter_leaf_layers(model)] == ["s_d1", "s_drop", "s_d2"]
    d1, d2 = 3 * 5 + 5, 5 * 2 + 2
    assert arch["params"] == {"trainable": d1 + d2, "non_trainable": 0}


def test_untraceable_subclassed_model_degrades_with_note(caplog):
    model = Branching()
    tracing.prepare(model, np.ones((2, 3), dtype="float32"))  # as the callback does, with its probe
    with caplog.at_level(logging.WARNING, logger="innspector_tb"):
        arch = extract_architecture(model)
    check_common(arch, model)

    note = "Branching is a subclassed model without a functional graph: showing its 3 layers without data-flow edges"
    notes = [n for n in arch["model"]["notes"] if n.startswith(note)]
    assert len(notes) == 1
    assert "could not be traced" in notes[0] and "cannot be used as a boolean" in notes[0]
    assert notes[0] in caplog.text
    assert arch["model"]["functional"] is False and arch["model"]["class"] == "Branching"
    assert "traced" not in arch["model"]
    assert [layer["id"] for layer in arch["layers"]] == ["s_d1", "s_drop", "s_d2"]
    assert arch["edges"] == [] and arch["inputs"] == [] and arch["outputs"] == []
    assert by_id(arch)["s_d2"]["output_shapes"] == []
    d1, d2 = 3 * 5 + 5, 5 * 2 + 2
    assert by_id(arch)["s_d1"]["params"] == {"trainable": d1, "non_trainable": 0}
    assert arch["params"] == {"trainable": d1 + d2, "non_trainable": 0}
    assert d1 + d2 == model.count_params()


def test_subclassed_model_with_functional_part_and_own_weight():
    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__(name="wrapper")
            w_in = keras.Input((4,), name="w_in")
            self.enc = keras.Model(w_in, layers.Dense(3, name="w_dense")(w_in), name="enc")
            self.post = BrokenConfig(name="odd")
            self.gain = self.add_weight(shape=(3,), name="gain")

        def call(self, x):
            return self.post(self.enc(x)) * self.gain

    model = Wrapper()
    model(np.zeros((1, 4), dtype="float32"))
    arch = extract_architecture(model)
    check_common(arch, model)

    # Traced: the nested model, the custom layer and the raw multiply by the model's own weight.
    assert arch["model"]["functional"] is True and arch["model"]["traced"] is True
    (multiply,) = [layer["id"] for layer in arch["layers"] if layer["module"] == "keras.ops"]
    assert edge_set(arch) == {
        ("input", "enc/w_in", 0),
        ("enc/w_in", "enc/w_dense", 0),
        ("enc/w_dense", "odd", 0),
        ("odd", multiply, 0),
    }
    assert arch["outputs"] == [{"layer": multiply, "output_index": 0}]
    assert [ns["id"] for ns in arch["namespaces"]] == ["enc"]
    assert "1 model variables belong to no layer: wrapper/gain" in arch["model"]["notes"]
    odd = by_id(arch)["odd"]
    assert odd["config"] == {}
    assert any(n.startswith("odd: could not read config") for n in arch["model"]["notes"])
    # the model's own 3-vector counts although no layer holds it
    assert arch["params"] == {"trainable": (4 * 3 + 3) + 3, "non_trainable": 0}
    assert sum(arch["params"].values()) == model.count_params()


def test_functional_subclass_with_train_step():
    model = VAE()
    arch = extract_architecture(model)
    check_common(arch, model)

    assert arch["model"] == {"name": "vae", "class": "VAE", "functional": True, "notes": []}
    assert edge_set(arch) == {("v_in", "z", 0), ("z", "recon", 0)}
    assert arch["outputs"] == [{"layer": "recon", "output_index": 0}]
    params = (6 * 2 + 2) + (2 * 6 + 6)
    assert arch["params"] == {"trainable": params, "non_trainable": 0}
    assert by_id(arch)["recon"]["config"]["activation"] == "sigmoid"


def test_unbuilt_sequential_is_a_chain():
    model = keras.Sequential([layers.Dense(4, name="c1"), layers.Dense(2, name="c2")], name="lazy")
    arch = extract_architecture(model)
    check_common(arch, model)

    assert [layer["id"] for layer in arch["layers"]] == ["c1", "c2"]
    assert edge_set(arch) == {("c1", "c2", 0)}
    assert arch["model"]["functional"] is False
    assert any("not built" in note for note in arch["model"]["notes"])
    assert arch["params"] == {"trainable": 0, "non_trainable": 0}
    assert by_id(arch)["c1"]["variables"] == []


def test_recurrent_and_embedding_layers():
    tokens = keras.Input((5,), name="tokens")
    x = layers.Embedding(20, 3, name="emb")(tokens)
    x = layers.Bidirectional(layers.LSTM(2), name="bi")(x)
    model = keras.Model(tokens, x)
    arch = extract_architecture(model)
    check_common(arch, model)
    layers_ = by_id(arch)

    assert inner_ops(layers_["emb"]) == ["gather"]
    assert ("var:embeddings", "gather") in inner_edges(layers_["emb"])
    bi = layers_["bi"]
    # an LSTM cell each way (its three gates, candidate and output tanh), merged by concatenation
    assert inner_ops(bi).count("gate") == 6 and inner_ops(bi)[-1] == "concatenate"
    bi_layer = model.get_layer("bi")
    names = layer_variable_names(bi_layer)
    assert len(names) == 6 and len(set(names)) == 6
    assert [v["name"] for v in bi["variables"]] == names
    variable_nodes = [n for n in bi["inner"]["nodes"] if n["kind"] == "variable"]
    assert len(variable_nodes) == 6
    # LSTM: 4 gates * (input 3 + recurrent 2 + bias) * 2 units, two directions
    lstm = 4 * 2 * (3 + 2 + 1)
    assert bi["params"] == {"trainable": 2 * lstm, "non_trainable": 0}
    assert layers_["bi"]["output_shapes"] == [[None, 4]]


def test_layer_h5_name():
    assert layer_h5_name("encoder/dense_1") == "encoder:dense_1"
    assert layer_h5_name("dense_1") == "dense_1"


def test_layer_shared_between_two_models_uses_only_own_calls():
    d = layers.Dense(2, name="dd")
    a = keras.Input((3,), name="first_in")
    keras.Model(a, d(a), name="first")
    b = keras.Input((3,), name="second_in")
    second = keras.Model(b, layers.Dense(1, name="tail")(d(b)), name="second")
    arch = extract_architecture(second)
    check_common(arch, second)

    assert by_id(arch)["dd"]["calls"] == 1
    assert edge_set(arch) == {("second_in", "dd", 0), ("dd", "tail", 0)}
    assert arch["model"]["notes"] == []


def test_wrapped_layer_variables_counted_once():
    # TimeDistributed holds `dense`, which is also used on its own.
    dense = layers.Dense(3, name="inner_dense")
    seq = keras.Input((4, 2), name="seq")
    vec = keras.Input((2,), name="vec")
    td = layers.TimeDistributed(dense, name="td")(seq)
    model = keras.Model([seq, vec], [td, dense(vec)])
    arch = extract_architecture(model)
    check_common(arch, model)

    assert by_id(arch)["td"]["params"] == {"trainable": 2 * 3 + 3, "non_trainable": 0}
    assert by_id(arch)["inner_dense"]["params"] == {"trainable": 2 * 3 + 3, "non_trainable": 0}
    assert arch["params"] == {"trainable": 2 * 3 + 3, "non_trainable": 0}
    assert model.count_params() == 2 * 3 + 3
