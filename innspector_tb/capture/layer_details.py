"""What the architecture JSON says of one Keras layer, read from the layer object without calling it:
the shapes of a call, parameter counts, the whitelisted JSON-safe config, its variables' initializers
and the module it is public in. `architecture.py` assembles these into the architecture (format
version 1).
"""

import math

import keras

from innspector_tb.format.inner_ops import activation_name

# get_config() keys worth showing; everything else (names, dtype policies,
# regularizers, ...) is noise for the debugger.
CONFIG_KEYS = (
    "units",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "output_padding",
    "activation",
    "recurrent_activation",
    "use_bias",
    "rate",
    "noise_shape",
    "stddev",
    "pool_size",
    "axis",
    "momentum",
    "epsilon",
    "center",
    "scale",
    "groups",
    "target_shape",
    "dims",
    "n",
    "size",
    "interpolation",
    "cropping",
    "data_format",
    "dilation_rate",
    "depth_multiplier",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "dropout",
    "recurrent_dropout",
    "merge_mode",
    "input_dim",
    "output_dim",
    "mask_zero",
    "equation",
    "output_shape",
    "bias_axes",
    "num_heads",
    "key_dim",
    "value_dim",
    "negative_slope",
    "max_value",
    "threshold",
    "alpha",
    "shared_axes",
    "keepdims",
    "batch_shape",
    "trainable",
)

# Variable name -> layer attribute holding its initializer, where the
# generic "<name>_initializer" rule does not apply.
_INITIALIZER_ATTRS = {
    "recurrent_kernel": "recurrent_initializer",
    "depthwise_kernel": "depthwise_initializer",
    "pointwise_kernel": "pointwise_initializer",
}


def shape_of(tensor):
    shape = getattr(tensor, "shape", None)
    if shape is None:
        return None
    try:
        return [None if d is None else int(d) for d in shape]
    except (TypeError, ValueError):
        return None


def call_shapes(layer, node):
    """(input shapes, output shapes) of a layer's call at `node` (None: its first call anywhere)."""
    if node is None and getattr(layer, "_inbound_nodes", None):
        node = layer._inbound_nodes[0]  # called in some graph outside ours
    if node is None:
        return build_input_shapes(layer), []
    outputs = [shape_of(t) for t in node.outputs]
    if isinstance(layer, keras.layers.InputLayer):
        return outputs, outputs  # what it receives is what it passes on
    return [shape_of(t) for t in node.input_tensors], outputs


def build_input_shapes(layer):
    """Input shapes recorded by build() (layers of subclassed models)."""
    recorded = getattr(layer, "_build_shapes_dict", None) or {}
    shapes = []
    for value in recorded.values():
        if isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value):
            shapes.append([None if d is None else int(d) for d in value])
    return shapes


def variable_size(variable):
    return math.prod(int(d) for d in variable.shape)


def param_counts(layers):
    """Trainable/non-trainable scalar counts over `layers`, variables once."""
    counts, seen = {"trainable": 0, "non_trainable": 0}, set()
    for layer in layers:
        for key, weights in (
            ("trainable", getattr(layer, "trainable_weights", [])),
            ("non_trainable", getattr(layer, "non_trainable_weights", [])),
        ):
            for v in weights:
                if id(v) not in seen:
                    seen.add(id(v))
                    counts[key] += variable_size(v)
    return counts


def initializer_of(layer, variable_name):
    """Class name and config of the initializer of a variable, if findable."""
    base = variable_name.rsplit("/", 1)[-1]
    attr = _INITIALIZER_ATTRS.get(base, f"{base}_initializer")
    for owner in (layer, getattr(layer, "cell", None)):
        init = getattr(owner, attr, None) if owner is not None else None
        if init is not None:
            return describe_initializer(init)
    return None


def describe_initializer(init):
    if isinstance(init, str):
        return {"class_name": init, "config": {}}
    if not hasattr(init, "get_config"):
        return {"class_name": getattr(init, "__name__", type(init).__name__), "config": {}}
    try:
        config = json_safe(init.get_config())
    except Exception:
        config = {}
    return {"class_name": type(init).__name__, "config": config}


def config_of(layer):
    """The whitelisted, JSON-safe part of get_config()."""
    raw = layer.get_config() if hasattr(layer, "get_config") else {}
    config = {key: json_safe(raw[key]) for key in CONFIG_KEYS if key in raw}
    if "activation" in raw and not isinstance(raw["activation"], str):
        config["activation"] = activation_name(layer)  # custom callables
    for key, value in raw.items():
        if key.endswith("_initializer") and value is not None:
            config[key] = compact_serialized(value)
    return config


def compact_serialized(value):
    """A serialized Keras object reduced to {"class_name", "config"}."""
    if isinstance(value, dict) and "class_name" in value:
        return {"class_name": str(value["class_name"]), "config": json_safe(value.get("config") or {})}
    return {"class_name": str(value), "config": {}}


def json_safe(value, depth=0):
    if depth > 10:
        return None
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist(), depth + 1)
    return type(value).__name__


def public_module(op):
    """'keras.layers' for Keras' own layers, the real module for others."""
    module = type(op).__module__
    parts = module.split(".")
    if len(parts) > 2 and parts[:2] == ["keras", "src"]:
        return f"keras.{parts[2]}"
    return module
