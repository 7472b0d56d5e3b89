"""Subclassed models and custom layers read through their traced functional view (capture/tracing.py).

The keras.io VAE and transformer text classifier (tests/support/keras_io_models.py, the examples' model
code) are trained briefly with the callback and read back through TensorBoard's app and our routes: the
graph's data flow and namespaces, and the inner layers' activations against a forward pass computed here
with the layer objects themselves. A subclassed model with data-dependent Python control flow falls back
with a note.
"""

import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from innspector_tb.capture.activations import layer_activations
from innspector_tb.capture.architecture import extract_architecture, iter_leaf_layers
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import rounding, step_files
from tests.support import keras_io_models as kio
from tests.support.backend_app import Client

# Step files keep float32 rounded to 10 mantissa bits (samples.h5 exactly).
STORED_RTOL = rounding.relative_error_bound(step_files.MANTISSA_BITS) + 1e-5
EPOCHS = 2
PROBE = 32


class BranchingModel(keras.Model):
    """A subclassed model whose call branches on a tensor's value, written with a TensorFlow op."""

    def __init__(self):
        super().__init__(name="branching")
        self.hidden = layers.Dense(8, activation="relu", name="hidden")
        self.head = layers.Dense(2, activation="softmax", name="head")

    def call(self, x):
        if tf.reduce_sum(x) > 0:
            x = x * 2.0
        return self.head(self.hidden(x))


class Inner(layers.Layer):
    """A custom layer inside a custom layer."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.LayerNormalization(name="norm")
        self.proj = layers.Dense(units, name="proj")

    def call(self, x):
        return self.proj(self.norm(x))


class Residual(layers.Layer):
    """A sub-layer called twice, a residual sum, a nested custom layer."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units, activation="tanh", name="twice")
        self.inner = Inner(units, name="inner")

    def call(self, x):
        return self.inner(self.dense(self.dense(x)) + x)


class Gated(layers.Layer):
    """A custom layer with a sub-layer and a variable of its own: kept whole."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(4, name="gated_dense")

    def build(self, input_shape):
        self.gate = self.add_weight(shape=(4,), initializer="ones", name="gate")

    def call(self, x):
        return self.dense(x) * self.gate


class Head(keras.Model):
    """A subclassed model called inside a functional model."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(3, activation="relu", name="head_hidden")
        self.out = layers.Dense(2, name="head_out")

    def call(self, x):
        return self.out(self.hidden(x))


def shared_block_model():
    x = keras.Input((4,), name="x")
    block = Residual(4, name="block")
    h = block(block(x))  # the custom layer shared: called twice
    g = Gated(name="gated")(h)
    return keras.Model(x, Head(name="head")(g), name="shared_block")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("traced"))
    return logdir, kio.train(logdir, epochs=EPOCHS, probe=PROBE)


@pytest.fixture(scope="module")
def client(trained):
    return Client(trained[0])


def _ok(client, route, body=None, **params):
    status, answer = client.post(route, body) if body is not None else client.get(route, **params)
    assert status == 200, answer
    return answer


def _activations(client, run, layer):
    body = {"run": run, "unit": {"kind": "activations", "layer": layer}, "steps": "last"}
    value = _ok(client, "/data", body)["result"]["value"]
    return np.asarray(value["data"], dtype=np.float32).reshape(value["shape"])


def _probe_x(logdir, run):
    with step_files.open_file(os.path.join(logdir, run, step_files.SAMPLES_FILE)) as f:
        return f["data_samples/x"][()]


def _edges(arch):
    return {(e["from"], e["to"], e["to_input"]) for e in arch["edges"]}


def _reachable(arch, start):
    reached, frontier = {start}, [start]
    while frontier:
        here = frontier.pop()
        for e in arch["edges"]:
            if e["from"] == here and e["to"] not in reached:
                reached.add(e["to"])
                frontier.append(e["to"])
    return reached


def _close(logged, expected):
    np.testing.assert_allclose(logged, np.asarray(expected), rtol=STORED_RTOL, atol=1e-5)


# ------------------------------------------------------------------ depth, sharing, several calls


