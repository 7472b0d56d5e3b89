"""Training rules: pathologies of the training run itself, from the loss and metric scalars and from how
the weights move (docs/pathologies.md gives the thresholds and their sources).

  loss-non-finite      the loss (training or validation) is NaN or Inf at some step: error.
  loss-divergence      the training loss ends more than 1.5x above its minimum and above where it
                       started: warning, from the step after the minimum.
  loss-plateau         over at least 3 logged steps the training loss never falls more than 1% below
                       its first value: warning.
  overfitting          the validation loss ends more than 20% above its minimum, at least 2 logged steps
                       after it, while the training loss kept falling: warning.
  validation-better    over the second half of a run of at least 4 logged steps the validation loss is
                       below the training loss at every step, and below 0.8x of it in the median: info
                       (dropout 0.5 does that to the keras.io convnet), warning below 0.5x (leakage
                       between the sets, or regularisation that hampers training).
  frozen-layer         a layer whose weights are exactly as they were at the first logged step while
                       other layers' weights moved: warning (info when most layers are frozen, as in
                       fine-tuning).
  vanishing-gradients  kernels whose gradient on the probe batch (root mean square) is below 1/1000
                       of the model's largest, at some step: warning naming the weakest. Attention's
                       query and key projections are left out (tiny gradients while attention is
                       near uniform, in sound transformers too); not when a saturated or collapsed
                       layer explains it (saturation / constant-units name that layer).
  exploding-gradients  a kernel's gradient NaN/Inf, or above 1 and 100x the model's median kernel
                       gradient, at some step: error.
  update-ratio         kernels whose update per training batch (|W_t - W_prev| / |W_t| over the batches
                       between logged steps, median over the steps) is above 3e-2 or below 1e-5, where
                       about 1e-3 is healthy: warning.
"""

import math
import statistics

from innspector_tb.analysis.lint.context import as_dict, as_list, finite
from innspector_tb.analysis.lint.registry import Finding, rule
from innspector_tb.analysis.lint.rules_activations import blocks_gradients

DIVERGENCE_FACTOR = 1.5
PLATEAU_STEPS = 3
PLATEAU_DROP = 0.01
OVERFIT_RISE = 0.2
OVERFIT_STEPS = 2
VALIDATION_RATIO = 0.8
VALIDATION_WARNING_RATIO = 0.5
VALIDATION_STEPS = 4
MOVED = 1e-6  # relative change of a weight statistic that counts as "moved"
CHANGE_FIELDS = ("mean", "std", "l2_norm", "min", "max", "mean_abs")


def _series(ctx, *names):
    """(name, {step: value}) of the first metric present among `names` (Keras' or batch-step names)."""
    for name in names:
        for candidate in (name, "epoch_" + name):
            if candidate in ctx.metrics:
                return candidate, ctx.metrics[candidate]
    return None, {}


def _finite_points(series):
    return [(s, v) for s, v in series.items() if math.isfinite(v)]


@rule("loss-non-finite", "training", "The training or validation loss is NaN or Inf at some step: error.")
def _loss_non_finite(ctx):
    findings = []
    for base in ("loss", "val_loss"):
        name, series = _series(ctx, base)
        bad = [(s, v) for s, v in series.items() if not math.isfinite(v)]
        if not bad:
            continue
        step, value = bad[0]
        findings.append(
            Finding(
                "loss-non-finite",
                "error",
                "the metric '%s' is %s at step %d (%d steps non-finite): training diverged; lower the learning "
                "rate, clip gradients, and look for log(0) or division by zero in the loss"
                % (name, value, step, len(bad)),
                name,
                None,
                step,
            )
        )
    return findings


