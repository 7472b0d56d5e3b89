"""Inner operation graphs of single layers (what a layer computes, op by op).

Each builder describes one layer type as a tiny DAG: input nodes, op nodes,
variable nodes feeding the ops that use them, and one output node. Builders
only read attributes of the layer object; they never call it. The registry is
keyed by class name, so keras.ops operations with the same name (e.g. the
``Add`` produced by ``x + y`` on symbolic tensors) share the layer builders.
Anything unknown gets a single generic "call" op with all its variables.
"""

import re

# Variables feeding each stage of normalization layers.
_NORM_STATS = ("moving_mean", "moving_variance", "mean", "variance")
_NORM_SCALE = ("gamma", "scale")
_NORM_SHIFT = ("beta", "offset")


class InnerGraph:
    """Collects nodes and edges, keeping node ids unique within a layer."""

    def __init__(self, variables):
        # variables: list of (unique name, shape) of the layer's weights.
        self.nodes = []
        self.edges = []
        self._shapes = dict(variables)
        self._used = set()
        self.feed = None

    def _node(self, node_id, kind, label, **fields):
        base, n = node_id, 1
        while node_id in {node["id"] for node in self.nodes}:
            n += 1
            node_id = f"{base}_{n}"
        self.nodes.append({"id": node_id, "kind": kind, "label": label, **fields})
        return node_id

    def input(self, index=None):
        label = "input" if index is None else f"input {index}"
        return self._node(label.replace(" ", "_"), "input", label)

    def output(self, source):
        node_id = self._node("output", "output", "output")
        self.edges.append([source, node_id])
        return node_id

    def op(self, op, sources, label=None, variables=(), **fields):
        """Adds an op fed by `sources` (node ids) and the named variables."""
        node_id = self._node(op, "op", label or op, op=op, **fields)
        for source in sources:
            self.edges.append([source, node_id])
        for name in variables:
            self.edges.append([self.variable(name), node_id])
        return node_id

    def variable(self, name):
        self._used.add(name)
        return self._node(f"var:{name}", "variable", name, variable=name, shape=self._shapes.get(name, []))

    def present(self, names):
        """The variables among `names` that the layer really has."""
        return [name for name in names if name in self._shapes]

    def unused_variables(self):
        return [name for name in self._shapes if name not in self._used]

    def as_dict(self):
        return {"nodes": self.nodes, "edges": self.edges}


# ---------------------------------------------------------------- helpers


def snake_case(name):
    """Class name to snake case the way Keras names layers: Conv2DTranspose
    -> conv2d_transpose, GaussianNoise -> gaussian_noise."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def activation_name(layer, default="linear", attribute="activation"):
    """The name of a layer's activation function (for labels); `attribute` names another one, such as a
    recurrent layer's `recurrent_activation`."""
    fn = getattr(layer, attribute, None)
    if fn is None:
        return default
    if isinstance(fn, str):
        return fn
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return snake_case(name) if name[:1].isupper() else name


