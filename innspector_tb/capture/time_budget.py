"""Fitting attribution maps into a time budget per logged step.

Integrated gradients at 32 steps on 32 samples for two targets is 2,048 gradient rows: for a ResNet50
that is as much compute as an epoch of 2,048 samples. The callback measures what one gradient row
costs and how long an epoch takes, and this module decides, deterministically, how much of the
requested work fits: fewer integration steps and SmoothGrad copies first (the maps stay of the same
samples, a little coarser), then fewer samples, then a slower cadence (every k-th logged step), and
only then fewer methods. Occlusion (one forward pass per patch position and sample) is the exception:
it is left out first, before anything else is reduced. The deletion curves (capture/deletion.py:
forward passes checking the maps, not maps) come next: fewer points (down to
format.deletion.MIN_STEPS), then none, before any map is made coarser. Every reduction is said in
`notes`. Pure Python: no TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from innspector_tb.capture import deletion
from innspector_tb.format import attribution_methods
from innspector_tb.format import deletion as deletion_format

DEFAULT_FRACTION = 0.05  # of an epoch's time, for the attribution maps of one logged step
STEP_ZERO_SECONDS = 2.0  # before the first epoch there is no epoch time: step 0 gets this much
MIN_SECONDS = 0.5  # whatever the epoch, a logged step's maps may take this long (small models keep all)
MIN_SIZE = 8
MIN_IG_STEPS = 8
MIN_SMOOTHGRAD_SAMPLES = 4
MAX_EVERY = 16
# Methods that share the plain gradient rows (one row per sample and class).
_BASE_METHODS = ("saliency", "gradient_x_input", "grad_cam", "guided_grad_cam", "gradient_x_embedding")
# Methods of one backward pass of their own per sample and class: each LRP method's walk (a forward pass
# and one local gradient per layer: about one gradient row), Guided Backprop, DeconvNet.
_OWN_ROW_METHODS = attribution_methods.LRP_METHODS + ("guided_backprop", "deconvnet")
FORWARD_ROW = 0.5  # a forward pass (occlusion) against a gradient row (forward and backward)
_DROP_ORDER = ("integrated_gradients", "smoothgrad", "guided_grad_cam", "deconvnet") + tuple(
    reversed(_OWN_ROW_METHODS[:-2])
)


@dataclasses.dataclass(frozen=True)
class Schedule:
    size: int
    methods: tuple[str, ...]
    options: Mapping[str, Any]
    every: int = 1  # attribute every this many logged steps
    notes: tuple[str, ...] = ()
    deletion_steps: int = 0  # points of the deletion curves (0: none)

    def due(self, log_index: int) -> bool:
        return log_index % self.every == 0


def rows(
    size: int,
    targets: int,
    methods: Sequence[str],
    options: Mapping[str, Any],
    occlusion_positions: int = 0,
    deletion_steps: int = 0,
) -> float:
    """Gradient rows of one attribution call (an upper bound: a sample whose classes agree counts once).

    `occlusion_positions`: patch positions per sample (relevance.occlusion.positions); each is a forward
    pass of every sample, counted as FORWARD_ROW of a gradient row. `deletion_steps`: points of the
    deletion curves of every method and the random ranking, forward passes too.
    """
    per_pair = 1 if any(m in _BASE_METHODS for m in methods) else 0
    if "smoothgrad" in methods:
        per_pair += int(options.get("smoothgrad_samples", 16))
    if "integrated_gradients" in methods:
        per_pair += int(options.get("ig_steps", 32))
    per_pair += sum(1 for m in methods if m in _OWN_ROW_METHODS)
    if "guided_grad_cam" in methods and "guided_backprop" not in methods:
        per_pair += 1
    forward = size * (int(occlusion_positions) + 1) * FORWARD_ROW if "occlusion" in methods else 0
    forward += deletion.forward_rows(size, targets, len(methods) + 1, int(deletion_steps)) * FORWARD_ROW
    return size * max(targets, 1) * per_pair + forward


def fit(
    budget_seconds: float,
    seconds_per_row: float,
    size: int,
    targets: int,
    methods: Sequence[str],
    options: Mapping[str, Any],
    occlusion_positions: int = 0,
    deletion_steps: int = 0,
) -> Schedule | None:
    """The largest schedule whose average cost per logged step is within `budget_seconds`, or None."""
    size, methods, options = int(size), tuple(methods), dict(options)
    requested = (size, methods, dict(options))
    every = 1
    curve_points = requested_points = int(deletion_steps)

    def cost():
        work = rows(size, targets, methods, options, occlusion_positions, curve_points)
        return work * seconds_per_row / every

    while cost() > budget_seconds:
        if "occlusion" in methods:
            methods = tuple(m for m in methods if m != "occlusion")
            continue
        if curve_points > deletion_format.MIN_STEPS:
            curve_points = max(deletion_format.MIN_STEPS, curve_points // 2)
            continue
        if curve_points:
            curve_points = 0
            continue
        ig, sg = int(options.get("ig_steps", 32)), int(options.get("smoothgrad_samples", 16))
        if "integrated_gradients" in methods and ig > MIN_IG_STEPS and ig >= sg:
            options["ig_steps"] = max(MIN_IG_STEPS, ig // 2)
        elif "smoothgrad" in methods and sg > MIN_SMOOTHGRAD_SAMPLES:
            options["smoothgrad_samples"] = max(MIN_SMOOTHGRAD_SAMPLES, sg // 2)
        elif "integrated_gradients" in methods and ig > MIN_IG_STEPS:
            options["ig_steps"] = max(MIN_IG_STEPS, ig // 2)
        elif size > MIN_SIZE:
            size = max(MIN_SIZE, size // 2)
        elif every < MAX_EVERY:
            every *= 2
        elif any(m in methods for m in _DROP_ORDER):
            dropped = next(m for m in _DROP_ORDER if m in methods)
            methods = tuple(m for m in methods if m != dropped)
        else:
            return None
    notes = _notes(requested, size, methods, options, every)
    if requested_points and curve_points != requested_points:
        notes.append(
            "deletion curves of %d points instead of %d" % (curve_points, requested_points)
            if curve_points
            else "left out: deletion curves (%d forward passes per sample, class and method)" % (requested_points - 2)
        )
    return Schedule(size, methods, options, every, tuple(notes), curve_points)


def _notes(requested, size, methods, options, every) -> list[str]:
    size0, methods0, options0 = requested
    notes = []
    for key, name in (("ig_steps", "integrated-gradients steps"), ("smoothgrad_samples", "SmoothGrad samples")):
        if key in options0 and options.get(key) != options0.get(key) and _method_of(key) in methods:
            notes.append("%s %d instead of %d" % (name, options[key], options0[key]))
    if size != size0:
        notes.append("%d samples instead of %d" % (size, size0))
    if every > 1:
        notes.append("every %d logged steps" % every)
    dropped = [m for m in methods0 if m not in methods]
    if dropped:
        notes.append("left out: %s" % ", ".join(dropped))
    return notes


def _method_of(option: str) -> str:
    return "integrated_gradients" if option == "ig_steps" else "smoothgrad"


def budget_for(epoch_seconds: float | None, fraction: float) -> float:
    """Seconds one logged step's attribution maps may take: a fraction of an epoch, or step 0's allowance."""
    if epoch_seconds is None or not math.isfinite(epoch_seconds) or epoch_seconds <= 0:
        return STEP_ZERO_SECONDS
    return max(fraction * epoch_seconds, MIN_SECONDS)
