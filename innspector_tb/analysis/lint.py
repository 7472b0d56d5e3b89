"""The careless-mistake detector: rules over a model's architecture, header and statistics.

Pure Python (no TensorFlow, no numpy), so the plugin can run it on what it
read from a log. ``lint(architecture, header, unit_stats)`` returns a list of
``Finding``; every rule tolerates missing data (no header hyper-parameters, no
statistics, a subclassed model without edges, an imported model whose layers
are of type "Unknown") and a rule that trips over odd input is skipped with a
log message, so ``lint`` never raises.

Rules (``RULES``; ``rules_json()`` lists them for the plugin's route):

architecture rules
  double-activation
      A layer with a non-linear activation whose output goes straight (one
      inbound edge, possibly through shape-only layers such as Flatten,
      Reshape, Dropout) into a layer that starts by applying an activation
      (Activation, ReLU, Softmax, a keras.ops activation, or an inner graph
      whose first op is an activation). softmax/sigmoid twice: error (the
      second squashes an already normalised output); other pairs: warning.
  relu-on-distribution-parameter
      A layer parameterising a distribution, found by name (mean, mu, loc,
      z_mean; log_var, logvar, log_sigma, log_std; sigma, std, scale, var)
      and by structure (two parametric heads, e.g. Dense, fed by the same
      layer and both feeding one custom/Lambda "sampling" layer: the VAE
      reparameterisation; without a telling name the first input is taken
      as the mean). The problem is an output that cannot be negative:
        * mean or log-variance with relu, relu6, softplus, sigmoid,
          hard_sigmoid, exponential or softmax: error when name and
          structure agree, warning on either alone; elu/selu/gelu/silu
          (bounded below) get a warning resp. info;
        * a standard deviation/scale with relu or relu6: warning (exactly
          zero std); softplus, exponential and sigmoid are legitimate there;
        * a structural parameter of unknown role (not the first input of
          the sampling layer, name says nothing): relu/relu6 warning,
          softplus/sigmoid/exponential info (fine only for a std).
      leaky_relu, prelu, tanh and linear are never flagged: they can output
      negative values.
  sigmoid-softmax-with-regression-loss
      A model output ending in sigmoid or softmax trained with a regression
      loss (mse, mae, mape, msle, huber, log_cosh): warning.
  softmax-with-from-logits
      A softmax (or sigmoid) output trained with a crossentropy whose config
      has from_logits=True: error (probabilities treated as logits). The
      inverse, a linear output with a from_logits=False crossentropy: info.

data rules (from the STATISTICS summaries)
  dead-units       zero_fraction of a layer's activations at the last step:
                   > 0.9 warning, >= 0.99 error. Input layers are skipped, and
                   so are shape-only/pooling layers whose producer is flagged.
  exploding-weights
                   kernel-like weights whose l2_norm or std grew more than 10x
                   between the first logged step (normally 0) and the last
                   (warning; error above 100x), or any weight with std > 100
                   at the last step (error).
  vanishing-weights
                   kernel-like weights whose l2_norm or std shrank below 0.1x
                   between the first and the last logged step (warning).
  non-finite       nan_count or inf_count > 0 at any step: error, naming the
                   first such step.

The output activation of a model output is read from the architecture (tracing
back through shape-only layers, so a sigmoid Dense followed by a Reshape counts
as a sigmoid output) and falls back to ``header.hparams.output_activations``.
"""

import dataclasses
import logging
import math
import re

from innspector_tb.format import inner_ops

LOGGER = logging.getLogger("innspector_tb")

SEVERITIES = ("error", "warning", "info")
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# Layers that only reshape or copy values: an activation "directly" after
# another one may sit behind them.
PASS_THROUGH_TYPES = frozenset((
    "Flatten", "Reshape", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "AlphaDropout", "GaussianDropout", "GaussianNoise",
    "Identity", "Permute", "RepeatVector", "ActivityRegularization",
    "Cropping1D", "Cropping2D", "Cropping3D",
))
_POOLING = re.compile(r"^(Global)?(Max|Average)Pooling[123]D$")

