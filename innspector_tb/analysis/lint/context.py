"""Reading a model's data for the rules: defensive coercions and the ``Context``, the architecture,
header and statistics read once with graph lookups (producers, consumers, activations, losses).

Nothing here judges; the rules modules do.
"""

import math
import re
from typing import Any

from innspector_tb.format import inner_ops

# Layers that only reshape or copy values: an activation "directly" after
# another one may sit behind them.
PASS_THROUGH_TYPES = frozenset(
    (
        "Flatten",
        "Reshape",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "AlphaDropout",
        "GaussianDropout",
        "GaussianNoise",
        "Identity",
        "Permute",
        "RepeatVector",
        "ActivityRegularization",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
    )
)
_POOLING = re.compile(r"^(Global)?(Max|Average)Pooling[123]D$")

# Layer types that are nothing but an activation.
ACTIVATION_LAYER_TYPES = frozenset(
    (
        "Activation",
        "ReLU",
        "LeakyReLU",
        "ELU",
        "PReLU",
        "Softmax",
        "ThresholdedReLU",
    )
)

_OPS_ACTIVATIONS = inner_ops.OPS_ACTIVATIONS

_ALIASES = {
    "swish": "silu",
    "exp": "exponential",
    "hard_swish": "hard_silu",
    "leakyrelu": "leaky_relu",
    "leaky_re_lu": "leaky_relu",
    "re_lu": "relu",
}

LINEAR = frozenset(("linear", "identity", "none", ""))

_ACTIVATIONS_UNIT = re.compile(r"^(?P<layer>.+)/activations(_\d+)?$")


def as_dict(value):
    return value if isinstance(value, dict) else {}


def as_list(value):
    return value if isinstance(value, list) else []


