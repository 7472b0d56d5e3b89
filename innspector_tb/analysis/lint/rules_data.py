"""Data rules: mistakes visible in the STATISTICS summaries of a model's units over its steps.

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
"""

from innspector_tb.analysis.lint.context import as_dict, finite
from innspector_tb.analysis.lint.registry import Finding, rule

KERNEL_VARIABLES = frozenset(("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel", "embeddings"))

DEAD_WARNING = 0.9
DEAD_ERROR = 0.99
GROWTH_FACTOR = 10.0
GROWTH_ERROR_FACTOR = 100.0
SHRINK_FACTOR = 0.1
STD_LIMIT = 100.0


def _last(steps, field):
    """(step, value) of the last step with a finite `field`, or (None, None)."""
    for step in reversed(list(steps)):
        value = finite(steps[step].get(field))
        if value is not None:
            return step, value
    return None, None


def _first(steps, field):
    for step in steps:
        value = finite(steps[step].get(field))
        if value is not None:
            return step, value
    return None, None


@rule(
    "dead-units",
    "data",
    "A layer whose activations are (almost) all exactly zero at the last step: "
    "zero_fraction > 0.9 warning, >= 0.99 error (dead ReLU units).",
)
def _dead_units(ctx):
    flagged = {}
    for unit, steps in ctx.stats.items():
        if ctx.unit_kind(unit) != "activations":
            continue
        lid = ctx.layer_of_unit(unit)
        layer = as_dict(ctx.layers.get(lid))
        if layer.get("is_input") or layer.get("type") == "InputLayer":
            continue
        last_step = max(steps)
        zero = finite(steps[last_step].get("zero_fraction"))
        if zero is None or zero <= DEAD_WARNING:
            continue
        flagged[unit] = (lid, last_step, zero, steps)
    flagged_layers = {value[0] for value in flagged.values() if value[0]}
    findings = []
    for unit, (lid, step, zero, steps) in flagged.items():
        if (
            lid
            and ctx.is_pass_through(lid)
            and ctx.producers.get(lid)
            and all(p in flagged_layers for p in ctx.producers[lid])
        ):
            continue  # a Flatten/Pooling of a dead layer: the producer is reported
        first_step, first_zero = _first(steps, "zero_fraction")
        history = ""
        if first_step is not None and first_step != step:
            history = " (%.1f%% at step %d)" % (100 * first_zero, first_step)
        act = ctx.activation(lid) if lid else None
        findings.append(
            Finding(
                "dead-units",
                "error" if zero >= DEAD_ERROR else "warning",
                "%.1f%% of the activations of '%s' are exactly zero at step %d%s: %s"
                % (
                    100 * zero,
                    lid or unit,
                    step,
                    history,
                    "dead %s units; consider a lower learning rate, another initialisation or a leaky activation" % act
                    if act
                    else "most units output nothing",
                ),
                unit,
                lid,
                step,
            )
        )
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


@rule(
    "exploding-weights",
    "data",
    "Kernel l2_norm or std grew more than 10x between step 0 and the last step "
    "(error above 100x), or a weight's std is above 100.",
)
def _exploding_weights(ctx):
    findings = []
    for unit, steps, variable in _weight_units(ctx):
        lid = ctx.layer_of_unit(unit)
        if variable in KERNEL_VARIABLES or "kernel" in variable:
            changes = [
                (field, g)
                for field in ("l2_norm", "std")
                for g in [_growth(steps, field)]
                if g and g[4] > GROWTH_FACTOR
            ]
            if changes:
                field, (s0, s1, v0, v1, ratio) = max(changes, key=lambda c: c[1][4])
                findings.append(
                    Finding(
                        "exploding-weights",
                        "error" if ratio > GROWTH_ERROR_FACTOR else "warning",
                        "the %s of '%s' grew %.1fx, from %.4g at step %d to %.4g at step %d: "
                        "exploding weights (learning rate too high, missing normalisation?)"
                        % (field, unit, ratio, v0, s0, v1, s1),
                        unit,
                        lid,
                        s1,
                    )
                )
                continue
        step, std = _last(steps, "std")
        if std is not None and std > STD_LIMIT:
            findings.append(
                Finding(
                    "exploding-weights",
                    "error",
                    "the std of '%s' is %.4g at step %d (above %g): exploding weights" % (unit, std, step, STD_LIMIT),
                    unit,
                    lid,
                    step,
                )
            )
    return findings


@rule("vanishing-weights", "data", "Kernel l2_norm or std shrank below 0.1x between step 0 and the last step.")
def _vanishing_weights(ctx):
    findings = []
    for unit, steps, variable in _weight_units(ctx):
        if variable not in KERNEL_VARIABLES and "kernel" not in variable:
            continue
        changes = [
            (field, g) for field in ("l2_norm", "std") for g in [_growth(steps, field)] if g and g[4] < SHRINK_FACTOR
        ]
        if not changes:
            continue
        field, (s0, s1, v0, v1, ratio) = min(changes, key=lambda c: c[1][4])
        findings.append(
            Finding(
                "vanishing-weights",
                "warning",
                "the %s of '%s' shrank to %.3gx, from %.4g at step %d to %.4g at step %d: "
                "vanishing weights (too much weight decay, dead inputs?)" % (field, unit, ratio, v0, s0, v1, s1),
                unit,
                ctx.layer_of_unit(unit),
                s1,
            )
        )
    return findings


@rule("non-finite", "data", "NaN or Inf values in a unit at any step (error naming the first such step).")
def _non_finite(ctx):
    findings = []
    for unit, steps in ctx.stats.items():
        bad = []
        for step, values in steps.items():
            nans = finite(values.get("nan_count")) or 0
            infs = finite(values.get("inf_count")) or 0
            if nans > 0 or infs > 0:
                bad.append((step, int(nans), int(infs)))
        if not bad:
            continue
        step, nans, infs = bad[0]
        parts = [p for p in ("%d NaN" % nans if nans else "", "%d Inf" % infs if infs else "") if p]
        findings.append(
            Finding(
                "non-finite",
                "error",
                "'%s' has %s values at step %d (first of %d steps with non-finite values)"
                % (unit, " and ".join(parts), step, len(bad)),
                unit,
                ctx.layer_of_unit(unit),
                step,
            )
        )
    findings.sort(key=lambda f: (f.step, f.unit))
    return findings