# Layer types that are nothing but an activation.
ACTIVATION_LAYER_TYPES = frozenset((
    "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "ThresholdedReLU",
))

_OPS_ACTIVATIONS = inner_ops.OPS_ACTIVATIONS

_ALIASES = {"swish": "silu", "exp": "exponential", "hard_swish": "hard_silu",
            "leakyrelu": "leaky_relu", "leaky_re_lu": "leaky_relu", "re_lu": "relu"}

LINEAR = frozenset(("linear", "identity", "none", ""))
NON_NEGATIVE = frozenset(("relu", "relu6", "softplus", "sigmoid", "hard_sigmoid",
                          "exponential", "softmax", "sparsemax"))
BOUNDED_BELOW = frozenset(("elu", "selu", "gelu", "silu", "hard_silu", "mish", "celu"))
PROBABILITY = frozenset(("sigmoid", "softmax", "hard_sigmoid", "sparsemax"))
SQUASHING = frozenset(("sigmoid", "softmax", "hard_sigmoid", "sparsemax", "log_softmax"))

REGRESSION_LOSSES = frozenset((
    "mse", "meansquarederror", "mae", "meanabsoluteerror", "mape",
    "meanabsolutepercentageerror", "msle", "meansquaredlogarithmicerror",
    "huber", "huberloss", "logcosh", "logcoshloss", "l1", "l2", "l1loss", "mseloss",
))

KERNEL_VARIABLES = frozenset(("kernel", "depthwise_kernel", "pointwise_kernel",
                              "recurrent_kernel", "embeddings"))

_ACTIVATIONS_UNIT = re.compile(r"^(?P<layer>.+)/activations(_\d+)?$")

# Distribution-parameter roles by name; checked in this order.
_ROLE_PATTERNS = (
    ("log_scale", re.compile(r"(^|_)log_?(var|variance|sigma|std|stddev|scale)(_|$|\d)")),
    ("mean", re.compile(r"(^|_)(mean|mu|loc|location)(_|$|\d)")),
    ("scale", re.compile(r"(^|_)(sigma|std|stddev|scale|var|variance)(_|$|\d)")),
)
_ROLE_TEXT = {"mean": "a mean", "log_scale": "a log-variance/log-scale",
              "scale": "a standard deviation/scale", "param": "a distribution parameter"}

DEAD_WARNING = 0.9
DEAD_ERROR = 0.99
GROWTH_FACTOR = 10.0
GROWTH_ERROR_FACTOR = 100.0
SHRINK_FACTOR = 0.1
STD_LIMIT = 100.0


@dataclasses.dataclass
class Finding:
    """One detected (probable) mistake."""

    rule: str
    severity: str  # "error" | "warning" | "info"
    message: str
    unit: str  # layer id or unit id (e.g. "dense_1/kernel")
    layer: object = None  # layer id, or None when unknown
    step: object = None  # step the finding refers to, or None

    def to_json(self):
        return {"rule": self.rule, "severity": self.severity, "message": self.message,
                "unit": self.unit, "layer": self.layer, "step": self.step}


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # "architecture" | "data"
    description: str
    check: object

    def to_json(self):
        return {"id": self.id, "kind": self.kind, "description": self.description}


RULES = []


def _rule(rule_id, kind, description):
    def register(fn):
        RULES.append(Rule(rule_id, kind, description, fn))
        return fn
    return register


def rules_json():
    """The rule list for the plugin's route: [{"id", "kind", "description"}]."""
    return [rule.to_json() for rule in RULES]


def lint(architecture, header, unit_stats):
    """Runs every rule; returns the findings, errors first. Never raises."""
    try:
        ctx = _Context(architecture, header, unit_stats)
    except Exception:  # pragma: no cover - _Context is defensive itself
        LOGGER.warning("lint: could not read the model's data", exc_info=True)
        return []
    findings = []
    for rule in RULES:
        try:
            findings.extend(rule.check(ctx) or [])
        except Exception:
            LOGGER.warning("lint rule %s failed; skipped", rule.id, exc_info=True)
    order = {rule.id: i for i, rule in enumerate(RULES)}
    findings.sort(key=lambda f: (_SEVERITY_RANK.get(f.severity, 9), order.get(f.rule, 99)))
    return findings