def _window(value):
    """Kernel/pool size as a label suffix: (3, 3) -> "3x3"."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return str(value)


def _inputs(graph, n_inputs):
    if graph.feed is not None:  # a wrapper (TimeDistributed) feeds the wrapped layer's graph
        return [graph.feed]
    if n_inputs <= 1:
        return [graph.input()]
    return [graph.input(i) for i in range(n_inputs)]


def _with_bias_and_activation(graph, node, layer):
    """The bias_add and activation tail shared by Dense/Conv-like layers."""
    if getattr(layer, "use_bias", True) and graph.present(["bias"]):
        node = graph.op("bias_add", [node], variables=["bias"])
    act = activation_name(layer)
    if act != "linear":
        node = graph.op("activation", [node], label=act, activation=act)
    return node


def _attach_leftovers(graph, node):
    """Variables no stage claimed still show up, attached to the last op."""
    for name in graph.unused_variables():
        graph.edges.append([graph.variable(name), node])


# ---------------------------------------------------------------- builders
# Each builder: (graph, layer, n_inputs) -> id of the node feeding "output".


def _input_layer(graph, layer, n_inputs):
    return None  # an InputLayer is just its input node


def _dense(graph, layer, n_inputs):
    node = graph.op("matmul", _inputs(graph, n_inputs), variables=graph.present(["kernel"]))
    return _with_bias_and_activation(graph, node, layer)


def _einsum_dense(graph, layer, n_inputs):
    label = f"einsum {getattr(layer, 'equation', '')}".strip()
    node = graph.op("einsum", _inputs(graph, n_inputs), label=label, variables=graph.present(["kernel"]))
    return _with_bias_and_activation(graph, node, layer)


def _conv_label(layer, prefix):
    return f"{prefix} {_window(getattr(layer, 'kernel_size', None))}".strip()


def _conv(graph, layer, n_inputs):
    label = _conv_label(layer, snake_case(type(layer).__name__))
    node = graph.op("conv", _inputs(graph, n_inputs), label=label, variables=graph.present(["kernel"]))
    return _with_bias_and_activation(graph, node, layer)


def _depthwise_conv(graph, layer, n_inputs):
    label = _conv_label(layer, "depthwise")
    node = graph.op(
        "depthwise_conv", _inputs(graph, n_inputs), label=label, variables=graph.present(["depthwise_kernel", "kernel"])
    )
    return _with_bias_and_activation(graph, node, layer)


def _separable_conv(graph, layer, n_inputs):
    label = _conv_label(layer, "depthwise")
    node = graph.op(
        "depthwise_conv", _inputs(graph, n_inputs), label=label, variables=graph.present(["depthwise_kernel"])
    )
    node = graph.op("conv", [node], label="pointwise 1x1", variables=graph.present(["pointwise_kernel"]))
    return _with_bias_and_activation(graph, node, layer)


def _normalization(graph, layer, n_inputs):
    node = graph.op("normalize", _inputs(graph, n_inputs), label="normalize", variables=graph.present(_NORM_STATS))
    scale = graph.present(_NORM_SCALE)
    if scale:
        node = graph.op("scale", [node], variables=scale)
    shift = graph.present(_NORM_SHIFT)
    if shift:
        node = graph.op("shift", [node], variables=shift)
    return node


def _pool(op, prefix):
    def build(graph, layer, n_inputs):
        label = f"{prefix} {_window(getattr(layer, 'pool_size', None))}".strip()
        return graph.op(op, _inputs(graph, n_inputs), label=label)

    return build


def _simple(op, label=None):
    """A layer that is exactly one op without variables."""

    def build(graph, layer, n_inputs):
        return graph.op(op, _inputs(graph, n_inputs), label=label or op)

    return build


def _activation(default):
    def build(graph, layer, n_inputs):
        act = activation_name(layer, default)
        if act == "linear":
            return graph.op("identity", _inputs(graph, n_inputs), label="linear")
        return graph.op(
            "activation", _inputs(graph, n_inputs), label=act, activation=act, variables=graph.present(["alpha"])
        )

    return build


def _dropout(graph, layer, n_inputs):
    label = snake_case(type(layer).__name__)
    rate = getattr(layer, "rate", None)
    if isinstance(rate, (int, float)):
        label = f"{label} {rate:g}"
    return graph.op("dropout", _inputs(graph, n_inputs), label=label)


def _embedding(graph, layer, n_inputs):
    return graph.op("gather", _inputs(graph, n_inputs), label="gather", variables=graph.present(["embeddings"]))


def _recurrent(graph, layer, n_inputs):
    """Recurrent layers without a cell graph below (ConvLSTM, a plain RNN of a custom cell): one op."""
    label = snake_case(type(layer).__name__)
    # A recurrent op reads all its weights; attach them all (in order).
    node = graph.op("recurrent", _inputs(graph, n_inputs), label=label, variables=list(graph.unused_variables()))
    return node


# ---------------------------------------------------------------- composite layers
# Layers that are small graphs themselves: attention, recurrent cells and wrappers. Their inner graph shows
# the steps of the computation; ops that are internal to them (the attention softmax, the gates) get op names
# of their own, so that the lint and structure search never take them for the layer's output activation.


def config_object(class_name, config):
    """An object of a class named like a layer, its config's values as attributes: what the builders read of
    a layer logged only as a Keras config. A name and plain values, nothing imported."""
    # Plain names only: "__init__" or "__class__" from a crafted config would change how the object behaves.
    attributes = {str(k): v for k, v in config.items() if str(k).isidentifier() and not str(k).startswith("_")}
    return type(str(class_name), (), attributes)()


def _wrapped(value):
    """A wrapper's inner layer: the layer object, or (from a Keras config) a config object of it."""
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        return config_object(value.get("class_name", "Unknown"), value["config"])
    return value


