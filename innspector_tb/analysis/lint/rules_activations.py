"""Activation rules: training pathologies visible in the statistics of layer outputs, kernels at
initialisation and the probe inputs (docs/pathologies.md gives the thresholds and their sources).

  activation-scale     a hidden layer's activation scale (root mean square) is more than 10x
                       (exploding) or less than 1/30 (shrinking) of its producer's, and far from unit
                       scale (above 2, below 0.25), at some step: warning, error beyond 100x / 1/100.
                       Dead layers (half their units dead) are dying-relu's.
  init-scale           a Dense/Conv kernel whose std at the first logged step is above 4x He's
                       sqrt(2 / fan_in) or below 1/10 of Glorot's sqrt(2 / (fan_in + fan_out)): warning.
  saturation           a hidden sigmoid/tanh layer with more than half of its values pinned near the
                       asymptotes (within 0.02 of 0 or 1 for sigmoid, |y| > 0.96 for tanh) at some
                       step, or a sigmoid/softmax output that is saturated before training: warning.
  dying-relu           a ReLU layer with at least half its units dead (zero on every probe sample) at some
                       step, naming the step it started and whether it was already so at the first:
                       warning. Not when what feeds it collapsed (constant or dead units upstream).
  input-scale          the probe inputs of a model whose first layers do not rescale them are far from
                       unit scale (std or |mean| above 3, or root mean square below 0.01): warning.
  constant-units       at least half of a layer's units are constant over the probe (not all zero:
                       dead ReLU units are dying-relu's) at some step, and not merely because what
                       feeds it collapsed: warning.
  narrow-bottleneck    a layer whose output (all its values per sample) is smaller than the number of
                       classes, on every path to a softmax classifier: warning.
"""

import math

from innspector_tb.analysis.lint.context import activation_steps, as_dict, as_list, finite, rms
from innspector_tb.analysis.lint.registry import Finding, rule

SCALE_FACTOR = 10.0
SHRINK_FACTOR = 30.0  # the default Glorot init shrinks a ReLU layer by sqrt(a / (a + b)) for fan-in a, fan-out b
SCALE_ERROR_FACTOR = 100.0
EXPLODED_RMS = 2.0
SHRUNK_RMS = 0.25
GAIN_HIGH = 4.0  # times He's std
GAIN_LOW = 0.1  # times Glorot's std
SATURATED_FRACTION = 0.5
SIGMOID_MARGIN = 0.02
TANH_LIMIT = 0.96
DYING_FRACTION = 0.5
INPUT_SCALE = 3.0
INPUT_TINY = 0.01
CONSTANT_FRACTION = 0.5

# Layers whose job is to set the scale of what they output: a jump into them is by design.
RESCALING_TYPES = frozenset(
    (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "Normalization",
        "Rescaling",
        "Embedding",
        "TextVectorization",
        "StringLookup",
        "IntegerLookup",
        "CategoryEncoding",
        "Hashing",
        "Discretization",
    )
)
BOUNDED = frozenset(("sigmoid", "tanh", "softmax", "hard_sigmoid", "log_softmax"))
FAN_IN_TYPES = frozenset(("Dense", "Conv1D", "Conv2D", "Conv3D"))
RELU_FAMILY = frozenset(("relu", "relu6"))


def collapsed(values):
    """True when at least half of a layer output's units are constant over the probe (dead ones included)."""
    constant = finite(as_dict(values).get("constant_unit_fraction"))
    return constant is not None and constant >= CONSTANT_FRACTION


def _saturated_at(ctx, lid, step):
    activation = ctx.activation(lid)
    if activation not in ("sigmoid", "tanh", "softmax"):
        return False
    histogram = as_dict(ctx.histograms.get(lid + "/activations")).get(step)
    fraction = None if histogram is None else saturated_fraction(histogram, activation)
    return fraction is not None and fraction > SATURATED_FRACTION


def blocks_gradients(ctx, lid, step):
    """True when a layer's output had collapsed (half its units constant) or saturated at `step`: little
    gradient passes it (vanishing-gradients leaves such a case to saturation and constant-units)."""
    values = activation_steps(ctx, lid).get(step)
    return bool(values) and (collapsed(values) or _saturated_at(ctx, lid, step))


def _fed_by_collapse(ctx, lid, step):
    """True when every producer of `lid` with statistics had collapsed or saturated at `step`: the cause is
    upstream, and is reported there."""
    producers = [p for p in ctx.producers.get(lid, []) if activation_steps(ctx, p).get(step)]
    return bool(producers) and all(
        collapsed(activation_steps(ctx, p)[step]) or _saturated_at(ctx, p, step) for p in producers
    )