# ------------------------------------------------------------------ reading the inputs

def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _as_list(value):
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


def _finite(value):
    value = _number(value)
    return value if value is not None and math.isfinite(value) else None


def _normalise_activation(name):
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def _loss_key(name):
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


class _Context:
    """The model's data, read defensively once, with graph lookups."""

    def __init__(self, architecture, header, unit_stats):
        arch = _as_dict(architecture)
        self.arch = arch
        self.layers = {}
        for layer in _as_list(arch.get("layers")):
            if isinstance(layer, dict) and isinstance(layer.get("id"), str):
                self.layers.setdefault(layer["id"], layer)
        self.producers = {lid: [] for lid in self.layers}  # lid -> distinct producer ids
        self.consumers = {lid: [] for lid in self.layers}
        self.in_edges = {lid: 0 for lid in self.layers}
        for edge in _as_list(arch.get("edges")):
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
        for out in _as_list(arch.get("outputs")):
            if isinstance(out, dict):
                self.outputs.append(out.get("layer"))
            elif isinstance(out, str):
                self.outputs.append(out)
        self.header = _as_dict(header)
        self.hparams = _as_dict(self.header.get("hparams"))
        self.stats = {}
        for unit, steps in _as_dict(unit_stats).items():
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

    # -- layers

    def layer_type(self, lid):
        return str(_as_dict(self.layers.get(lid)).get("type") or "")

    def config(self, lid):
        return _as_dict(_as_dict(self.layers.get(lid)).get("config"))

    def is_ops(self, lid):
        return _as_dict(self.layers.get(lid)).get("module") == "keras.ops"

    def is_pass_through(self, lid):
        kind = self.layer_type(lid)
        return kind in PASS_THROUGH_TYPES or bool(_POOLING.match(kind))

    def is_activation_layer(self, lid):
        kind = self.layer_type(lid)
        if self.is_ops(lid):
            return kind in _OPS_ACTIVATIONS
        return kind in ACTIVATION_LAYER_TYPES

    def inner_activation_ops(self, lid):
        inner = _as_dict(_as_dict(self.layers.get(lid)).get("inner"))
        nodes = [n for n in _as_list(inner.get("nodes")) if isinstance(n, dict)]
        return nodes, [e for e in _as_list(inner.get("edges"))
                       if isinstance(e, (list, tuple)) and len(e) == 2]

    def activation(self, lid):
        """The non-linear activation a layer applies last, or None (linear/unknown)."""
        kind = self.layer_type(lid)
        config = self.config(lid)
        if self.is_ops(lid):
            return _OPS_ACTIVATIONS.get(kind)
        if kind == "ReLU":
            slope = _finite(config.get("negative_slope")) or 0.0
            if slope > 0:
                return "leaky_relu"
            return "relu6" if _finite(config.get("max_value")) == 6.0 else "relu"
        if kind == "LeakyReLU":
            return "leaky_relu"
        if kind == "ThresholdedReLU":
            return "relu"
        name = _normalise_activation(config.get("activation"))
        if name is not None:
            return None if name in LINEAR else name
        nodes, _ = self.inner_activation_ops(lid)
        for node in reversed(nodes):
            if node.get("kind") == "op" and node.get("op") == "activation":
                act = _normalise_activation(node.get("activation") or node.get("label"))
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
                    act = _normalise_activation(b.get("activation") or b.get("label"))
                    return None if act in LINEAR else act
        return None

    def has_linear_activation(self, lid):
        """True when the layer explicitly computes without an activation."""
        name = _normalise_activation(self.config(lid).get("activation"))
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
        declared = _as_list(self.hparams.get("output_activations"))
        layer = self.outputs[index] if index < len(self.outputs) else None
        if index < len(declared):
            act = _normalise_activation(declared[index])
            if act is not None:
                return ("linear" if act in LINEAR else act), layer
        return None, layer

    def n_outputs(self):
        return max(len(self.outputs), len(_as_list(self.hparams.get("output_activations"))))

    def loss_for_output(self, index):
        """{"name", "config"} of the loss of output `index`, or None."""
        loss = self.hparams.get("loss")
        if isinstance(loss, list):
            loss = loss[index] if index < len(loss) else None
        elif isinstance(loss, dict) and "name" not in loss:
            layer = self.outputs[index] if index < len(self.outputs) else None
            name = _as_dict(self.layers.get(layer)).get("name") if layer else None
            loss = loss.get(layer) if layer in loss else loss.get(name)
        if isinstance(loss, str):
            return {"name": loss, "config": {}}
        if isinstance(loss, dict) and isinstance(loss.get("name"), str):
            return {"name": loss["name"], "config": _as_dict(loss.get("config"))}
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
            return unit[len(layer) + 1:]
        return unit.rsplit("/", 1)[-1]