def test_nested_shared_and_repeated_custom_layers():
    model = shared_block_model()
    arch = extract_architecture(model)
    by_id = {layer["id"]: layer for layer in arch["layers"]}
    spaces = {ns["id"]: (ns["type"], ns["parent"], ns.get("traced")) for ns in arch["namespaces"]}
    assert spaces == {
        "block": ("Residual", "", True),
        "block/inner": ("Inner", "block", True),
        "head": ("Head", "", True),
    }
    (add,) = [lid for lid, layer in by_id.items() if layer["module"] == "keras.ops"]
    assert add.startswith("block/")
    edges = _edges(arch)
    assert {
        ("x", "block/input", 0),
        ("block/inner/proj", "block/input", 0),  # the block's second call takes its first call's output
        ("block/input", "block/twice", 0),
        ("block/twice", "block/twice", 0),  # the sub-layer's second call takes its first call's output
        ("block/twice", add, 0),
        ("block/input", add, 1),
        (add, "block/inner/input", 0),
        ("block/inner/input", "block/inner/norm", 0),
        ("block/inner/norm", "block/inner/proj", 0),
        ("block/inner/proj", "gated", 0),
        ("gated", "head/input", 0),
        ("head/input", "head/head_hidden", 0),
        ("head/head_hidden", "head/head_out", 0),
    } == edges
    assert by_id["block/input"]["calls"] == 2 and by_id["block/twice"]["calls"] == 2
    assert arch["outputs"] == [{"layer": "head/head_out", "output_index": 0}]
    # The layer with a variable of its own stays one layer, with all its variables and a note.
    assert [v["name"] for v in by_id["gated"]["variables"]] == ["gate", "kernel", "bias"]
    assert any(
        n.startswith("custom layer 'gated' (Gated) is shown as one layer: it holds variables of its own")
        for n in arch["model"]["notes"]
    )
    assert sum(arch["params"].values()) == model.count_params()
    assert [lid for lid, _ in iter_leaf_layers(model)] == [
        "block/twice",
        "block/inner/norm",
        "block/inner/proj",
        "gated",
        "head/head_hidden",
        "head/head_out",
    ]


def test_activations_of_traced_layers_match_their_own_layers():
    model = shared_block_model()
    block, gated, head = model.get_layer("block"), model.get_layer("gated"), model.get_layer("head")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    acts = {lid: outputs[0] for lid, outputs in layer_activations(model, x).items()}
    # First call of each layer, computed with the layer objects.
    first = block.dense(x)
    second = block.dense(first)
    normed = block.inner.norm(second + x)
    projected = block.inner.proj(normed)
    np.testing.assert_allclose(acts["block/twice"], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["block/inner/norm"], normed, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["block/inner/proj"], projected, rtol=1e-5, atol=1e-6)
    hidden = head.hidden(gated(block(block(x))))
    np.testing.assert_allclose(acts["head/head_hidden"], hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["head/head_out"], model(x), rtol=1e-5, atol=1e-6)
    assert "block" not in acts and "gated" in acts


def test_a_custom_layer_fed_a_mask_stays_whole():
    # Keras hands the embedding's mask on inside the layer's call; a traced view would drop it.
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    embedded = layers.Embedding(10, 4, mask_zero=True, name="emb")(tokens)
    hidden = Inner(4, name="masked")(embedded)
    model = keras.Model(tokens, layers.GlobalAveragePooling1D(name="pool")(hidden))
    arch = extract_architecture(model)
    assert arch["namespaces"] == [] and "masked" in {layer["id"] for layer in arch["layers"]}
    assert "custom layer 'masked' (Inner) is shown as one layer: its inputs carry a Keras mask" in " ".join(
        arch["model"]["notes"]
    )


# ------------------------------------------------------------------ the VAE