def _projection(graph, source, label, prefix):
    node = graph.op("einsum", [source], label=label, variables=graph.present([f"{prefix}/kernel"]))
    if graph.present([f"{prefix}/bias"]):
        node = graph.op("bias_add", [node], variables=[f"{prefix}/bias"])
    return node


def _multi_head_attention(graph, layer, n_inputs):
    """Query/key/value projections, scaled scores, softmax, dropout, weighted sum, output projection.
    Called as (query, value) or (query, value, key); self-attention passes the same tensor twice."""
    inputs = _inputs(graph, max(n_inputs, 1))
    query, value = inputs[0], inputs[1 % len(inputs)]
    key = inputs[2] if len(inputs) > 2 else value
    heads, key_dim = getattr(layer, "num_heads", None), getattr(layer, "key_dim", None)
    shape = f" {heads}x{key_dim}" if heads is not None and key_dim is not None else ""
    q = _projection(graph, query, f"query{shape}", "query")
    k = _projection(graph, key, f"key{shape}", "key")
    v = _projection(graph, value, "value", "value")
    scores = graph.op("attention_scores", [q, k], label="q·kᵀ / √d")
    node = graph.op("attention_softmax", [scores], label="softmax")
    rate = getattr(layer, "dropout", 0)
    if isinstance(rate, (int, float)) and rate > 0:
        node = graph.op("dropout", [node], label=f"dropout {rate:g}")
    node = graph.op("attention_sum", [node, v], label="weights · v")
    return _projection(graph, node, "output projection", "attention_output")


def _cell_names(graph, prefix):
    """The names of a cell's kernel, recurrent kernel and bias among the layer's variables."""
    names = ("kernel", "recurrent_kernel", "bias")
    if not prefix:
        return names
    found: dict[str, str] = {}
    for variable in graph.unused_variables():
        head, _, tail = variable.rpartition("/")
        if tail in names and (head == prefix or head.startswith(prefix + "/")):
            found.setdefault(tail, variable)
    return tuple(found.get(name, name) for name in names)


def _cell_inputs(graph, x, layer, prefix, linear):
    """x·W + h(t−1)·U + b: the pre-activations every recurrent cell starts from."""
    kernel, recurrent_kernel, bias = _cell_names(graph, prefix)
    state = graph.op("state", [], label="h(t−1)")
    wx = graph.op(linear, [x], label="input " + linear, variables=graph.present([kernel]))
    uh = graph.op(linear, [state], label="recurrent " + linear, variables=graph.present([recurrent_kernel]))
    node = graph.op("add", [wx, uh])
    if getattr(layer, "use_bias", True) and graph.present([bias]):
        node = graph.op("bias_add", [node], variables=[bias])
    return node, state


def _gate(graph, source, name, layer):
    act = activation_name(layer, "sigmoid", "recurrent_activation")
    return graph.op("gate", [source], label=f"{name} gate {act}", activation=act)


def _tanh(graph, source, layer, label):
    act = activation_name(layer, "tanh")
    return graph.op("activation", [source], label=f"{label} {act}".strip(), activation=act)


