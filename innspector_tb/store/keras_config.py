"""The graph of a plain run: the model config Keras' own TensorBoard callback logs (the `keras` summary of
the `graph_keras_model` plugin, `model.to_json()`), read as data into an architecture of our format
(docs/format.md), so a plain run opens like one of ours and its variables take tools.

Nothing in the config is executed or imported: layer classes are names, their configs plain values. What
the config does not say is left out: output shapes (none are logged), variables' shapes (the variables are
named from the layer class and its flags: Dense and convolutions a kernel and a bias when use_bias, ...).
"""

from __future__ import annotations

from typing import Any

from innspector_tb.format import inner_ops, log_checks

KERAS_CONFIG_TAG = "keras"
KERAS_CONFIG_PLUGIN = "graph_keras_model"
# Keras' TensorBoard callback names a weight's histogram "<model>/<layer>/<variable>/histogram".
HISTOGRAM_SUFFIX = "/histogram"
MAX_LAYERS = 10_000


def _variables(class_name: str, config: dict[str, Any]) -> list[str]:
    """The weights a layer of this class has, by Keras' names, from its config's flags."""
    use_bias = config.get("use_bias", True) is not False
    if class_name in ("Dense", "EinsumDense") or class_name.startswith(("Conv", "DepthwiseConv", "SeparableConv")):
        if class_name.startswith("DepthwiseConv"):
            names = ["kernel"]
        elif class_name.startswith("SeparableConv"):
            names = ["depthwise_kernel", "pointwise_kernel"]
        elif class_name.startswith("ConvLSTM"):
            names = ["kernel", "recurrent_kernel"]
        else:
            names = ["kernel"]
        return names + (["bias"] if use_bias else [])
    if class_name in ("BatchNormalization",):
        return (
            (["gamma"] if config.get("scale", True) is not False else [])
            + (["beta"] if config.get("center", True) is not False else [])
            + ["moving_mean", "moving_variance"]
        )
    if class_name in ("LayerNormalization", "GroupNormalization"):
        return (["gamma"] if config.get("scale", True) is not False else []) + (
            ["beta"] if config.get("center", True) is not False else []
        )
    if class_name == "Embedding":
        return ["embeddings"]
    if class_name in ("LSTM", "GRU", "SimpleRNN"):
        return ["kernel", "recurrent_kernel"] + (["bias"] if use_bias else [])
    return []


def _history_sources(value: Any, depth: int = 0) -> list[str]:
    """The layer names of the `keras_history` entries in a functional layer's inbound nodes."""
    if depth > 20:
        return []
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            return [str(history[0])] if isinstance(history, list) and history else []
        return [name for v in value.values() for name in _history_sources(v, depth + 1)]
    if isinstance(value, list):
        return [name for v in value for name in _history_sources(v, depth + 1)]
    return []


def architecture_from_keras_config(model_config: Any) -> dict[str, Any]:
    """Our architecture (checked by format/log_checks) of a Keras model config; ValueError when it is not
    a Sequential or Functional model's config."""
    if not isinstance(model_config, dict) or not isinstance(model_config.get("config"), dict):
        raise ValueError("not a Keras model config")
    model_class = str(model_config.get("class_name", ""))
    config = model_config["config"]
    raw_layers = config.get("layers")
    if not isinstance(raw_layers, list) or len(raw_layers) > MAX_LAYERS:
        raise ValueError("the Keras config of %s lists no layers" % model_class)
    layers: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    previous = None
    for raw in raw_layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
            raise ValueError("a layer of the Keras config is not an object")
        class_name = str(raw.get("class_name", "Unknown"))
        layer_config = raw["config"]
        name = str(layer_config.get("name") or "layer_%d" % len(layers))
        variables = _variables(class_name, layer_config)
        is_input = class_name == "InputLayer"
        # Shapes are unknown (the config logs none): [] where the format asks for one.
        layer_object = inner_ops.config_object(class_name, layer_config)
        inner = inner_ops.build_inner_graph(layer_object, [(v, []) for v in variables])
        layers.append(
            {
                "id": name,
                "name": name,
                "namespace": "",
                "type": class_name,
                "module": str(raw.get("module") or ""),
                "custom": not str(raw.get("module") or "").startswith("keras"),
                "config": layer_config,
                "input_shapes": [],
                "output_shapes": [],
                "calls": 1,
                "params": {"trainable": 0, "non_trainable": 0},
                "variables": [{"name": v, "path": "%s/%s" % (name, v), "shape": []} for v in variables],
                "inner": inner,
                "is_input": is_input,
            }
        )
        if model_class == "Sequential":
            if previous is not None:
                edges.append({"from": previous, "to": name, "from_output": 0, "to_input": 0, "call": 0, "shape": []})
            previous = name
        else:
            for index, source in enumerate(_history_sources(raw.get("inbound_nodes") or [])):
                edges.append({"from": source, "to": name, "from_output": 0, "to_input": index, "call": 0, "shape": []})
    known = {layer["id"] for layer in layers}
    edges = [e for e in edges if e["from"] in known]
    sources = {e["from"] for e in edges}
    outputs = [{"layer": layer["id"], "output_index": 0} for layer in layers if layer["id"] not in sources]
    architecture = {
        "format_version": 1,
        "model": {
            "name": str(config.get("name", "")),
            "class": model_class,
            "functional": model_class != "Sequential",
            "notes": ["read from the model config Keras' TensorBoard callback logged: no shapes or sizes"],
        },
        "inputs": [layer["id"] for layer in layers if layer["is_input"]],
        "outputs": outputs,
        "layers": layers,
        "edges": edges,
        "namespaces": [],
        "params": {"trainable": 0, "non_trainable": 0},
    }
    return log_checks.check_architecture(architecture)


def histogram_tag(model_name: str, unit: str) -> str:
    """The tag of a variable's histogram in a Keras callback's run: unit "dense/kernel" of model
    "sequential" is "sequential/dense/kernel/histogram"."""
    return "%s/%s%s" % (model_name, unit, HISTOGRAM_SUFFIX)


def read_keras_architecture(data_provider: Any, ctx: Any, experiment_id: str, runs: list[str]) -> dict[str, Any] | None:
    """The architecture of the first of `runs` whose `keras` summary holds a readable Keras model config,
    or None (no config logged: Keras' callback with write_graph=False, or not Keras at all)."""
    from tensorboard.data import provider as provider_lib

    from innspector_tb.format import strict_json

    listing = data_provider.list_blob_sequences(
        ctx,
        experiment_id=experiment_id,
        plugin_name=KERAS_CONFIG_PLUGIN,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=[KERAS_CONFIG_TAG]),
    )
    for run in runs:
        if KERAS_CONFIG_TAG not in listing.get(run, {}):
            continue
        sequences = data_provider.read_blob_sequences(
            ctx,
            experiment_id=experiment_id,
            plugin_name=KERAS_CONFIG_PLUGIN,
            downsample=1,
            run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=[KERAS_CONFIG_TAG]),
        )
        points = sequences.get(run, {}).get(KERAS_CONFIG_TAG, [])
        if not points or not points[-1].values:
            continue
        try:
            raw = data_provider.read_blob(ctx, blob_key=points[-1].values[0].blob_key)
            return architecture_from_keras_config(strict_json.loads(raw.decode("utf-8")))
        except (ValueError, TypeError, UnicodeDecodeError):  # not a model config we can read: no graph
            continue
    return None