@pytest.mark.slow
def test_vae_graph_connects_encoder_sampling_decoder(client, trained):
    arch = _ok(client, "/graph", run="vae")["architecture"]
    assert arch["model"]["class"] == "VAE"
    assert arch["model"]["functional"] is True and arch["model"]["traced"] is True
    spaces = {ns["id"]: ns for ns in arch["namespaces"]}
    assert set(spaces) == {"encoder", "decoder"} and spaces["encoder"]["parent"] == ""

    by_id = {layer["id"]: layer for layer in arch["layers"]}
    (sampling,) = [lid for lid, layer in by_id.items() if layer["type"] == "Sampling"]
    (decoder_input,) = [lid for lid, layer in by_id.items() if layer["namespace"] == "decoder" and layer["is_input"]]
    (encoder_input,) = [lid for lid, layer in by_id.items() if layer["namespace"] == "encoder" and layer["is_input"]]
    assert sampling.startswith("encoder/")
    edges = _edges(arch)
    assert (arch["inputs"][0], encoder_input, 0) in edges
    assert {("encoder/z_mean", sampling, 0), ("encoder/z_log_var", sampling, 1), (sampling, decoder_input, 0)} <= edges
    (output,) = arch["outputs"]
    assert by_id[output["layer"]]["namespace"] == "decoder"
    assert output["layer"] in _reachable(arch, arch["inputs"][0])
    assert sum(arch["params"].values()) == trained[1]["vae"].count_params()
    assert not [n for n in arch["model"]["notes"] if "trace" in n]


@pytest.mark.slow
def test_vae_latent_activations_are_on_the_probe(client, trained):
    logdir, models = trained
    encoder = models["vae"].encoder
    x = _probe_x(logdir, "vae")
    z_mean, z_log_var, _ = encoder(x, training=False)
    _close(_activations(client, "vae", "encoder/z_mean"), z_mean)
    _close(_activations(client, "vae", "encoder/z_log_var"), z_log_var)
    # The decoder's layers have activations too: the traced view runs encoder -> sampling -> decoder.
    arch = _ok(client, "/graph", run="vae")["architecture"]
    last = arch["outputs"][0]["layer"]
    assert _activations(client, "vae", last).shape == (len(x), 28, 28, 1)


# ------------------------------------------------------------------ the transformer


def _block(arch):
    (block,) = [ns for ns in arch["namespaces"] if ns["type"] == "TransformerBlock"]
    return block


@pytest.mark.slow
def test_transformer_block_opens_as_a_namespace(client):
    arch = _ok(client, "/graph", run="transformer")["architecture"]
    block = _block(arch)
    assert block["parent"] == "" and block["traced"] is True and block["functional"] is True
    by_id = {layer["id"]: layer for layer in arch["layers"]}
    inside = {lid: by_id[lid]["type"] for lid in block["layers"]}
    assert sorted(t for t in inside.values() if t not in ("InputLayer", "Add")) == [
        "Dropout",
        "Dropout",
        "LayerNormalization",
        "LayerNormalization",
        "MultiHeadAttention",
    ]
    (ffn,) = [ns for ns in arch["namespaces"] if ns["parent"] == block["id"]]
    assert ffn["type"] == "Sequential"
    assert [by_id[lid]["type"] for lid in ffn["layers"] if not by_id[lid]["is_input"]] == ["Dense", "Dense"]

    (attention,) = [lid for lid, t in inside.items() if t == "MultiHeadAttention"]
    (block_input,) = block["inputs"]
    (block_output,) = block["outputs"]
    edges = _edges(arch)
    assert {(block_input, attention, 0), (block_input, attention, 1)} <= edges  # query and value
    norms = sorted(lid for lid, t in inside.items() if t == "LayerNormalization")
    assert block_output in norms
    dense = [lid for lid in ffn["layers"] if by_id[lid]["type"] == "Dense"]
    assert {attention, *norms, *dense} <= _reachable(arch, block_input)
    # The embedding feeds the block; the block's last normalisation feeds the pooling.
    (embedding,) = [lid for lid, layer in by_id.items() if layer["type"] == "TokenAndPositionEmbedding"]
    (pooling,) = [lid for lid, layer in by_id.items() if layer["type"] == "GlobalAveragePooling1D"]
    assert (embedding, block_input, 0) in edges and (block_output, pooling, 0) in edges
    # TokenAndPositionEmbedding calls its position embedding on constants: it stays whole, with a note.
    notes = [n for n in arch["model"]["notes"] if n.startswith("custom layer '%s'" % embedding)]
    assert len(notes) == 1 and "not called on the data flow of its inputs" in notes[0]
    assert by_id[embedding]["variables"] and by_id[embedding]["custom"] is True


