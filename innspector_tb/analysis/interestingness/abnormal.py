"""The "anything abnormal" overview measure: every unit's indicators (statistics measures and the
quantities the training-pathology lint judges), each placed against what that kind of unit shows in
sound models, combined by max, naming the indicator that drove the score.

The reference is `data/abnormal_reference.json`, quantiles of each indicator per unit family
(activations, kernels, biases, other variables) over every logged step of sound models, built by
`tools/build_abnormal_reference.py`. An indicator's score is its mid-rank percentile among the reference
quantiles scaled to [0, 0.9]; beyond the largest reference value it rises from 0.9 towards 1 with the
distance, in units of the reference's upper spread. So a unit inside the sound range never scores above
0.9, and the further outside, the higher: ranks stay meaningful inside one small model, where percentiles
among its own few units would not be. NaN or Inf values score 1.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from innspector_tb import resources
from innspector_tb.analysis.lint.context import Context, activation_steps, as_dict, finite, rms
from innspector_tb.analysis.lint.rules_activations import (
    BOUNDED,
    RESCALING_TYPES,
    narrow_layers,
    saturated_fraction,
)
from innspector_tb.analysis.lint.rules_activations import _fans as kernel_fans
from innspector_tb.analysis.lint.rules_training import ATTENTION_SCORES

REFERENCE_PATH = os.path.join(resources.DATA_DIR, "abnormal_reference.json")
INSIDE = 0.9  # the score of the largest value seen in sound models
_NEVER_MOVED = 12.0  # -log10 of a relative change of 0 (capped)
_CHANGE_FIELDS = ("mean", "std", "l2_norm", "min", "max", "mean_abs")

# indicator -> (what it says, floor of the spread beyond the reference's extremes, signed). A signed
# indicator is abnormal at both ends (a log-ratio: too large or too small); the others only when high.
INDICATORS: dict[str, tuple[str, float, bool]] = {
    "scale_jump": ("log10 of the activation scale's ratio to its producer's", 0.1, True),
    "scale": ("log10 of the activations' root mean square (0 at unit scale)", 0.1, True),
    "saturation": ("fraction of a sigmoid/tanh/softmax output pinned near the asymptotes", 0.05, False),
    "dead_units": ("fraction of units zero on every probe sample", 0.05, False),
    "constant_units": ("fraction of units constant (not zero) on every probe sample", 0.05, False),
    "zero_fraction": ("fraction of exact zeros", 0.05, False),
    "skew": ("|skewness|", 0.5, False),
    "kurtosis": ("excess kurtosis", 1.0, False),
    "bottleneck": ("classes of the softmax classifier over the values the layer passes on, when more", 0.5, False),
    "init_scale": ("log10 of a kernel's initial std over He's sqrt(2 / fan_in)", 0.1, True),
    "frozen": ("-log10 of the weights' largest relative change since the first step (12: never moved)", 0.5, False),
    "growth": ("log10 of the weights' L2 norm now over at the first step", 0.1, True),
    "gradient_deficit": ("orders of magnitude a kernel's gradient is below the model's largest kernel's", 0.1, False),
    "update_ratio": ("log10 of a kernel's update per training batch relative to its norm", 0.1, True),
}
_NORMAL_ONLY_ZERO = [0.0]  # an indicator no sound model showed: zero is normal, anything above is not


def family(unit_type: str) -> str:
    """The reference group of a unit: activations, kernel, bias or variable."""
    unit_type = str(unit_type)
    if unit_type.startswith("activations"):
        return "activations"
    if "kernel" in unit_type or unit_type == "embeddings":
        return "kernel"
    return "bias" if unit_type == "bias" else "variable"


@functools.lru_cache(maxsize=4)
def load_reference(path: str = REFERENCE_PATH) -> dict[str, dict[str, list[float]]]:
    """{family: {indicator: sorted quantiles}}; {} when the file is missing. Plain JSON, never executed."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    result: dict[str, dict[str, list[float]]] = {}
    for fam, indicators in as_dict(data.get("families")).items():
        for name, values in as_dict(indicators).items():
            clean = sorted(float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v))
            if clean:
                result.setdefault(str(fam), {})[str(name)] = clean
    return result