def _number(value):
    """A float, or None for missing/non-numeric values (NaN stays NaN)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def finite(value):
    value = _number(value)
    return value if value is not None and math.isfinite(value) else None


def normalise_activation(name):
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def loss_key(name):
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


class Context:
    """The model's data, read defensively once, with graph lookups."""

    def __init__(
        self,
        architecture,
        header,
        unit_stats,
        metrics=None,
        histograms=None,
        inputs=None,
        gradients=None,
        representations=None,
    ):
        arch = as_dict(architecture)
        self.arch = arch
        self.layers: dict[str, dict[str, Any]] = {}
        for layer in as_list(arch.get("layers")):
            if isinstance(layer, dict) and isinstance(layer.get("id"), str):
                self.layers.setdefault(layer["id"], layer)
        self.producers: dict[str, list[str]] = {lid: [] for lid in self.layers}  # lid -> distinct producer ids
        self.consumers: dict[str, list[str]] = {lid: [] for lid in self.layers}
        self.in_edges = {lid: 0 for lid in self.layers}
        for edge in as_list(arch.get("edges")):
            if not isinstance(edge, dict):
                continue
            src, dst = edge.get("from"), edge.get("to")
            if src not in self.layers or dst not in self.layers or src == dst:
                continue
            self.in_edges[dst] += 1
            if src not in self.producers[dst]:
                self.producers[dst].append(src)
            if dst not in self.consumers[src]:
                self.consumers[src].append(dst)
        self.outputs = []
        for out in as_list(arch.get("outputs")):
            if isinstance(out, dict):
                self.outputs.append(out.get("layer"))
            elif isinstance(out, str):
                self.outputs.append(out)
        self.header = as_dict(header)
        self.hparams = as_dict(self.header.get("hparams"))
        self.stats = {}
        for unit, steps in as_dict(unit_stats).items():
            if not isinstance(unit, str) or not isinstance(steps, dict):
                continue
            clean = {}
            for step, values in steps.items():
                try:
                    step = int(step)
                except (TypeError, ValueError):
                    continue
                if isinstance(values, dict):
                    clean[step] = values
            if clean:
                self.stats[unit] = dict(sorted(clean.items()))
        # {metric: {step: value}} of the run's metrics/ scalars (loss, val_loss, ...), NaN kept.
        self.metrics: dict[str, dict[int, float]] = {}
        for name, points in as_dict(metrics).items():
            series = {}
            for step, value in as_dict(points).items():
                number = _number(value)
                if number is not None and isinstance(step, (int, float, str)) and str(step).lstrip("-").isdigit():
                    series[int(step)] = number
            if isinstance(name, str) and series:
                self.metrics[name] = dict(sorted(series.items()))
        # {unit: {step: [bins, 3] rows of (left, right, count)}}: the HISTOGRAM summaries.
        self.histograms = {u: h for u, h in as_dict(histograms).items() if isinstance(u, str) and isinstance(h, dict)}
        # {"layer/variable": {step: {field: value}}}: the gradient summaries (format/gradients.py).
        self.gradients: dict[str, dict[int, dict[str, float]]] = {}
        for unit, steps in as_dict(gradients).items():
            clean = {int(k): v for k, v in as_dict(steps).items() if isinstance(v, dict) and str(k).isdigit()}
            if isinstance(unit, str) and clean:
                self.gradients[unit] = dict(sorted(clean.items()))
        # {input layer id: {field: value}}: statistics of the probe inputs (None when unknown).
        self.inputs = {k: v for k, v in as_dict(inputs).items() if isinstance(k, str) and isinstance(v, dict)}
        # (layer, step) -> summary of analysis/representation_rank.py, read on demand (the caller reads
        # activations from the step files); asked once per layer and step.
        self._representations = representations if callable(representations) else None
        self._representation_memo: dict[tuple[str, int], Any] = {}

    def representation(self, lid, step):
        """The representation summary of a layer (or input layer) at a step, or None when unknown."""
        if self._representations is None:
            return None
        key = (lid, step)
        if key not in self._representation_memo:
            try:
                value = self._representations(lid, step)
            except Exception:  # unreadable activations: no summary, as for a run without step files
                value = None
            self._representation_memo[key] = value if isinstance(value, dict) else None
        return self._representation_memo[key]

    # -- layers

    def layer_type(self, lid):
        return str(as_dict(self.layers.get(lid)).get("type") or "")

    def config(self, lid):
        return as_dict(as_dict(self.layers.get(lid)).get("config"))

    def is_ops(self, lid):
        return as_dict(self.layers.get(lid)).get("module") == "keras.ops"

    def is_pass_through(self, lid):
        kind = self.layer_type(lid)
        return kind in PASS_THROUGH_TYPES or bool(_POOLING.match(kind))

    def is_activation_layer(self, lid):
        kind = self.layer_type(lid)
        if self.is_ops(lid):
            return kind in _OPS_ACTIVATIONS
        return kind in ACTIVATION_LAYER_TYPES

    def inner_activation_ops(self, lid):
        inner = as_dict(as_dict(self.layers.get(lid)).get("inner"))
        nodes = [n for n in as_list(inner.get("nodes")) if isinstance(n, dict)]
        return nodes, [e for e in as_list(inner.get("edges")) if isinstance(e, (list, tuple)) and len(e) == 2]

    def activation(self, lid):
        """The non-linear activation a layer applies last, or None (linear/unknown)."""
        kind = self.layer_type(lid)
        config = self.config(lid)
        if self.is_ops(lid):
            return _OPS_ACTIVATIONS.get(kind)
        if kind == "ReLU":
            slope = finite(config.get("negative_slope")) or 0.0
            if slope > 0:
                return "leaky_relu"
            return "relu6" if finite(config.get("max_value")) == 6.0 else "relu"
        if kind == "LeakyReLU":
            return "leaky_relu"
        if kind == "ThresholdedReLU":
            return "relu"
        name = normalise_activation(config.get("activation"))
        if name is not None:
            return None if name in LINEAR else name
        nodes, _ = self.inner_activation_ops(lid)
        for node in reversed(nodes):
            if node.get("kind") == "op" and node.get("op") == "activation":
                act = normalise_activation(node.get("activation") or node.get("label"))
                return None if act in LINEAR else act
        return None

    def leading_activation(self, lid):
        """The activation a layer applies first to its input, or None."""
        if self.is_activation_layer(lid):
            return self.activation(lid)
        nodes, edges = self.inner_activation_ops(lid)
        kinds = {n.get("id"): n for n in nodes}
        for src, dst in edges:
            a, b = kinds.get(src), kinds.get(dst)
            if a is None or b is None:
                continue
            if a.get("kind") == "input" and b.get("kind") == "op":
                if b.get("op") == "activation":
                    act = normalise_activation(b.get("activation") or b.get("label"))
                    return None if act in LINEAR else act
        return None

    def has_linear_activation(self, lid):
        """True when the layer explicitly computes without an activation."""
        name = normalise_activation(self.config(lid).get("activation"))
        return name in LINEAR if name is not None else False

    def output_activation(self, index):
        """Activation of model output `index`: from the architecture, else the header."""
        if index < len(self.outputs) and self.outputs[index] in self.layers:
            lid, seen = self.outputs[index], set()
            while lid not in seen:
                seen.add(lid)
                act = self.activation(lid)
                if act is not None:
                    return act, lid
                if self.has_linear_activation(lid):
                    return "linear", lid
                if self.is_pass_through(lid) and len(self.producers.get(lid, [])) == 1:
                    lid = self.producers[lid][0]
                    continue
                break
        declared = as_list(self.hparams.get("output_activations"))
        layer = self.outputs[index] if index < len(self.outputs) else None
        if index < len(declared):
            act = normalise_activation(declared[index])
            if act is not None:
                return ("linear" if act in LINEAR else act), layer
        return None, layer

    def n_outputs(self):
        return max(len(self.outputs), len(as_list(self.hparams.get("output_activations"))))

    def loss_for_output(self, index):
        """{"name", "config"} of the loss of output `index`, or None."""
        loss = self.hparams.get("loss")
        if isinstance(loss, list):
            loss = loss[index] if index < len(loss) else None
        elif isinstance(loss, dict) and "name" not in loss:
            layer = self.outputs[index] if index < len(self.outputs) else None
            name = as_dict(self.layers.get(layer)).get("name") if layer else None
            loss = loss.get(layer) if layer in loss else loss.get(name)
        if isinstance(loss, str):
            return {"name": loss, "config": {}}
        if isinstance(loss, dict) and isinstance(loss.get("name"), str):
            return {"name": loss["name"], "config": as_dict(loss.get("config"))}
        return None

    # -- statistics

    def layer_of_unit(self, unit):
        if unit.startswith("predictions/"):
            suffix = unit.rsplit("_", 1)[-1]
            index = int(suffix) if unit != "predictions/y_prediction" and suffix.isdigit() else 0
            return self.outputs[index] if index < len(self.outputs) else None
        match = _ACTIVATIONS_UNIT.match(unit)
        if match:
            lid = match.group("layer")
            return lid if (lid in self.layers or not self.layers) else None
        best = None
        for lid in self.layers:
            if unit.startswith(lid + "/") and (best is None or len(lid) > len(best)):
                best = lid
        if best is None and not self.layers and "/" in unit:
            best = unit.rsplit("/", 1)[0]
        return best

    def unit_kind(self, unit):
        if unit.startswith("predictions/"):
            return "predictions"
        if _ACTIVATIONS_UNIT.match(unit):
            return "activations"
        return "weights"

    def variable_name(self, unit):
        layer = self.layer_of_unit(unit)
        if layer and unit.startswith(layer + "/"):
            return unit[len(layer) + 1 :]
        return unit.rsplit("/", 1)[-1]


def activation_steps(ctx, lid):
    """{step: statistics} of a layer's (first) output, {} when not logged."""
    return ctx.stats.get(lid + "/activations", {})


def rms(values):
    """Root mean square of a unit's finite values, from its statistics (None if unknown)."""
    mean, std = finite(as_dict(values).get("mean")), finite(as_dict(values).get("std"))
    if mean is None or std is None:
        return None
    return math.sqrt(mean * mean + std * std)


def name_of(ctx, lid):
    return str(as_dict(ctx.layers.get(lid)).get("name") or lid.rsplit("/", 1)[-1])