@pytest.mark.slow
def test_transformer_block_sub_layers_have_activations_and_weights(client, trained):
    logdir, models = trained
    classifier = models["transformer"]
    embedding_layer, block = classifier.layers[1], classifier.layers[2]
    arch = _ok(client, "/graph", run="transformer")["architecture"]
    ns = _block(arch)
    by_type = {}
    for lid in ns["layers"]:
        by_type.setdefault(next(layer["type"] for layer in arch["layers"] if layer["id"] == lid), []).append(lid)
    ffn = next(n for n in arch["namespaces"] if n["parent"] == ns["id"])
    dense_ids = [lid for lid in ffn["layers"] if not lid.split("/")[-1].startswith("input")]

    # The block's inside computed here with its own layer objects, in inference mode.
    x = _probe_x(logdir, "transformer")
    embedded = embedding_layer(x)
    attended = block.att(embedded, embedded)
    out1 = block.layernorm1(embedded + attended)
    hidden = block.ffn.layers[0](out1)
    out2 = block.layernorm2(out1 + block.ffn.layers[1](hidden))
    _close(_activations(client, "transformer", by_type["MultiHeadAttention"][0]), attended)
    last_norm = ns["outputs"][0]
    (first_norm,) = [lid for lid in by_type["LayerNormalization"] if lid != last_norm]
    _close(_activations(client, "transformer", first_norm), out1)
    _close(_activations(client, "transformer", last_norm), out2)
    _close(_activations(client, "transformer", dense_ids[0]), hidden)

    # The attention's weights are logged under its id, like any layer's.
    mha = next(layer for layer in arch["layers"] if layer["id"] == by_type["MultiHeadAttention"][0])
    variable = mha["variables"][0]
    body = {"run": "transformer", "unit": {"kind": "weights", "layer": mha["id"], "variable": variable["name"]}}
    value = _ok(client, "/data", {**body, "steps": "last"})["result"]["value"]
    logged = np.asarray(value["data"], dtype=np.float32).reshape(value["shape"])
    _close(logged, block.att.weights[0].numpy())


@pytest.mark.slow
def test_attention_scores_and_entropy_are_served(client, trained):
    """The probe pass asks the attention layer inside the traced block for its scores: a sample's scores,
    a class's mean and each head's entropy, against the layer object called here on the same inputs."""
    logdir, models = trained
    classifier = models["transformer"]
    embedding_layer, block = classifier.layers[1], classifier.layers[2]
    x = _probe_x(logdir, "transformer")
    embedded = embedding_layer(x)
    _, scores = block.att(embedded, embedded, return_attention_scores=True)
    scores = np.asarray(scores)  # [probe, heads, queries, keys]
    assert np.allclose(scores.sum(-1), 1.0, atol=1e-4)
    arch = _ok(client, "/graph", run="transformer")["architecture"]
    (layer,) = [lay["id"] for lay in arch["layers"] if lay["type"] == "MultiHeadAttention"]

    def data(unit):
        return _ok(client, "/data", {"run": "transformer", "unit": {"layer": layer, **unit}})

    one = data({"kind": "attention", "sample": 5})
    assert one["sample"] == 5
    value = one["result"]["value"]
    _close(np.asarray(value["data"], dtype=np.float32).reshape(value["shape"]), scores[5])

    labels = np.asarray(
        _ok(client, "/data", {"run": "transformer", "unit": {"kind": "labels"}})["result"]["value"]["data"]
    )
    mean = data({"kind": "attention", "class": 1})["result"]["value"]
    _close(np.asarray(mean["data"], dtype=np.float32).reshape(mean["shape"]), scores[labels == 1].mean(0))

    p = np.clip(scores, 1e-12, 1.0)
    expected = (-(scores * np.log(p)).sum(-1)).mean(-1) / np.log(scores.shape[-1])  # [probe, heads]
    entropy = data({"kind": "attention_entropy"})["result"]["value"]
    _close(np.asarray(entropy["data"], dtype=np.float32).reshape(entropy["shape"]), expected)
    assert ((expected > 0) & (expected <= 1.0 + 1e-6)).all()
    # the interestingness measure reads the same entropies: the lowest head's mean over the probe
    measure = _ok(client, "/interestingness", measure="attention_entropy", runs="transformer")
    (unit,) = measure["units"]
    per_head = unit["detail"]["per_head"]
    assert unit["layer"] == layer and per_head == pytest.approx(expected.mean(0), rel=STORED_RTOL, abs=1e-5)
    # near-uniform heads tie once rounded for storage: the lowest is the lowest of the stored values
    assert unit["detail"]["lowest_head"] == int(np.argmin(per_head)) and unit["raw"] == min(per_head)

    # a probe row the step keeps no scores of, and a layer that is no attention layer, are named
    status, answer = client.post(
        "/data", {"run": "transformer", "unit": {"kind": "attention", "layer": layer, "sample": 10**6}}
    )
    assert status == 404 and "probe sample 1000000 has no attention scores" in answer["error"]
    norm = next(lay["id"] for lay in arch["layers"] if lay["type"] == "LayerNormalization")
    status, answer = client.post("/data", {"run": "transformer", "unit": {"kind": "attention", "layer": norm}})
    assert status == 404 and "not an attention layer" in answer["error"]


