"""Inner graphs of composite layers (format/inner_ops.py): attention, recurrent cells and wrappers, extracted
from real Keras 3 layers and from their Keras configs; the lint and structure search read them right.

The expected ops and edges are worked out from the layers' definitions (Keras' MultiHeadAttention, LSTM, GRU
and SimpleRNN cells), not copied from the builders' output."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from keras import layers

from innspector_tb.analysis.lint import lint
from innspector_tb.analysis.structures import find_structures
from innspector_tb.capture.architecture import extract_architecture
from innspector_tb.store import keras_config


def _layer(arch, lid):
    return next(layer for layer in arch["layers"] if layer["id"] == lid)


def _ops(inner):
    return [node["op"] for node in inner["nodes"] if node["kind"] == "op"]


def _by_label(inner):
    """Node ids by label; a label used twice maps to every id carrying it."""
    found = {}
    for node in inner["nodes"]:
        found.setdefault(node["label"], []).append(node["id"])
    return found


def _feeds(inner, target):
    """Labels of the nodes with an edge into `target` (a node id)."""
    labels = {node["id"]: node["label"] for node in inner["nodes"]}
    return sorted(labels[src] for src, dst in inner["edges"] if dst == target)


def _single(found, label):
    (node_id,) = found[label]
    return node_id


def _check_dag(inner):
    ids = [node["id"] for node in inner["nodes"]]
    assert len(ids) == len(set(ids))
    succ = {i: [] for i in ids}
    for src, dst in inner["edges"]:
        succ[src].append(dst)
    state = {}

    def visit(node):  # depth-first: a grey node seen again is a cycle
        state[node] = "grey"
        for nxt in succ[node]:
            assert state.get(nxt) != "grey", "cycle through %s" % nxt
            if nxt not in state:
                visit(nxt)
        state[node] = "black"

    for node in ids:
        if node not in state:
            visit(node)


def _transformer_and_recurrent_model():
    tokens = keras.Input((6, 8), name="seq")
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1, name="mha")(tokens, tokens)
    x = layers.Add(name="residual")([tokens, attended])
    x = layers.LayerNormalization(name="norm")(x)
    x = layers.TimeDistributed(layers.Dense(5, activation="relu"), name="per_step")(x)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True), name="bi_gru")(x)
    x = layers.LSTM(4, name="lstm")(x)
    out = layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(tokens, out)


def test_multi_head_attention_shows_projections_scores_softmax_and_output():
    arch = extract_architecture(_transformer_and_recurrent_model())
    inner = _layer(arch, "mha")["inner"]
    _check_dag(inner)
    assert _ops(inner) == [
        "einsum",
        "bias_add",
        "einsum",
        "bias_add",
        "einsum",
        "bias_add",
        "attention_scores",
        "attention_softmax",
        "dropout",
        "attention_sum",
        "einsum",
        "bias_add",
    ]
    found = _by_label(inner)
    scores = _single(found, "q·kᵀ / √d")
    assert _feeds(inner, scores) == ["bias_add", "bias_add"]
    query = _single(found, "query 2x4")
    assert _feeds(inner, query) == ["input 0", "query/kernel"]
    # self-attention: the key and value projections read the second input, which is the same tensor
    assert _feeds(inner, _single(found, "key 2x4")) == ["input 1", "key/kernel"]
    assert _feeds(inner, _single(found, "weights · v")) == ["bias_add", "dropout 0.1"]
    assert _feeds(inner, _single(found, "output projection")) == ["attention_output/kernel", "weights · v"]
    variables = sorted(node["variable"] for node in inner["nodes"] if node["kind"] == "variable")
    assert variables == sorted(v["name"] for v in _layer(arch, "mha")["variables"])
    assert len(variables) == 8


def test_lstm_gru_and_simple_rnn_show_their_gates():
    arch = extract_architecture(_transformer_and_recurrent_model())
    lstm = _layer(arch, "lstm")["inner"]
    _check_dag(lstm)
    gates = [node["label"] for node in lstm["nodes"] if node.get("op") == "gate"]
    assert gates == ["input gate sigmoid", "forget gate sigmoid", "output gate sigmoid"]
    found = _by_label(lstm)
    assert _feeds(lstm, _single(found, "c(t)")) == ["forget · c(t−1)", "input · candidate"]
    assert _feeds(lstm, _single(found, "h(t)")) == ["output gate sigmoid", "tanh"]
    # return_sequences=False: the layer outputs the last step
    assert _ops(lstm)[-1] == "last_step"
    assert {node["variable"] for node in lstm["nodes"] if node["kind"] == "variable"} == {
        "kernel",
        "recurrent_kernel",
        "bias",
    }

    simple = keras.Sequential([keras.Input((4, 2)), layers.SimpleRNN(3, activation="relu", name="rnn")])
    rnn = _layer(extract_architecture(simple), "rnn")["inner"]
    assert _ops(rnn) == ["state", "matmul", "matmul", "add", "bias_add", "activation", "last_step"]
    assert [node.get("activation") for node in rnn["nodes"] if node.get("op") == "activation"] == ["relu"]


def test_bidirectional_runs_a_cell_each_way_and_merges():
    arch = extract_architecture(_transformer_and_recurrent_model())
    layer = _layer(arch, "bi_gru")
    inner = layer["inner"]
    _check_dag(inner)
    gates = [node["label"] for node in inner["nodes"] if node.get("op") == "gate"]
    assert gates == ["update gate sigmoid", "reset gate sigmoid"] * 2
    assert _ops(inner).count("reverse") == 2  # into the backward cell and back (return_sequences=True)
    assert _ops(inner)[-1] == "concatenate"  # merge_mode's default
    # each direction's matmuls read that direction's kernels
    kernels = {}
    for src, dst in inner["edges"]:
        if src.startswith("var:") and src.endswith("/kernel") and "recurrent" not in src:
            kernels[src.split("/")[0].split("_")[0]] = dst  # "var:forward_gru_2/gru_cell/kernel"
    assert sorted(kernels) == ["var:backward", "var:forward"]
    assert kernels["var:forward"] != kernels["var:backward"]
    reverse = _by_label(inner)["reverse time"][0]
    assert (reverse, kernels["var:backward"]) in {tuple(e) for e in inner["edges"]}
    assert len([n for n in inner["nodes"] if n["kind"] == "variable"]) == len(layer["variables"]) == 6


def test_time_distributed_shows_the_wrapped_layer():
    arch = extract_architecture(_transformer_and_recurrent_model())
    inner = _layer(arch, "per_step")["inner"]
    assert _ops(inner) == ["time_steps", "matmul", "bias_add", "activation"]
    assert _feeds(inner, _single(_by_label(inner), "matmul")) == ["each time step", "kernel"]


def test_composite_layers_from_a_keras_config():
    """A plain run logs only the model's config: the builders read the wrapped layer from its config."""
    model = keras.Sequential(
        [
            keras.Input((6, 8)),
            layers.TimeDistributed(layers.Dense(5, activation="relu"), name="per_step"),
            layers.Bidirectional(layers.LSTM(3), merge_mode="sum", name="bi"),
        ]
    )
    arch = keras_config.architecture_from_keras_config({"class_name": "Sequential", "config": model.get_config()})
    per_step = _layer(arch, "per_step")["inner"]
    assert _ops(per_step)[:2] == ["time_steps", "matmul"] and _ops(per_step)[-1] == "activation"
    bi = _layer(arch, "bi")["inner"]
    assert [n["label"] for n in bi["nodes"] if n.get("op") == "gate"] == [
        "input gate sigmoid",
        "forget gate sigmoid",
        "output gate sigmoid",
    ] * 2
    assert _ops(bi)[-1] == "add"


def test_lint_and_structure_search_know_the_composite_layers():
    model = _transformer_and_recurrent_model()
    arch = extract_architecture(model)
    findings = lint(arch, {}, {})
    # the attention softmax and the gates are inside their layers, not activations applied twice
    assert [f for f in findings if f.rule == "double-activation"] == []
    types = find_structures(arch)["unit_types"]
    assert types["op"]["attention_softmax"] == ["mha"]
    assert types["op"]["gate"] == ["bi_gru", "lstm"]
    assert "softmax" in types["activation"] and types["activation"]["softmax"] == ["probs"]
    assert "relu" in types["activation"] and "per_step" in types["activation"]["relu"]

    # TimeDistributed(Dense(relu)) followed by a ReLU is a double activation the lint now sees
    doubled = keras.Sequential(
        [
            keras.Input((6, 8)),
            layers.TimeDistributed(layers.Dense(5, activation="relu"), name="per_step"),
            layers.ReLU(name="again"),
        ]
    )
    found = [f for f in lint(extract_architecture(doubled), {}, {}) if f.rule == "double-activation"]
    assert [f.layer for f in found] == ["again"]