def _lstm_cell(graph, x, layer, prefix="", linear="matmul"):
    pre, _ = _cell_inputs(graph, x, layer, prefix, linear)
    i, f, o = (_gate(graph, pre, name, layer) for name in ("input", "forget", "output"))
    candidate = _tanh(graph, pre, layer, "candidate")
    carry = graph.op("state", [], label="c(t−1)")
    kept = graph.op("multiply", [f, carry], label="forget · c(t−1)")
    added = graph.op("multiply", [i, candidate], label="input · candidate")
    cell = graph.op("add", [kept, added], label="c(t)")
    return graph.op("multiply", [o, _tanh(graph, cell, layer, "")], label="h(t)")


def _gru_cell(graph, x, layer, prefix=""):
    pre, state = _cell_inputs(graph, x, layer, prefix, "matmul")
    update, reset = _gate(graph, pre, "update", layer), _gate(graph, pre, "reset", layer)
    gated = graph.op("multiply", [reset, pre], label="reset · recurrent")
    candidate = _tanh(graph, gated, layer, "candidate")
    return graph.op("interpolate", [update, state, candidate], label="h(t) = z·h(t−1) + (1−z)·candidate")


def _simple_rnn_cell(graph, x, layer, prefix=""):
    pre, _ = _cell_inputs(graph, x, layer, prefix, "matmul")
    act = activation_name(layer, "tanh")
    return graph.op("activation", [pre], label=f"h(t) {act}", activation=act)


_CELLS = {
    "LSTM": _lstm_cell,
    "GRU": _gru_cell,
    "SimpleRNN": _simple_rnn_cell,
}


def _sequence_output(graph, node, layer):
    if getattr(layer, "return_sequences", False):
        return node
    return graph.op("last_step", [node], label="last step")


def _recurrent_cell_layer(graph, layer, n_inputs):
    cell = _CELLS[type(layer).__name__]
    node = cell(graph, _inputs(graph, n_inputs)[0], layer)
    return _sequence_output(graph, node, layer)


def _conv_lstm(graph, layer, n_inputs):
    node = _lstm_cell(graph, _inputs(graph, n_inputs)[0], layer, linear="conv")
    return _sequence_output(graph, node, layer)


_MERGES = {"concat": "concatenate", "sum": "add", "mul": "multiply", "ave": "average"}


def _bidirectional(graph, layer, n_inputs):
    """The forward cell over the sequence, the backward one over the reversed sequence, then the merge."""
    forward = _wrapped(getattr(layer, "forward_layer", None) or getattr(layer, "layer", None))
    backward = _wrapped(getattr(layer, "backward_layer", None)) or forward
    cell = _CELLS.get(type(forward).__name__)
    if cell is None:
        return _recurrent(graph, layer, n_inputs)
    x = _inputs(graph, n_inputs)[0]
    ahead = _sequence_output(graph, cell(graph, x, forward, getattr(forward, "name", "") or ""), forward)
    reversed_x = graph.op("reverse", [x], label="reverse time")
    behind = cell(graph, reversed_x, backward, getattr(backward, "name", "") or "")
    if getattr(backward, "return_sequences", False):
        behind = graph.op("reverse", [behind], label="reverse time")
    else:
        behind = _sequence_output(graph, behind, backward)
    merge = getattr(layer, "merge_mode", "concat")
    if merge not in _MERGES:  # None: the two outputs are returned as a list
        return graph.op("pack", [ahead, behind], label="both directions")
    return graph.op(_MERGES[merge], [ahead, behind], label=_MERGES[merge])


def _time_distributed(graph, layer, n_inputs):
    """The wrapped layer's own inner graph, applied at every time step."""
    inner = _wrapped(getattr(layer, "layer", None))
    builder = BUILDERS.get(type(inner).__name__, generic_call)
    x = _inputs(graph, n_inputs)[0]
    graph.feed = graph.op("time_steps", [x], label="each time step")
    try:
        return builder(graph, inner, 1)
    finally:
        graph.feed = None


