"""Pacing logged steps: a slower cadence when a logged step costs more than its share of training.

The callback times each logged step's work: on the training thread (probe pass, attribution maps,
gradients, the weights copy, the hand-over to the writer) and the writer's CPU seconds since the previous
logged step (statistics of the arrays, compression, writing: on a machine of few cores they compete with
training), and the training time since the previous logged step. When a step costs more than `share` of
the training it covers, the callback logs only every k-th step that `freq` makes due, k the smallest that
brings the average cost back within the share. The last step of a training is always logged
(on_train_end), so the final state is never lost.

Why: the statistics of a ResNet50 on a 512-sample probe take seconds; on an epoch of 2,048 samples
that is a third of the epoch, on a CIFAR-10 epoch (50,000 samples) one percent. A small CNN's logged step
(0.2-0.3 s with its attribution maps) is a third of its half-second epoch of 10,000 digits. Logging every
epoch of a short epoch is the case to slow down, and only that case is. What is logged then depends on the
machine's speed: `time_budget=None` logs every due step whatever it costs (the demo and the tests do so).

Pure Python: the callback measures, this module decides.
"""

from __future__ import annotations

import math

# Of the training time, for logged steps on average (time_budget=): "a few percent", so that logging
# costs a small CNN at most 1.03x its epoch time (bench/logging_overhead.py).
DEFAULT_SHARE = 0.03
# The attribution maps and the gradient pass are each fitted into this part of the share per logged step
# (capture/time_budget.py, gradient_pass.fit_to): they shrink first, pacing covers what remains.
PART_SHARE = 0.5
MAX_EVERY = 16  # at least every 16th due step is logged
_LOWER_MARGIN = 0.8  # a slower cadence is relaxed only with this margin (no flip-flopping)


_NOTE = (
    "logged every %s %s: a logged step costs %.1f s (training thread and writer), %.0f%% of the %.1f s of training"
    " per %s (time_budget %.0f%%)"
)


def steady_epoch_seconds(started: float, first_batch_end: float | None, now: float, batches: int) -> float:
    """The first epoch's training time at its steady pace, from its clock readings.

    Its first batch also traces and compiles the training step (a ResNet50 at 32x32: a 29 s first epoch of
    32 batches against 8 s for the next ones); timed whole, that epoch would let a logged step take three
    times its share. The batches after the first are extrapolated to the whole epoch; with fewer than two
    batches (or no batch clock) the whole time is all there is.
    """
    whole = now - started
    if first_batch_end is None or batches < 2:
        return whole
    return min(whole, (now - first_batch_end) * batches / (batches - 1))


class Pacer:
    """Decides which due steps are logged, from the measured cost of logged steps.

    Args:
      share: the share of training time logged steps may take on average; None: every due step.
    """

    def __init__(self, share: float | None = DEFAULT_SHARE) -> None:
        self.share = share
        self.every = 1
        self.note: str | None = None
        self._due = 0  # due steps so far
        self._last: int | None = None  # the index of the last logged one
        self._span = 1  # due steps the last logged one stands for (the interval it covers)

    def due(self) -> bool:
        """Whether the step `freq` made due now is logged (counts it): `every` due steps after the last."""
        index, self._due = self._due, self._due + 1
        if self._last is not None and index - self._last < self.every:
            return False
        self._span = 1 if self._last is None else index - self._last
        self._last = index
        return True

    def observe(self, step_seconds: float, interval_seconds: float, unit: str = "epoch") -> str | None:
        """Takes a logged step's cost and the training time since the previous logged step.

        Returns a note to print when the cadence changed, else None.
        """
        finite = math.isfinite(step_seconds) and math.isfinite(interval_seconds)
        if self.share is None or not (finite and interval_seconds > 0 and step_seconds >= 0):
            return None
        per_due = interval_seconds / self._span  # training time between two due steps
        allowance = self.share * per_due
        needed = min(MAX_EVERY, max(1, math.ceil(step_seconds / allowance)))
        if needed > self.every:
            every = needed
        elif needed < self.every and step_seconds / (needed * per_due) <= self.share * _LOWER_MARGIN:
            every = needed
        else:
            return None
        self.every = every
        if every == 1:
            self.note = None
            return "iNNspector: logging every %s again (a logged step takes %.1f s)" % (unit, step_seconds)
        self.note = _NOTE % (
            _ordinal(every),
            unit,
            step_seconds,
            100 * step_seconds / per_due,
            per_due,
            unit,
            100 * self.share,
        )
        return "iNNspector: %s; the last %s is always logged" % (self.note, unit)

    def to_json(self) -> dict:
        return {"every": self.every, "note": self.note}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return "%d%s" % (n, suffix)