def _name_of(ctx, lid):
    return str(_as_dict(ctx.layers.get(lid)).get("name") or lid.rsplit("/", 1)[-1])


# ------------------------------------------------------------------ architecture rules

@_rule("double-activation", "architecture",
       "An activation applied twice in a row (e.g. Dense(relu) -> Activation(relu), softmax -> softmax).")
def _double_activation(ctx):
    findings = []
    for lid in ctx.layers:
        first = ctx.activation(lid)
        if first is None:
            continue
        for consumer in ctx.consumers.get(lid, []):
            target, path, seen = consumer, [], set()
            # Follow shape-only layers with a single input: they do not change values.
            while (target not in seen and ctx.is_pass_through(target)
                   and ctx.in_edges.get(target) == 1 and len(ctx.consumers.get(target, [])) == 1):
                seen.add(target)
                path.append(target)
                target = ctx.consumers[target][0]
            if ctx.in_edges.get(target) != 1:
                continue  # a merge: not a direct chain
            second = ctx.leading_activation(target)
            if second is None:
                continue
            severity = "error" if first == second and first in SQUASHING else "warning"
            if first == second:
                what = "the same activation (%s) twice" % first
                if first in SQUASHING:
                    what += ": the second flattens an already normalised output"
                else:
                    what += ": the second one is redundant"
            else:
                what = "%s directly followed by %s" % (first, second)
            via = " (through %s)" % ", ".join(path) if path else ""
            findings.append(Finding(
                "double-activation", severity,
                "'%s' applies %s and feeds '%s'%s, which applies %s again: %s. "
                "Remove one of the activations (e.g. make '%s' linear)."
                % (lid, first, target, via, second, what, lid),
                target, target, None))
    return findings


def _role_by_name(name):
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    text = re.sub(r"[^a-z0-9]+", "_", text.lower())
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(text):
            return role
    return None


_PARAMETRIC = re.compile(r"^(Dense|EinsumDense|Conv[123]D|Conv[123]DTranspose|"
                         r"SeparableConv[123]D|DepthwiseConv[123]D|Unknown)$")


def _sampling_heads(ctx):
    """{head layer id: (applying layer id, role)} from the VAE pattern.

    A sampling layer is custom (or a Lambda) with >= 2 distinct producers;
    each producer, seen through a trailing activation layer, is a parametric
    layer (Dense, Conv, ...); and all those heads share one producer.
    """
    heads = {}
    for lid, layer in ctx.layers.items():
        kind = ctx.layer_type(lid)
        custom = bool(layer.get("custom")) or kind == "Lambda"
        if not custom or kind == "Unknown" or ctx.is_activation_layer(lid):
            continue
        producers = ctx.producers.get(lid, [])
        if len(producers) < 2:
            continue
        resolved = []
        for producer in producers:
            head = producer
            if ctx.is_activation_layer(head) and len(ctx.producers.get(head, [])) == 1:
                head = ctx.producers[head][0]
            if not _PARAMETRIC.match(ctx.layer_type(head)) or len(ctx.producers.get(head, [])) != 1:
                break
            resolved.append((head, producer))
        else:
            sources = {ctx.producers[head][0] for head, _ in resolved}
            if len(sources) == 1:
                for position, (head, applier) in enumerate(resolved):
                    named = _role_by_name(_name_of(ctx, head))
                    role = named or ("mean" if position == 0 else "param")
                    evidence = "both" if named else "structure"
                    heads.setdefault(head, (applier, role, lid, evidence))
    return heads