@pytest.mark.slow
def test_token_attributions_are_served(client, trained):
    """The published model takes its token ids as float32; the maps go through its token Embedding
    (inside the custom TokenAndPositionEmbedding), the position embedding left as it is."""
    logdir, models = trained
    classifier = models["transformer"]
    (entry,) = [m for m in _ok(client, "/models")["models"] if m["run"] == "transformer"]
    assert entry["attributions"]["methods"] == ["integrated_gradients", "gradient_x_embedding"]
    body = {"run": "transformer", "unit": {"kind": "attributions", "method": "gradient_x_embedding"}}
    answer = _ok(client, "/data", {**body, "steps": "last"})
    value = answer["result"]["value"]
    served = np.asarray(value["data"], dtype=np.float32).reshape(value["shape"])
    sample = np.asarray(answer["result"]["sample"]["data"])
    target = np.asarray(answer["result"]["target"]["data"])
    tokens = _probe_x(logdir, "transformer")[sample]
    assert served.shape == tokens.shape  # one value per token
    # The same with the layer objects: d logit / d token embedding, the rest of the model as it is.
    embedding = classifier.layers[1]
    token_embedded = embedding.token_emb(tokens)
    positions = embedding.pos_emb(np.arange(tokens.shape[1]))
    with tf.GradientTape() as tape:
        tape.watch(token_embedded)
        h = token_embedded + positions
        for layer in classifier.layers[2:-1]:
            h = layer(h, training=False)
        last = classifier.layers[-1]
        logits = tf.matmul(h, last.kernel) + last.bias
        picked = tf.reduce_sum(tf.gather(logits, target[:, None], batch_dims=1))
    expected = np.asarray(tf.reduce_sum(token_embedded * tape.gradient(picked, token_embedded), axis=-1))
    np.testing.assert_allclose(served, expected, rtol=STORED_RTOL, atol=1e-4 * np.abs(expected).max())
    assert np.abs(expected).max() > 0


@pytest.mark.slow
@pytest.mark.parametrize("run", ["vae", "transformer"])
def test_no_error_level_lint(client, run):
    findings = _ok(client, "/lint", run=run)["findings"]
    assert [f for f in findings if f["severity"] == "error"] == []


# ------------------------------------------------------------------ what cannot be traced


@pytest.mark.slow
def test_data_dependent_control_flow_degrades_with_a_note(tmp_path, caplog):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = BranchingModel()
    # A Python `if` on a tensor also needs eager training (no graph of fit's train step either).
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    callback = InnspectorCallback(str(tmp_path / "branching"), probe=(x[:PROBE], y[:PROBE]))
    with caplog.at_level(logging.WARNING, logger="innspector_tb"):
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callback])
    logged = [r.getMessage() for r in caplog.records if "could not be traced" in r.getMessage()]
    assert len(logged) == 1 and "KerasTensor cannot be used as input to a TensorFlow function" in logged[0]
    assert not [r for r in caplog.records if "failed and was skipped" in r.getMessage()]

    client = Client(str(tmp_path))
    arch = _ok(client, "/graph", run="branching")["architecture"]
    assert arch["model"]["functional"] is False and "traced" not in arch["model"]
    assert logged[0] in arch["model"]["notes"]
    assert [layer["id"] for layer in arch["layers"]] == ["hidden", "head"] and arch["edges"] == []
    # Weights and predictions are still logged.
    body = {"run": "branching", "unit": {"kind": "weights", "layer": "head", "variable": "kernel"}, "steps": "last"}
    value = _ok(client, "/data", body)["result"]["value"]
    _close(np.asarray(value["data"], dtype=np.float32).reshape(value["shape"]), model.head.kernel.numpy())