def _is_output(ctx, lid):
    return lid in ctx.outputs


def _is_input(ctx, lid):
    layer = as_dict(ctx.layers.get(lid))
    return bool(layer.get("is_input")) or layer.get("type") == "InputLayer"


def _skips_pass_through(ctx, lid, flagged):
    """A Flatten/Pooling/Dropout whose producers are all flagged: the producer is reported."""
    producers = ctx.producers.get(lid) or []
    return ctx.is_pass_through(lid) and bool(producers) and all(p in flagged for p in producers)


@rule(
    "activation-scale",
    "activations",
    "A hidden layer's activation scale (root mean square) is more than 10x or less than 1/30 of its producer's "
    "and away from unit scale: exploding or shrinking activations.",
)
def _activation_scale(ctx):
    findings = []
    for lid in ctx.layers:
        if _is_output(ctx, lid) or ctx.layer_type(lid) in RESCALING_TYPES or ctx.is_pass_through(lid):
            continue
        if ctx.activation(lid) in BOUNDED:
            continue  # bounded outputs: saturation is their failure
        producers = [p for p in ctx.producers.get(lid, []) if activation_steps(ctx, p)]
        own = activation_steps(ctx, lid)
        if not producers or not own:
            continue
        for step, values in own.items():
            scale = rms(values)
            if (finite(values.get("dead_unit_fraction")) or 0.0) >= DYING_FRACTION:
                break  # a dead layer: dying-relu / dead-units say it
            before = [rms(activation_steps(ctx, p).get(step)) for p in producers]
            before = [b for b in before if b is not None and b > 0]
            if scale is None or not before:
                continue
            ratio = scale / max(before)
            exploding = ratio > SCALE_FACTOR and scale > EXPLODED_RMS
            shrinking = ratio < 1 / SHRINK_FACTOR and scale < SHRUNK_RMS
            if not (exploding or shrinking):
                continue
            extreme = ratio > SCALE_ERROR_FACTOR or ratio < 1 / SCALE_ERROR_FACTOR
            findings.append(
                Finding(
                    "activation-scale",
                    "error" if extreme else "warning",
                    "the activations of '%s' are %s: root mean square %.3g at step %d, %.3gx that of its input "
                    "(%.3g); fix the scale of its weights (initialiser for the fan-in) or add normalisation"
                    % (lid, "exploding" if exploding else "shrinking", scale, step, ratio, max(before)),
                    lid + "/activations",
                    lid,
                    step,
                )
            )
            break  # the step where it started
    return findings


def _fans(ctx, lid, variable):
    """(fan_in, fan_out) of a kernel as Keras' initialisers count them, or None."""
    for var in as_list(as_dict(ctx.layers.get(lid)).get("variables")):
        var = as_dict(var)
        if var.get("name") == variable:
            shape = [int(d) for d in as_list(var.get("shape")) if isinstance(d, (int, float))]
            if len(shape) < 2 or min(shape) < 1:
                return None
            receptive = math.prod(shape[:-2])
            return shape[-2] * receptive, shape[-1] * receptive
    return None


@rule(
    "init-scale",
    "activations",
    "A Dense/Conv kernel whose initial std is above 4x He initialisation's sqrt(2 / fan_in) or below 1/10 of "
    "Glorot's sqrt(2 / (fan_in + fan_out)): initialisation scale mismatched to the fan-in.",
)
def _init_scale(ctx):
    findings = []
    for lid in ctx.layers:
        if ctx.layer_type(lid) not in FAN_IN_TYPES:
            continue
        steps = ctx.stats.get(lid + "/kernel")
        fans = _fans(ctx, lid, "kernel")
        if not steps or not fans:
            continue
        step = min(steps)
        std = finite(steps[step].get("std"))
        if std is None:
            continue
        fan_in, fan_out = fans
        he, glorot = math.sqrt(2.0 / fan_in), math.sqrt(2.0 / (fan_in + fan_out))
        too_large, too_small = std > GAIN_HIGH * he, std < GAIN_LOW * glorot
        if not (too_large or too_small):
            continue
        findings.append(
            Finding(
                "init-scale",
                "warning",
                "the kernel of '%s' starts with std %.3g at step %d for a fan-in of %d (%.3gx He's %.3g, %.3gx "
                "Glorot's %.3g): %s; use the default initialiser (glorot_uniform, or he_normal before ReLU)"
                % (
                    lid,
                    std,
                    step,
                    fan_in,
                    std / he,
                    he,
                    std / glorot,
                    glorot,
                    "activations will grow layer by layer" if too_large else "signals and gradients will vanish",
                ),
                lid + "/kernel",
                lid,
                step,
            )
        )
    return findings