def _judge(role, act, evidence):
    """Severity of activation `act` on a parameter of `role`, or None if fine.

    `evidence` is "both" (name and VAE structure agree), "structure" or "name":
    only both together make a non-negative mean/log-variance an error.
    """
    if role in ("mean", "log_scale"):
        if act in NON_NEGATIVE:
            return "error" if evidence == "both" else "warning"
        if act in BOUNDED_BELOW:
            return "warning" if evidence == "both" else "info"
        return None
    if role == "scale":
        return "warning" if act in ("relu", "relu6") else None
    if act in ("relu", "relu6"):  # structural parameter of unknown role
        return "warning"
    if act in NON_NEGATIVE:
        return "info"
    return None


_WHY = {
    "mean": "a mean must be able to take any real value",
    "log_scale": "a log-variance must be able to be negative (variances below 1)",
    "scale": "a standard deviation of exactly zero breaks the likelihood and the "
             "unit gets no gradient; softplus or exp keep it positive",
    "param": "a mean or log-variance cannot be restricted to non-negative values "
             "(fine only for a standard deviation)",
}


@_rule("relu-on-distribution-parameter", "architecture",
       "A non-negative activation (relu, relu6, softplus, sigmoid) on a layer that parameterises a "
       "distribution (z_mean, z_log_var, mu, sigma, ...; or the two heads of a VAE sampling layer).")
def _relu_on_distribution_parameter(ctx):
    findings = []
    heads = _sampling_heads(ctx)
    candidates = dict.fromkeys(list(heads) + list(ctx.layers))
    for lid in candidates:
        if lid in heads:
            applier, role, sampler, evidence = heads[lid]
        else:
            if not _PARAMETRIC.match(ctx.layer_type(lid)):
                continue
            role = _role_by_name(_name_of(ctx, lid))
            if role is None:
                continue
            applier, evidence, sampler = lid, "name", None
        act = ctx.activation(applier) or ctx.activation(lid)
        if act is None and applier == lid:
            # an activation layer right after it, alone on its path
            nxt = ctx.consumers.get(lid, [])
            if len(nxt) == 1 and ctx.is_activation_layer(nxt[0]):
                applier, act = nxt[0], ctx.activation(nxt[0])
        if act is None:
            continue
        severity = _judge(role, act, evidence)
        if severity is None:
            continue
        how = {"both": "named so, and it feeds the sampling layer '%s': two parameter heads "
                       "from one input, the VAE pattern" % sampler,
               "structure": "it feeds the sampling layer '%s' as input %s: two parameter heads "
                            "from one input, the VAE pattern" % (
                                sampler, "0" if role == "mean" else "> 0"),
               "name": "recognised by its name"}[evidence]
        where = "" if applier == lid else " (applied by '%s')" % applier
        findings.append(Finding(
            "relu-on-distribution-parameter", severity,
            "'%s' parameterises a distribution as %s (%s) but uses %s%s, whose output cannot be "
            "negative: %s. Use a linear activation%s."
            % (lid, _ROLE_TEXT[role], how, act, where, _WHY[role],
               "" if role != "scale" else " with exp/softplus"),
            lid, lid, None))
    return findings


def _output_pairs(ctx):
    """(index, activation, layer id, loss) for every model output with a known loss."""
    for index in range(ctx.n_outputs()):
        loss = ctx.loss_for_output(index)
        if loss is None:
            continue
        act, layer = ctx.output_activation(index)
        yield index, act, layer, loss


def _output_label(index, layer):
    return "output %d ('%s')" % (index, layer) if layer else "output %d" % index