@rule("loss-divergence", "training", "The training loss ends more than 1.5x above its minimum and its start.")
def _loss_divergence(ctx):
    name, series = _series(ctx, "loss")
    points = _finite_points(series)
    if len(points) < 3:
        return []
    best_step, best = min(points, key=lambda p: p[1])
    last_step, last = points[-1]
    first = points[0][1]
    if best <= 0 or last <= DIVERGENCE_FACTOR * best or last <= first:
        return []
    started = next(s for s, _ in points if s > best_step)
    return [
        Finding(
            "loss-divergence",
            "warning",
            "the training loss '%s' rose from its minimum %.4g at step %d to %.4g at step %d (it started at %.4g): "
            "the optimisation diverges; lower the learning rate" % (name, best, best_step, last, last_step, first),
            name,
            None,
            started,
        )
    ]


@rule("loss-plateau", "training", "The training loss never falls more than 1% below its first value.")
def _loss_plateau(ctx):
    name, series = _series(ctx, "loss")
    points = _finite_points(series)
    if len(points) < PLATEAU_STEPS:
        return []
    first_step, first = points[0]
    best = min(v for _, v in points)
    if first <= 0 or best < first * (1 - PLATEAU_DROP):
        return []
    return [
        Finding(
            "loss-plateau",
            "warning",
            "the training loss '%s' has not fallen since step %d (%.4g, lowest %.4g over %d steps): the model "
            "does not learn; check the learning rate (too low or too high), frozen or dead layers, and the "
            "labels" % (name, first_step, first, best, len(points)),
            name,
            None,
            first_step,
        )
    ]


@rule("overfitting", "training", "The validation loss ends 20% above its minimum while the training loss falls.")
def _overfitting(ctx):
    _, train = _series(ctx, "loss")
    name, val = _series(ctx, "val_loss")
    points = _finite_points(val)
    if len(points) < OVERFIT_STEPS + 2:
        return []
    best_step, best = min(points, key=lambda p: p[1])
    last_step, last = points[-1]
    after = [s for s, _ in points if s > best_step]
    if best <= 0 or last <= best * (1 + OVERFIT_RISE) or len(after) < OVERFIT_STEPS:
        return []
    train_best = finite(train.get(best_step))
    train_last = finite(train.get(last_step))
    if train_best is None or train_last is None or train_last >= train_best:
        return []  # both rose: divergence, not over-fitting
    return [
        Finding(
            "overfitting",
            "warning",
            "the validation loss '%s' rose from %.4g at step %d to %.4g at step %d while the training loss fell "
            "from %.4g to %.4g: over-fitting; stop early (at step %d), regularise or get more data"
            % (name, best, best_step, last, last_step, train_best, train_last, best_step),
            name,
            None,
            after[0],
        )
    ]