def saturated_fraction(histogram, activation):
    """Fraction of a sigmoid/softmax/tanh output's values pinned near the asymptotes, from its histogram."""
    rows = [r for r in as_list(histogram) if isinstance(r, (list, tuple)) and len(r) == 3]
    if not rows and hasattr(histogram, "tolist"):
        rows = histogram.tolist()
    if activation == "tanh":
        zones = [(-math.inf, -TANH_LIMIT), (TANH_LIMIT, math.inf)]
    else:
        zones = [(-math.inf, SIGMOID_MARGIN), (1 - SIGMOID_MARGIN, math.inf)]
    total = pinned = 0.0
    for left, right, count in rows:
        left, right, count = float(left), float(right), float(count)
        total += count
        width = right - left
        for low, high in zones:
            overlap = min(right, high) - max(left, low)
            if width <= 0:
                pinned += count if low <= left <= high else 0.0
            elif overlap > 0:
                pinned += count * overlap / width
    return pinned / total if total > 0 else None


@rule(
    "saturation",
    "activations",
    "A hidden sigmoid/tanh layer with more than half of its values pinned near its asymptotes, or a "
    "sigmoid/softmax output saturated before training.",
)
def _saturation(ctx):
    findings = []
    for lid in ctx.layers:
        activation = ctx.activation(lid)
        if activation not in ("sigmoid", "tanh", "softmax"):
            continue
        histograms = as_dict(ctx.histograms.get(lid + "/activations"))
        steps = sorted(int(s) for s in histograms)
        if _is_output(ctx, lid) or activation == "softmax":
            steps = steps[:1]  # a confident trained classifier is saturated by design
        for step in steps:
            fraction = saturated_fraction(histograms[step], activation)
            if fraction is None or fraction <= SATURATED_FRACTION:
                continue
            findings.append(
                Finding(
                    "saturation",
                    "warning",
                    "%.0f%% of the %s outputs of '%s' are pinned near the asymptotes at step %d: saturated units "
                    "pass (almost) no gradient; scale the layer's inputs down (initialisation, normalisation) "
                    "or use a non-saturating activation" % (100 * fraction, activation, lid, step),
                    lid + "/activations",
                    lid,
                    step,
                )
            )
            break
    return findings


@rule(
    "dying-relu",
    "activations",
    "A ReLU layer with at least half its units dead (zero on every probe sample), naming the step it started.",
)
def _dying_relu(ctx):
    flagged = {}
    for lid in ctx.layers:
        relu = ctx.activation(lid) in RELU_FAMILY
        if not relu and not ctx.is_pass_through(lid):
            continue
        for step, values in activation_steps(ctx, lid).items():
            dead = finite(values.get("dead_unit_fraction"))
            if dead is not None and dead >= DYING_FRACTION:
                flagged[lid] = (step, dead, relu)
                break
    findings = []
    for lid, (step, dead, relu) in flagged.items():
        if not relu or _skips_pass_through(ctx, lid, flagged) or _fed_by_collapse(ctx, lid, step):
            continue
        steps = activation_steps(ctx, lid)
        first, last = min(steps), max(steps)
        first_dead = finite(steps[first].get("dead_unit_fraction")) or 0.0
        last_dead = finite(steps[last].get("dead_unit_fraction")) or 0.0
        if step == first:
            how = "already at step %d: the initialisation (a negative bias?) switches them off" % step
        else:
            how = "from step %d (%.0f%% at step %d): the updates pushed them off; lower the learning rate" % (
                step,
                100 * first_dead,
                first,
            )
        findings.append(
            Finding(
                "dying-relu",
                "warning",
                "%.0f%% of the units of '%s' are dead (zero on every probe sample) %s; %.0f%% at step %d. "
                "Consider LeakyReLU, a smaller learning rate or a zero/positive bias initialiser"
                % (100 * dead, lid, how, 100 * last_dead, last),
                lid + "/activations",
                lid,
                step,
            )
        )
    return findings


def _rescales_inputs(ctx, lid, depth=3):
    """True when what consumes input `lid` rescales it before anything computes on it."""
    for consumer in ctx.consumers.get(lid, []):
        kind = ctx.layer_type(consumer)
        if kind in RESCALING_TYPES:
            continue
        if ctx.is_pass_through(consumer) and depth > 0 and _rescales_inputs(ctx, consumer, depth - 1):
            continue
        return False
    return True