@_rule("sigmoid-softmax-with-regression-loss", "architecture",
       "A model output with a sigmoid or softmax activation trained with a regression loss "
       "(mse, mae, huber, log_cosh, ...).")
def _sigmoid_softmax_regression(ctx):
    findings = []
    for index, act, layer, loss in _output_pairs(ctx):
        if act not in PROBABILITY or _loss_key(loss["name"]) not in REGRESSION_LOSSES:
            continue
        findings.append(Finding(
            "sigmoid-softmax-with-regression-loss", "warning",
            "%s ends in %s but is trained with the regression loss %s: the squashed output "
            "saturates and gives vanishing gradients. Use a crossentropy loss for "
            "probabilities, or a linear output for regression."
            % (_output_label(index, layer), act, loss["name"]),
            layer or "output_%d" % index, layer, None))
    return findings


@_rule("softmax-with-from-logits", "architecture",
       "A softmax/sigmoid output trained with a crossentropy with from_logits=True (error); "
       "a linear output with from_logits=False (info).")
def _softmax_from_logits(ctx):
    findings = []
    for index, act, layer, loss in _output_pairs(ctx):
        if "crossentropy" not in _loss_key(loss["name"]):
            continue
        from_logits = loss["config"].get("from_logits", False)
        from_logits = from_logits is True or str(from_logits).lower() == "true"
        unit = layer or "output_%d" % index
        if from_logits and act in PROBABILITY:
            findings.append(Finding(
                "softmax-with-from-logits", "error",
                "%s already applies %s, but the loss %s has from_logits=True and applies it "
                "again: remove the activation or set from_logits=False."
                % (_output_label(index, layer), act, loss["name"]),
                unit, layer, None))
        elif not from_logits and act == "linear":
            findings.append(Finding(
                "softmax-with-from-logits", "info",
                "%s is linear (logits), but the loss %s has from_logits=False and treats "
                "them as probabilities: set from_logits=True or add a softmax/sigmoid."
                % (_output_label(index, layer), loss["name"]),
                unit, layer, None))
    return findings


# ------------------------------------------------------------------ data rules

def _last(steps, field):
    """(step, value) of the last step with a finite `field`, or (None, None)."""
    for step in reversed(list(steps)):
        value = _finite(steps[step].get(field))
        if value is not None:
            return step, value
    return None, None


def _first(steps, field):
    for step in steps:
        value = _finite(steps[step].get(field))
        if value is not None:
            return step, value
    return None, None


@_rule("dead-units", "data",
       "A layer whose activations are (almost) all exactly zero at the last step: "
       "zero_fraction > 0.9 warning, >= 0.99 error (dead ReLU units).")
def _dead_units(ctx):
    flagged = {}
    for unit, steps in ctx.stats.items():
        if ctx.unit_kind(unit) != "activations":
            continue
        lid = ctx.layer_of_unit(unit)
        layer = _as_dict(ctx.layers.get(lid))
        if layer.get("is_input") or layer.get("type") == "InputLayer":
            continue
        last_step = max(steps)
        zero = _finite(steps[last_step].get("zero_fraction"))
        if zero is None or zero <= DEAD_WARNING:
            continue
        flagged[unit] = (lid, last_step, zero, steps)
    flagged_layers = {value[0] for value in flagged.values() if value[0]}
    findings = []
    for unit, (lid, step, zero, steps) in flagged.items():
        if lid and ctx.is_pass_through(lid) and ctx.producers.get(lid) and all(
                p in flagged_layers for p in ctx.producers[lid]):
            continue  # a Flatten/Pooling of a dead layer: the producer is reported
        first_step, first_zero = _first(steps, "zero_fraction")
        history = ""
        if first_step is not None and first_step != step:
            history = " (%.1f%% at step %d)" % (100 * first_zero, first_step)
        act = ctx.activation(lid) if lid else None
        findings.append(Finding(
            "dead-units", "error" if zero >= DEAD_ERROR else "warning",
            "%.1f%% of the activations of '%s' are exactly zero at step %d%s: %s"
            % (100 * zero, lid or unit, step, history,
               "dead %s units; consider a lower learning rate, another initialisation or a "
               "leaky activation" % act if act else "most units output nothing"),
            unit, lid, step))
    return findings