def generic_call(graph, layer, n_inputs):
    """Fallback: one opaque op holding all of the layer's variables."""
    return graph.op(
        "call", _inputs(graph, n_inputs), label=type(layer).__name__, variables=list(graph.unused_variables())
    )


def _registry():
    reg = {
        "InputLayer": _input_layer,
        "Dense": _dense,
        "EinsumDense": _einsum_dense,
        "Embedding": _embedding,
        "Flatten": _simple("flatten"),
        "Reshape": _simple("reshape"),
        "Identity": _simple("identity"),
    }
    for dims in ("1D", "2D", "3D"):
        reg[f"Conv{dims}"] = _conv
        reg[f"Conv{dims}Transpose"] = _conv
        reg[f"DepthwiseConv{dims}"] = _depthwise_conv
        reg[f"SeparableConv{dims}"] = _separable_conv
        reg[f"MaxPooling{dims}"] = _pool("max_pool", "max_pool")
        reg[f"AveragePooling{dims}"] = _pool("avg_pool", "avg_pool")
        reg[f"GlobalAveragePooling{dims}"] = _simple("global_avg_pool")
        reg[f"GlobalMaxPooling{dims}"] = _simple("global_max_pool")
        reg[f"SpatialDropout{dims}"] = _dropout
    for name in (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "Normalization",
    ):
        reg[name] = _normalization
    for name in ("Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        reg[name] = _simple(name.lower())
    reg.update(
        {
            "Activation": _activation("linear"),
            "ReLU": _activation("relu"),
            "LeakyReLU": _activation("leaky_relu"),
            "ELU": _activation("elu"),
            "Softmax": _activation("softmax"),
            "PReLU": _activation("prelu"),
        }
    )
    for name in ("Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise"):
        reg[name] = _dropout
    reg["RNN"] = _recurrent
    for name in _CELLS:
        reg[name] = _recurrent_cell_layer
    for name in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
        reg[name] = _conv_lstm
    reg["Bidirectional"] = _bidirectional
    reg["TimeDistributed"] = _time_distributed
    reg["MultiHeadAttention"] = _multi_head_attention
    return reg


BUILDERS = _registry()


def build_inner_graph(layer, variables, n_inputs=1):
    """Inner op graph of `layer` as {"nodes": [...], "edges": [...]}.

    `variables` is the list of (unique name, shape) of the layer's weights;
    `n_inputs` the number of input tensors of its first call. A builder that
    trips over an odd layer falls back to the generic "call" op.
    """
    builder = BUILDERS.get(type(layer).__name__, generic_call)
    try:
        return _build(builder, layer, variables, n_inputs)
    except Exception:  # never let one odd layer break the whole extraction
        return _build(generic_call, layer, variables, n_inputs)


def _build(builder, layer, variables, n_inputs):
    graph = InnerGraph(variables)
    last = builder(graph, layer, n_inputs)
    if last is None:  # InputLayer
        graph.input()
        return graph.as_dict()
    _attach_leftovers(graph, last)
    graph.output(last)
    return graph.as_dict()


# keras.ops operations (module "keras.ops") that are activations, by type name.
OPS_ACTIVATIONS = {
    "Relu": "relu",
    "Relu6": "relu6",
    "Sigmoid": "sigmoid",
    "Softmax": "softmax",
    "Tanh": "tanh",
    "Gelu": "gelu",
    "Softplus": "softplus",
    "Exp": "exponential",
    "Elu": "elu",
    "Selu": "selu",
    "Silu": "silu",
    "Swish": "silu",
    "LeakyRelu": "leaky_relu",
    "HardSigmoid": "hard_sigmoid",
    "HardSilu": "hard_silu",
    "HardSwish": "hard_silu",
    "LogSoftmax": "log_softmax",
    "Softsign": "softsign",
    "Mish": "mish",
    "Sparsemax": "sparsemax",
    "Celu": "celu",
    "Glu": "glu",
    "LogSigmoid": "log_sigmoid",
    "SoftShrink": "soft_shrink",
    "HardTanh": "hard_tanh",
}