@rule(
    "input-scale",
    "activations",
    "The probe inputs are far from unit scale (std or |mean| above 3, or tiny) and no first layer rescales them.",
)
def _input_scale(ctx):
    findings = []
    for name, values in ctx.inputs.items():
        lid = name if name in ctx.layers else None
        if lid is None and len(ctx.inputs) == 1:
            lid = next((lid for lid in ctx.layers if _is_input(ctx, lid)), None)
        if lid is not None and ctx.consumers.get(lid) and _rescales_inputs(ctx, lid):
            continue
        mean, std = finite(values.get("mean")), finite(values.get("std"))
        low, high = finite(values.get("min")), finite(values.get("max"))
        scale = rms(values)
        if mean is None or std is None or scale is None:
            continue
        large = std > INPUT_SCALE or abs(mean) > INPUT_SCALE
        if not large and scale >= INPUT_TINY:
            continue
        findings.append(
            Finding(
                "input-scale",
                "warning",
                "the inputs '%s' are %s: values from %.4g to %.4g, mean %.3g, std %.3g; standardise them "
                "(zero mean, unit variance) or divide by their range (e.g. x / 255), in the data or with a "
                "Rescaling/Normalization layer"
                % (name, "far from unit scale" if large else "tiny", low, high, mean, std),
                lid or name,
                lid,
                0,
            )
        )
    return findings


@rule(
    "constant-units",
    "activations",
    "At least half of a layer's units are constant over the probe (and not all zero): a collapsed representation.",
)
def _constant_units(ctx):
    flagged = {}
    for lid in ctx.layers:
        if _is_input(ctx, lid):
            continue
        for step, values in activation_steps(ctx, lid).items():
            constant = finite(values.get("constant_unit_fraction"))
            dead = finite(values.get("dead_unit_fraction")) or 0.0
            if constant is not None and constant - dead >= CONSTANT_FRACTION:
                flagged[lid] = (step, constant - dead)
                break
    findings = []
    for lid, (step, fraction) in flagged.items():
        if _skips_pass_through(ctx, lid, flagged) or _fed_by_collapse(ctx, lid, step):
            continue
        findings.append(
            Finding(
                "constant-units",
                "warning",
                "%.0f%% of the units of '%s' give the same non-zero value for every probe sample from step %d: "
                "the representation collapsed and carries no information about the input; look at what feeds it "
                "(saturation, a zero kernel, a constant input)" % (100 * fraction, lid, step),
                lid + "/activations",
                lid,
                step,
            )
        )
    return findings


def _width(ctx, lid):
    """The size of a layer's (first) output per sample: all it can pass on (a map's positions count)."""
    shapes = as_list(as_dict(ctx.layers.get(lid)).get("output_shapes"))
    dims = as_list(shapes[0])[1:] if shapes else []
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        return None
    return math.prod(dims)


def _ancestors(ctx, lid, without=None):
    """Every layer upstream of `lid` (not through `without`)."""
    seen, todo = set(), [p for p in ctx.producers.get(lid, []) if p != without]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(q for q in ctx.producers.get(p, []) if q != without)
    return seen


def narrow_layers(ctx):
    """(layer, width, classifier, classes) of every layer narrower than the classes of a softmax classifier
    on every path to it (the `narrow-bottleneck` rule; the abnormal measure's `bottleneck` indicator)."""
    for out in ctx.outputs:
        if out not in ctx.layers or ctx.activation(out) != "softmax":
            continue
        classes = _width(ctx, out)
        if not classes or classes < 3:
            continue
        for lid in sorted(_ancestors(ctx, out)):
            width = _width(ctx, lid)
            if width is None or width >= classes or _is_input(ctx, lid) or ctx.layer_type(lid) in RESCALING_TYPES:
                continue
            # Only a cut: no input reaches the classifier around this layer.
            if any(_is_input(ctx, p) for p in _ancestors(ctx, out, without=lid)):
                continue
            yield lid, width, out, classes


@rule(
    "narrow-bottleneck",
    "activations",
    "A layer narrower than the number of classes on every path to a softmax classifier.",
)
def _narrow_bottleneck(ctx):
    return [
        Finding(
            "narrow-bottleneck",
            "warning",
            "'%s' has %d units but the classifier '%s' tells %d classes apart: everything it sees passes "
            "through a representation narrower than the classes; widen it to at least %d units"
            % (lid, width, out, classes, classes),
            lid,
            lid,
            None,
        )
        for lid, width, out, classes in narrow_layers(ctx)
    ]