@rule(
    "validation-better",
    "training",
    "The validation loss stays below the training loss, 0.8x of it in the median, over the second half of the run.",
)
def _validation_better(ctx):
    _, train = _series(ctx, "loss")
    name, val = _series(ctx, "val_loss")
    steps = [s for s in sorted(val) if math.isfinite(val[s]) and finite(train.get(s)) is not None]
    if len(steps) < VALIDATION_STEPS:
        return []
    half = steps[len(steps) // 2 :]
    ratios = [val[s] / train[s] for s in half if train[s] > 0]
    if len(ratios) < len(half) or max(ratios) >= 1.0:
        return []
    median = statistics.median(ratios)
    if median >= VALIDATION_RATIO:
        return []
    return [
        Finding(
            "validation-better",
            "warning" if median < VALIDATION_WARNING_RATIO else "info",
            "the validation loss '%s' stays below the training loss from step %d to step %d (ratio %.2f to %.2f, "
            "median %.2f): validation samples leaking from the training set, or regularisation (dropout, noise) "
            "heavy enough to hamper training" % (name, half[0], half[-1], min(ratios), max(ratios), median),
            name,
            None,
            half[0],
        )
    ]


def _moved(first, last):
    for field in CHANGE_FIELDS:
        a, b = finite(as_dict(first).get(field)), finite(as_dict(last).get(field))
        if a is not None and b is not None and abs(b - a) > MOVED * max(abs(a), abs(b), 1e-12):
            return True
    return False


def _trainable_flag(ctx, lid):
    config = ctx.config(lid)
    flags = [as_dict(v).get("trainable") for v in as_list(as_dict(ctx.layers.get(lid)).get("variables"))]
    return config.get("trainable") is not False and any(f is not False for f in flags)


@rule(
    "frozen-layer",
    "training",
    "A layer whose weights never changed since the first logged step while the others' did: frozen by "
    "accident, zero gradients or disconnected.",
)
def _frozen_layer(ctx):
    layers: dict[str, list[bool]] = {}
    first_steps = {}
    for unit, steps in ctx.stats.items():
        if ctx.unit_kind(unit) != "weights" or len(steps) < 2:
            continue
        variable = ctx.variable_name(unit)
        if "moving_" in variable:
            continue  # batch-norm statistics are not learnt by gradients
        lid = ctx.layer_of_unit(unit)
        if lid is None:
            continue
        layers.setdefault(lid, []).append(_moved(steps[min(steps)], steps[max(steps)]))
        first_steps[lid] = min(steps)
    moving = [lid for lid, moved in layers.items() if any(moved)]
    frozen = [lid for lid, moved in layers.items() if not any(moved)]
    if not moving or not frozen:
        return []
    mostly_frozen = len(frozen) >= len(moving)
    findings = []
    for lid in frozen:
        trainable = _trainable_flag(ctx, lid)
        why = (
            "its variables are trainable, so no gradient reaches them (disconnected from the loss, or dead inputs)"
            if trainable
            else "it is set trainable=False"
        )
        findings.append(
            Finding(
                "frozen-layer",
                "info" if mostly_frozen else "warning",
                "the weights of '%s' have not changed since step %d while %d other layers learnt: %s; "
                "unfreeze it unless that is intended" % (lid, first_steps[lid], len(moving), why),
                lid,
                lid,
                first_steps[lid],
            )
        )
    return findings


# -- gradients (format/gradients.py: the callback's gradient pass on a probe batch at each logged step)

VANISHING_RATIO = 1e-3
EXPLODING_RATIO = 100.0
EXPLODING_RMS = 1.0
UPDATE_HIGH = 3e-2
UPDATE_LOW = 1e-5
ATTENTION_SCORES = frozenset(("query", "key"))  # the projections of MultiHeadAttention that make the scores


def _kernel_gradients(ctx):
    """{step: [(layer, grad_rms)]} of the kernel-like variables, in the architecture's layer order."""
    order = {lid: i for i, lid in enumerate(ctx.layers)}
    by_step: dict[int, list[tuple[str, float]]] = {}
    for unit, steps in ctx.gradients.items():
        layer, _, variable = unit.rpartition("/")
        if "kernel" not in variable and variable != "embeddings":
            continue
        if layer.rpartition("/")[2] in ATTENTION_SCORES:
            continue  # query/key projections: tiny gradients while attention is near uniform, by design
        for step, values in steps.items():
            rms_value = _number_or_nan(values.get("grad_rms"))
            by_step.setdefault(step, []).append((layer, rms_value))
    for rows in by_step.values():
        rows.sort(key=lambda row: order.get(row[0], len(order)))
    return dict(sorted(by_step.items()))


def _number_or_nan(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@rule(
    "vanishing-gradients",
    "training",
    "Kernels whose gradient (root mean square, on a probe batch) is below 1/1000 of the model's largest: "
    "the first layers barely learn.",
)
def _vanishing_gradients(ctx):
    for step, rows in _kernel_gradients(ctx).items():
        finite_rows = [(layer, value) for layer, value in rows if math.isfinite(value)]
        if len(finite_rows) < 2:
            continue
        top_layer, top = max(finite_rows, key=lambda row: row[1])
        if top <= 0:
            continue
        weak = [(layer, value) for layer, value in finite_rows if 0 < value < VANISHING_RATIO * top]
        if not weak:
            continue
        if any(blocks_gradients(ctx, lid, step) for lid in ctx.layers):
            return []  # a saturated or collapsed layer stops them: saturation / constant-units say where
        layer, value = min(weak, key=lambda row: row[1])
        names = ", ".join("'%s'" % name for name, _ in weak)
        return [
            Finding(
                "vanishing-gradients",
                "warning",
                "vanishing gradients at step %d: the kernels of %s get gradients below 1/%d of '%s''s (%.3g), "
                "down to %.3g in '%s'; use ReLU-like activations, He initialisation, normalisation or skip "
                "connections" % (step, names, round(1 / VANISHING_RATIO), top_layer, top, value, layer),
                layer + "/kernel",
                layer,
                step,
            )
        ]
    return []


@rule(
    "exploding-gradients",
    "training",
    "A kernel's gradient is NaN/Inf, or above 100x the model's median and above 1 (root mean square): error.",
)
def _exploding_gradients(ctx):
    for step, rows in _kernel_gradients(ctx).items():
        bad = [layer for layer, value in rows if not math.isfinite(value)]
        values = sorted(value for _, value in rows if math.isfinite(value))
        median = statistics.median(values) if values else math.nan
        huge = [
            (layer, value)
            for layer, value in rows
            if math.isfinite(value) and value > EXPLODING_RMS and median > 0 and value > EXPLODING_RATIO * median
        ]
        if not bad and not huge:
            continue
        layer = bad[0] if bad else max(huge, key=lambda row: row[1])[0]
        what = (
            "NaN/Inf gradients in %s" % ", ".join("'%s'" % name for name in bad)
            if bad
            else "gradient root mean square %.3g in '%s', %.0fx the median kernel's %.3g"
            % (max(v for _, v in huge), layer, max(v for _, v in huge) / median, median)
        )
        return [
            Finding(
                "exploding-gradients",
                "error",
                "exploding gradients at step %d: %s; clip gradients (clipnorm), lower the learning rate, fix the "
                "initialisation or add normalisation" % (step, what),
                layer + "/kernel",
                layer,
                step,
            )
        ]
    return []


@rule(
    "update-ratio",
    "training",
    "Kernels whose update per training batch is more than 3e-2 or less than 1e-5 of their norm (median over the "
    "logged steps; about 1e-3 is healthy): the learning rate is too high or too low.",
)
def _update_ratio(ctx):
    medians = []
    for unit, steps in ctx.gradients.items():
        layer, _, variable = unit.rpartition("/")
        if "kernel" not in variable:
            continue
        ratios = [_number_or_nan(values.get("update_ratio_per_batch")) for values in steps.values()]
        ratios = [r for r in ratios if math.isfinite(r) and r > 0]  # 0: frozen, frozen-layer's
        if ratios:
            medians.append((layer, statistics.median(ratios), min(s for s in steps if s > min(steps))))
    if not medians:
        return []
    high = [m for m in medians if m[1] > UPDATE_HIGH]
    low = [m for m in medians if m[1] < UPDATE_LOW]
    findings = []
    for rows, fast in ((high, True), (low, False)):
        if not rows:
            continue
        layer, ratio, step = max(rows, key=lambda m: m[1]) if fast else min(rows, key=lambda m: m[1])
        findings.append(
            Finding(
                "update-ratio",
                "warning",
                "each training batch changes the kernels of %s by %.2g of their norm (median; '%s': %.2g), "
                "where about 1e-3 is healthy: the learning rate is too %s"
                % (
                    ", ".join("'%s'" % m[0] for m in rows),
                    statistics.median(m[1] for m in rows),
                    layer,
                    ratio,
                    "high" if fast else "low",
                ),
                layer + "/kernel",
                layer,
                step,
            )
        )
    return findings
