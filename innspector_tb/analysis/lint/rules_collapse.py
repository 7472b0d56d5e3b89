"""Collapse rules: a layer whose representation loses its dimensions, read from the summaries of
analysis/representation_rank.py (participation ratio and correlated pairs of its activations on the
probe), which the caller computes from the step files' activations (full, or pooled per unit) and hands
to `lint` as `representations(layer, step)`. docs/pathologies.md gives the thresholds and their sources.

  correlated-units   at least half of the pairs of a layer's varying units are (near) copies of each
                     other (|correlation| > 0.99 over the probe) while its producer's are not, at the
                     last logged step: warning, naming the step it started.
  rank-collapse      the participation ratio of a layer's correlation spectrum (its effective number of
                     independent signals) is at most 2 while its producer's is at least 3x as large, at
                     the last logged step: warning, naming the step it started.

Only hidden layers with at least 8 varying units are judged (pass-through layers are their producer's);
not the last hidden layer before a classifier's output, whose features collapse towards the class means
by design (neural collapse), nor a layer whose producer already collapsed (the producer is reported).
"""

from innspector_tb.analysis.lint.context import activation_steps, as_dict
from innspector_tb.analysis.lint.registry import Finding, rule

MIN_UNITS = 8
MIN_SAMPLES = 16
CORRELATED_FRACTION = 0.5
RANK_LIMIT = 2.0
RANK_DROP = 3.0
_CLASSIFIER_OUTPUTS = frozenset(("softmax", "sigmoid"))


def _summary(ctx, lid, step):
    summary = ctx.representation(lid, step)
    if not summary or (summary.get("samples") or 0) < MIN_SAMPLES:
        return None
    return summary


def _producers(ctx, lid, depth=4):
    """The layers feeding `lid`, looking through pass-through layers (Flatten, Dropout, pooling)."""
    found = []
    for producer in ctx.producers.get(lid, []):
        if ctx.is_pass_through(producer) and depth > 0 and ctx.producers.get(producer):
            found.extend(_producers(ctx, producer, depth - 1))
        else:
            found.append(producer)
    return list(dict.fromkeys(found))


def _feeds_classifier_head(ctx, lid, depth=4):
    """True when the layer's consumers are (through pass-through layers) only softmax/sigmoid outputs."""
    consumers = ctx.consumers.get(lid, [])
    if not consumers:
        return False
    for consumer in consumers:
        if consumer in ctx.outputs and ctx.activation(consumer) in _CLASSIFIER_OUTPUTS:
            continue
        if ctx.is_pass_through(consumer) and depth > 0 and _feeds_classifier_head(ctx, consumer, depth - 1):
            continue
        return False
    return True


def _candidates(ctx):
    for lid in ctx.layers:
        layer = as_dict(ctx.layers.get(lid))
        if layer.get("is_input") or ctx.layer_type(lid) == "InputLayer" or lid in ctx.outputs:
            continue
        if ctx.is_pass_through(lid) or _feeds_classifier_head(ctx, lid):
            continue
        steps = sorted(activation_steps(ctx, lid))
        if steps:
            yield lid, steps


def _collapsed_since(ctx, lid, steps, collapsed):
    """(first step of the run of collapsed steps that ends at the last step, its summary, the last
    step's summary) when `collapsed(summary, producer summaries)` holds at the last step, else None."""
    found = []
    for step in reversed(steps):
        own = _summary(ctx, lid, step)
        producers = [_summary(ctx, p, step) for p in _producers(ctx, lid)]
        if own is None or not producers or any(p is None for p in producers) or not collapsed(own, producers):
            break
        found.append((step, own))
    if not found:
        return None
    return found[-1][0], found[-1][1], found[0][1]


def _copies(own, producers):
    fraction = own.get("correlated_fraction")
    if fraction is None or own.get("varying", 0) < MIN_UNITS or fraction < CORRELATED_FRACTION:
        return False
    return all((p.get("correlated_fraction") or 0.0) < CORRELATED_FRACTION for p in producers)


def _low_rank(own, producers):
    ratio = own.get("participation_ratio")
    if ratio is None or own.get("varying", 0) < MIN_UNITS or ratio > RANK_LIMIT:
        return False
    before = [p.get("participation_ratio") for p in producers]
    return all(b is not None and b >= RANK_DROP * ratio for b in before)


def _started(ctx, start, steps):
    first = steps[0]
    return "already at step %d" % start if start == first else "from step %d (not at step %d)" % (start, first)


@rule(
    "correlated-units",
    "activations",
    "At least half of the pairs of a hidden layer's units are copies of each other (|correlation| > 0.99 over "
    "the probe) while its producer's are not: its units carry one signal many times.",
)
def _correlated_units(ctx):
    findings = []
    for lid, steps in _candidates(ctx):
        hit = _collapsed_since(ctx, lid, steps, _copies)
        if hit is None:
            continue
        start, first, last = hit
        findings.append(
            Finding(
                "correlated-units",
                "warning",
                "%.0f%% of the pairs of the %d varying units of '%s' are copies of each other (|correlation| > "
                "0.99 over %d probe samples) %s; %.0f%% at step %d, participation ratio %.2f. Its kernel's "
                "columns are (nearly) the same: look for tied or constrained weights, a symmetric initialisation "
                "(constant kernel) or a layer fed one signal"
                % (
                    100 * first["correlated_fraction"],
                    first["varying"],
                    lid,
                    first["samples"],
                    _started(ctx, start, steps),
                    100 * last["correlated_fraction"],
                    steps[-1],
                    last["participation_ratio"],
                ),
                lid + "/activations",
                lid,
                start,
            )
        )
    return findings


@rule(
    "rank-collapse",
    "activations",
    "The effective rank (participation ratio of the correlation spectrum) of a hidden layer's activations is "
    "at most 2, a third or less of its producer's: the representation collapsed onto one or two directions.",
)
def _rank_collapse(ctx):
    copies = {f.layer for f in _correlated_units(ctx)}
    findings = []
    for lid, steps in _candidates(ctx):
        if lid in copies:
            continue  # correlated-units already says it, more precisely
        hit = _collapsed_since(ctx, lid, steps, _low_rank)
        if hit is None:
            continue
        start, first, last = hit
        producers = [_summary(ctx, p, steps[-1]) for p in _producers(ctx, lid)]
        before = min(p["participation_ratio"] for p in producers if p)
        findings.append(
            Finding(
                "rank-collapse",
                "warning",
                "the activations of '%s' span about %.2f independent directions (participation ratio of the "
                "correlation spectrum of its %d varying units over %d probe samples) %s, against %.2f for what "
                "feeds it; %.2f at step %d. The layer projects its input onto one or two directions: look for a "
                "low-rank (tied, constrained or shared) kernel, or units driven by one input"
                % (
                    lid,
                    first["participation_ratio"],
                    first["varying"],
                    first["samples"],
                    _started(ctx, start, steps),
                    before,
                    last["participation_ratio"],
                    steps[-1],
                ),
                lid + "/activations",
                lid,
                start,
            )
        )
    return findings