def indicator_score(value: float, quantiles: list[float], floor: float, signed: bool = False) -> float:
    """[0, 1]: inside the reference, its mid-rank percentile x 0.9 (a signed indicator: the distance of the
    percentile from the median, doubled); beyond the reference's top (or, signed, its bottom) rising to 1."""
    if not quantiles:
        quantiles = _NORMAL_ONLY_ZERO
    top, bottom = quantiles[-1], quantiles[0]
    median = quantiles[len(quantiles) // 2]
    if value > top:
        return INSIDE + (1.0 - INSIDE) * (1.0 - math.exp(-(value - top) / max(top - median, floor)))
    if signed and value < bottom:
        return INSIDE + (1.0 - INSIDE) * (1.0 - math.exp(-(bottom - value) / max(median - bottom, floor)))
    below = sum(1 for q in quantiles if q < value)
    equal = sum(1 for q in quantiles if q == value)
    percentile = (below + 0.5 * equal) / len(quantiles)
    return INSIDE * (abs(2 * percentile - 1) if signed else percentile)


def _log_ratio(a, b):
    return math.log10(a / b) if a is not None and b is not None and a > 0 and b > 0 else None


def _relative_change(first, last):
    changes = []
    for field in _CHANGE_FIELDS:
        a, b = finite(as_dict(first).get(field)), finite(as_dict(last).get(field))
        if a is not None and b is not None:
            changes.append(abs(b - a) / max(abs(a), abs(b), 1e-12))
    return max(changes) if changes else None


class Indicators:
    """Computes the indicators of the units of one run from its statistics, histograms and architecture."""

    def __init__(
        self,
        architecture: Any,
        stats: Mapping[str, Mapping[int, Mapping[str, float]]],
        histograms: Any,
        gradients: Any = None,
    ):
        self.ctx = Context(architecture, {}, stats, histograms=histograms, gradients=gradients)
        # {step: the largest gradient root mean square of the model's kernels}: vanishing is relative to it,
        # as in the lint's vanishing-gradients (a deep sigmoid stack's first kernel gets 1e-5 of it).
        self.largest_gradient = _largest_kernel_gradients(self.ctx.gradients)
        self.stats = self.ctx.stats
        moved = {}
        for unit, steps in self.stats.items():
            if self.ctx.unit_kind(unit) == "weights" and len(steps) > 1 and "moving_" not in unit:
                change = _relative_change(steps[min(steps)], steps[max(steps)])
                if change is not None:
                    moved[unit] = change
        self.bottlenecks = {lid: classes / width for lid, width, _, classes in narrow_layers(self.ctx)}
        # "frozen" only means something when some layer did move.
        self.any_moved = any(c > 1e-6 for c in moved.values())
        self.changes = moved

    def of(self, unit: str, layer: str, unit_type: str, step: int) -> dict[str, float]:
        steps = self.stats.get(unit, {})
        values = steps.get(step)
        if values is None:
            return {}
        result: dict[str, float] = {}
        if finite(values.get("nan_count")) or finite(values.get("inf_count")):
            return {"non_finite": math.inf}
        skew, kurtosis = finite(values.get("skew")), finite(values.get("kurtosis"))
        if skew is not None:
            result["skew"] = abs(skew)
        if kurtosis is not None:
            result["kurtosis"] = kurtosis
        if family(unit_type) == "activations":
            self._activations(result, layer, values, step)
        else:
            self._weights(result, unit, layer, unit_type, steps, values, step)
        return result

    def _activations(self, result, layer, values, step):
        ctx = self.ctx
        for name, field in (("dead_units", "dead_unit_fraction"), ("zero_fraction", "zero_fraction")):
            value = finite(values.get(field))
            if value is not None:
                result[name] = value
        constant = finite(values.get("constant_unit_fraction"))
        if constant is not None:
            result["constant_units"] = max(0.0, constant - (finite(values.get("dead_unit_fraction")) or 0.0))
        narrow = self.bottlenecks.get(layer)
        if narrow is not None:
            result["bottleneck"] = narrow
        scale = rms(values)
        activation = ctx.activation(layer)
        if activation in BOUNDED:
            first = min(activation_steps(ctx, layer) or [step])
            if (layer in ctx.outputs or activation == "softmax") and step != first:
                return  # a trained classifier is confident by design: only its start counts
            histogram = as_dict(ctx.histograms.get(layer + "/activations")).get(step)
            fraction = None if histogram is None else saturated_fraction(histogram, activation)
            if fraction is not None:
                result["saturation"] = fraction
            return  # a bounded output's scale is its range
        if scale is None or scale == 0 or ctx.layer_type(layer) in RESCALING_TYPES:
            return
        result["scale"] = math.log10(scale)
        before = [rms(activation_steps(ctx, p).get(step)) for p in ctx.producers.get(layer, [])]
        before = [b for b in before if b is not None and b > 0]
        if before and not ctx.is_pass_through(layer):
            jump = _log_ratio(scale, max(before))
            if jump is not None:
                result["scale_jump"] = jump

    def _weights(self, result, unit, layer, unit_type, steps, values, step):
        first = steps[min(steps)]
        growth = _log_ratio(finite(values.get("l2_norm")), finite(first.get("l2_norm")))
        if growth is not None:
            result["growth"] = growth
        if unit in self.changes and self.any_moved and step != min(steps):
            change = _relative_change(first, values) or 0.0
            result["frozen"] = min(_NEVER_MOVED, -math.log10(change)) if change > 0 else _NEVER_MOVED
        if family(unit_type) == "kernel":
            self._gradients(result, unit, step)
            fans = kernel_fans(self.ctx, layer, unit_type)
            std = finite(first.get("std"))
            if fans and std is not None:
                ratio = _log_ratio(std, math.sqrt(2.0 / fans[0]))
                result["init_scale"] = ratio if ratio is not None else _NEVER_MOVED

    def _gradients(self, result, unit, step):
        values = as_dict(self.ctx.gradients.get(unit, {}).get(step))
        rms_value = _number(values.get("grad_rms"))
        if rms_value is not None and not math.isfinite(rms_value):
            result["non_finite"] = math.inf
            return
        below = _log_ratio(self.largest_gradient.get(step), rms_value)
        if below is not None and unit.rpartition("/")[0].rpartition("/")[2] not in ATTENTION_SCORES:
            result["gradient_deficit"] = below  # query/key: tiny while attention is near uniform, by design
        update = finite(values.get("update_ratio_per_batch"))
        if update is not None and update > 0:
            result["update_ratio"] = math.log10(update)


def _number(value):
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _largest_kernel_gradients(gradients):
    by_step: dict[int, list[float]] = {}
    for unit, steps in gradients.items():
        if family(unit.rsplit("/", 1)[-1]) != "kernel":
            continue
        for step, values in steps.items():
            value = finite(as_dict(values).get("grad_rms"))
            if value is not None and value > 0:
                by_step.setdefault(step, []).append(value)
    return {step: max(values) for step, values in by_step.items()}


def score_unit(indicators: Mapping[str, float], unit_type: str, reference=None) -> tuple[float | None, dict | None]:
    """(score, detail) of one unit: the max over its indicators and which one drove it."""
    if not indicators:
        return None, None
    reference = load_reference() if reference is None else reference
    quantiles_of = as_dict(reference.get(family(unit_type)))
    best: tuple[float, str, float] | None = None
    for name, value in indicators.items():
        if name == "non_finite":
            scored = 1.0
        else:
            _, floor, signed = INDICATORS[name]
            scored = indicator_score(value, quantiles_of.get(name, []), floor, signed)
        if best is None or scored > best[0]:
            best = (scored, name, value)
    assert best is not None
    score, name, value = best
    return score, {"measure": name, "value": value if math.isfinite(value) else None, "score": score}


def abnormal_units(series: Iterable[Any], steps: Mapping[str, int | None], architectures, reference=None):
    """Rows of the abnormal measure for `series` (UnitSeries of the runs to score) at each run's step."""
    by_run: dict[str, list[Any]] = {}
    for s in series:
        by_run.setdefault(s.run, []).append(s)
    rows = []
    for run, members in by_run.items():
        stats = {s.unit: s.stats for s in members}
        histograms = {s.unit: s.histograms for s in members}
        gradients = {s.unit: s.gradients for s in members if getattr(s, "gradients", None)}
        computer = Indicators(as_dict(architectures).get(run), stats, histograms, gradients)
        step = steps.get(run)
        for s in members:
            score, detail = None, None
            # The worst step up to the one scored: a transient explosion stays visible.
            for at in sorted(k for k in s.stats if step is not None and k <= step):
                at_score, at_detail = score_unit(computer.of(s.unit, s.layer, s.unit_type, at), s.unit_type, reference)
                if at_score is not None and (score is None or at_score > score):
                    score, detail = at_score, dict(at_detail or {}, step=at)
            rows.append(
                {
                    "run": s.run,
                    "unit": s.unit,
                    "layer": s.layer,
                    "unit_type": s.unit_type,
                    "variable_type": s.variable_type,
                    "layer_type": s.layer_type,
                    "raw": score,
                    "score": score,
                    "detail": detail,
                }
            )
    return rows