def _growth(steps, field):
    """(first step, last step, first value, last value, ratio) or None."""
    first_step, first = _first(steps, field)
    last_step, last = _last(steps, field)
    if first_step is None or last_step is None or last_step <= first_step or first <= 0:
        return None
    return first_step, last_step, first, last, last / first


def _weight_units(ctx):
    for unit, steps in ctx.stats.items():
        if ctx.unit_kind(unit) == "weights":
            yield unit, steps, ctx.variable_name(unit).rsplit("/", 1)[-1]


@_rule("exploding-weights", "data",
       "Kernel l2_norm or std grew more than 10x between step 0 and the last step "
       "(error above 100x), or a weight's std is above 100.")
def _exploding_weights(ctx):
    findings = []
    for unit, steps, variable in _weight_units(ctx):
        lid = ctx.layer_of_unit(unit)
        if variable in KERNEL_VARIABLES or "kernel" in variable:
            changes = [(field, g) for field in ("l2_norm", "std")
                       for g in [_growth(steps, field)] if g and g[4] > GROWTH_FACTOR]
            if changes:
                field, (s0, s1, v0, v1, ratio) = max(changes, key=lambda c: c[1][4])
                findings.append(Finding(
                    "exploding-weights", "error" if ratio > GROWTH_ERROR_FACTOR else "warning",
                    "the %s of '%s' grew %.1fx, from %.4g at step %d to %.4g at step %d: "
                    "exploding weights (learning rate too high, missing normalisation?)"
                    % (field, unit, ratio, v0, s0, v1, s1),
                    unit, lid, s1))
                continue
        step, std = _last(steps, "std")
        if std is not None and std > STD_LIMIT:
            findings.append(Finding(
                "exploding-weights", "error",
                "the std of '%s' is %.4g at step %d (above %g): exploding weights"
                % (unit, std, step, STD_LIMIT),
                unit, lid, step))
    return findings


@_rule("vanishing-weights", "data",
       "Kernel l2_norm or std shrank below 0.1x between step 0 and the last step.")
def _vanishing_weights(ctx):
    findings = []
    for unit, steps, variable in _weight_units(ctx):
        if variable not in KERNEL_VARIABLES and "kernel" not in variable:
            continue
        changes = [(field, g) for field in ("l2_norm", "std")
                   for g in [_growth(steps, field)] if g and g[4] < SHRINK_FACTOR]
        if not changes:
            continue
        field, (s0, s1, v0, v1, ratio) = min(changes, key=lambda c: c[1][4])
        findings.append(Finding(
            "vanishing-weights", "warning",
            "the %s of '%s' shrank to %.3gx, from %.4g at step %d to %.4g at step %d: "
            "vanishing weights (too much weight decay, dead inputs?)"
            % (field, unit, ratio, v0, s0, v1, s1),
            unit, ctx.layer_of_unit(unit), s1))
    return findings


@_rule("non-finite", "data",
       "NaN or Inf values in a unit at any step (error naming the first such step).")
def _non_finite(ctx):
    findings = []
    for unit, steps in ctx.stats.items():
        bad = []
        for step, values in steps.items():
            nans = _finite(values.get("nan_count")) or 0
            infs = _finite(values.get("inf_count")) or 0
            if nans > 0 or infs > 0:
                bad.append((step, int(nans), int(infs)))
        if not bad:
            continue
        step, nans, infs = bad[0]
        parts = [p for p in ("%d NaN" % nans if nans else "", "%d Inf" % infs if infs else "") if p]
        findings.append(Finding(
            "non-finite", "error",
            "'%s' has %s values at step %d (first of %d steps with non-finite values)"
            % (unit, " and ".join(parts), step, len(bad)),
            unit, ctx.layer_of_unit(unit), step))
    findings.sort(key=lambda f: (f.step, f.unit))
    return findings
