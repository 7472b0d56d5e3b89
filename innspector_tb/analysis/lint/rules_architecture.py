"""Architecture rules: mistakes visible in the layers, their activations and the loss.

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

The output activation of a model output is read from the architecture (tracing
back through shape-only layers, so a sigmoid Dense followed by a Reshape counts
as a sigmoid output) and falls back to ``header.hparams.output_activations``.
"""

import re

from innspector_tb.analysis.lint.context import loss_key, name_of
from innspector_tb.analysis.lint.registry import Finding, rule

NON_NEGATIVE = frozenset(
    ("relu", "relu6", "softplus", "sigmoid", "hard_sigmoid", "exponential", "softmax", "sparsemax")
)
BOUNDED_BELOW = frozenset(("elu", "selu", "gelu", "silu", "hard_silu", "mish", "celu"))
PROBABILITY = frozenset(("sigmoid", "softmax", "hard_sigmoid", "sparsemax"))
SQUASHING = frozenset(("sigmoid", "softmax", "hard_sigmoid", "sparsemax", "log_softmax"))

REGRESSION_LOSSES = frozenset(
    (
        "mse",
        "meansquarederror",
        "mae",
        "meanabsoluteerror",
        "mape",
        "meanabsolutepercentageerror",
        "msle",
        "meansquaredlogarithmicerror",
        "huber",
        "huberloss",
        "logcosh",
        "logcoshloss",
        "l1",
        "l2",
        "l1loss",
        "mseloss",
    )
)

# Distribution-parameter roles by name; checked in this order.
_ROLE_PATTERNS = (
    ("log_scale", re.compile(r"(^|_)log_?(var|variance|sigma|std|stddev|scale)(_|$|\d)")),
    ("mean", re.compile(r"(^|_)(mean|mu|loc|location)(_|$|\d)")),
    ("scale", re.compile(r"(^|_)(sigma|std|stddev|scale|var|variance)(_|$|\d)")),
)
_ROLE_TEXT = {
    "mean": "a mean",
    "log_scale": "a log-variance/log-scale",
    "scale": "a standard deviation/scale",
    "param": "a distribution parameter",
}


@rule(
    "double-activation",
    "architecture",
    "An activation applied twice in a row (e.g. Dense(relu) -> Activation(relu), softmax -> softmax).",
)
def _double_activation(ctx):
    findings = []
    for lid in ctx.layers:
        first = ctx.activation(lid)
        if first is None:
            continue
        for consumer in ctx.consumers.get(lid, []):
            target, path, seen = consumer, [], set()
            # Follow shape-only layers with a single input: they do not change values.
            while (
                target not in seen
                and ctx.is_pass_through(target)
                and ctx.in_edges.get(target) == 1
                and len(ctx.consumers.get(target, [])) == 1
            ):
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
            findings.append(
                Finding(
                    "double-activation",
                    severity,
                    "'%s' applies %s and feeds '%s'%s, which applies %s again: %s. "
                    "Remove one of the activations (e.g. make '%s' linear)."
                    % (lid, first, target, via, second, what, lid),
                    target,
                    target,
                    None,
                )
            )
    return findings


def _role_by_name(name):
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    text = re.sub(r"[^a-z0-9]+", "_", text.lower())
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(text):
            return role
    return None


_PARAMETRIC = re.compile(
    r"^(Dense|EinsumDense|Conv[123]D|Conv[123]DTranspose|"
    r"SeparableConv[123]D|DepthwiseConv[123]D|Unknown)$"
)


def _sampling_heads(ctx):
    """{head layer id: (applying layer id, role)} from the VAE pattern.

    A sampling layer is custom (or a Lambda) with >= 2 distinct producers;
    each producer, seen through a trailing activation layer, is a parametric
    layer (Dense, Conv, ...); and all those heads share one producer.
    """
    heads: dict[str, tuple[str, str, str, str]] = {}  # head -> (applier, role, normalisation layer, evidence)
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
                    named = _role_by_name(name_of(ctx, head))
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
    "param": "a mean or log-variance cannot be restricted to non-negative values (fine only for a standard deviation)",
}


@rule(
    "relu-on-distribution-parameter",
    "architecture",
    "A non-negative activation (relu, relu6, softplus, sigmoid) on a layer that parameterises a "
    "distribution (z_mean, z_log_var, mu, sigma, ...; or the two heads of a VAE sampling layer).",
)
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
            role = _role_by_name(name_of(ctx, lid))
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
        how = {
            "both": "named so, and it feeds the sampling layer '%s': two parameter heads "
            "from one input, the VAE pattern" % sampler,
            "structure": "it feeds the sampling layer '%s' as input %s: two parameter heads "
            "from one input, the VAE pattern" % (sampler, "0" if role == "mean" else "> 0"),
            "name": "recognised by its name",
        }[evidence]
        where = "" if applier == lid else " (applied by '%s')" % applier
        findings.append(
            Finding(
                "relu-on-distribution-parameter",
                severity,
                "'%s' parameterises a distribution as %s (%s) but uses %s%s, whose output cannot be "
                "negative: %s. Use a linear activation%s."
                % (lid, _ROLE_TEXT[role], how, act, where, _WHY[role], "" if role != "scale" else " with exp/softplus"),
                lid,
                lid,
                None,
            )
        )
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


@rule(
    "sigmoid-softmax-with-regression-loss",
    "architecture",
    "A model output with a sigmoid or softmax activation trained with a regression loss "
    "(mse, mae, huber, log_cosh, ...).",
)
def _sigmoid_softmax_regression(ctx):
    findings = []
    for index, act, layer, loss in _output_pairs(ctx):
        if act not in PROBABILITY or loss_key(loss["name"]) not in REGRESSION_LOSSES:
            continue
        findings.append(
            Finding(
                "sigmoid-softmax-with-regression-loss",
                "warning",
                "%s ends in %s but is trained with the regression loss %s: the squashed output "
                "saturates and gives vanishing gradients. Use a crossentropy loss for "
                "probabilities, or a linear output for regression." % (_output_label(index, layer), act, loss["name"]),
                layer or "output_%d" % index,
                layer,
                None,
            )
        )
    return findings


@rule(
    "softmax-with-from-logits",
    "architecture",
    "A softmax/sigmoid output trained with a crossentropy with from_logits=True (error); "
    "a linear output with from_logits=False (info).",
)
def _softmax_from_logits(ctx):
    findings = []
    for index, act, layer, loss in _output_pairs(ctx):
        if "crossentropy" not in loss_key(loss["name"]):
            continue
        from_logits = loss["config"].get("from_logits", False)
        from_logits = from_logits is True or str(from_logits).lower() == "true"
        unit = layer or "output_%d" % index
        if from_logits and act in PROBABILITY:
            findings.append(
                Finding(
                    "softmax-with-from-logits",
                    "error",
                    "%s already applies %s, but the loss %s has from_logits=True and applies it "
                    "again: remove the activation or set from_logits=False."
                    % (_output_label(index, layer), act, loss["name"]),
                    unit,
                    layer,
                    None,
                )
            )
        elif not from_logits and act == "linear":
            findings.append(
                Finding(
                    "softmax-with-from-logits",
                    "info",
                    "%s is linear (logits), but the loss %s has from_logits=False and treats "
                    "them as probabilities: set from_logits=True or add a softmax/sigmoid."
                    % (_output_label(index, layer), loss["name"]),
                    unit,
                    layer,
                    None,
                )
            )
    return findings
