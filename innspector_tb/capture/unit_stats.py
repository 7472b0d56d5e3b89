"""Statistics of every unit of a layer output, computed where the activations are.

Two halves:

* The device half, `batch_moments` (and `batch_histogram`), is written with
  `keras.ops` only, so it traces inside the probe pass's `tf.function` (or a
  `jax.jit`) and runs on the device that runs the model. For one layer output
  of one batch it returns small, mergeable partial results: per-unit power
  sums, min/max, counts, the pooled [batch, units] vector, per-class sums and
  histogram counts over fixed edges. The bulk activations never leave the
  device for statistics.
* The host half, `Accumulator` (numpy, float64), merges the partial results of
  all batches of a probe and `finalize()`s them into a `UnitStats`: the
  STATISTICS vector (field order of `format.stats.STAT_FIELDS`, equal to
  `stats.describe` of the concatenated activations), per-unit arrays, the
  pooled matrix, class means and a TensorBoard histogram. `HistogramEdges`
  keeps a layer's histogram edges fixed from step 0 on, extending them when
  values leave them.

Numerics. Units are the last axis (a neuron, a channel of a convolution, a
feature of a sequence); the other non-batch axes are positions. Moments are
taken per unit around a shift, by default the unit's mean over this batch (one
extra reduction on the device), so float32 sums keep skewness and kurtosis
accurate for any mean (a mean of 1e3 with std 1 loses nothing). The host turns
each batch's shifted power sums into central moments and merges batches and
units with the pairwise formulas of Chan et al. / Pebay (2008) in float64;
the whole-layer moments are exact combinations of the per-unit ones, so no
separate full-size pass around a layer-wide shift is needed. Counts are int32
per unit and per batch (a unit would need 2**31 elements in one batch to
overflow) and int64 on the host.

Use, per layer output (the edges are kept across steps):

    edges = HistogramEdges()
    acc = Accumulator()
    for x, y in probe:  # batch_moments inside the compiled probe pass
        acc.add(batch_moments(layer_output, y, num_classes, edges.edges))
    result = acc.finalize()  # UnitStats
    edges.extend(result.observed_min, result.observed_max)  # for the next step

At step 0 there are no edges yet (`edges.edges` is None: no histogram); the
first `extend` fixes them from step 0's range. To have a histogram of step 0
too, run `batch_histogram` over the probe once more with the fixed edges.
"""

import dataclasses
import math
from typing import Any

import numpy as np

from innspector_tb.capture.unit_moments import batch_histogram, batch_moments  # noqa: F401 (the device half)
from innspector_tb.format import stats as stats_lib

# Edges are rounded to float32 so that the device (float32 activations) and the
# host (float64) put a value into the same bin.
_EDGE_DTYPE = np.float32
_DEAD = stats_lib.STAT_FIELDS.index("dead_unit_fraction")
_CONSTANT = stats_lib.STAT_FIELDS.index("constant_unit_fraction")


# ---------------------------------------------------------------------------
# Host half: numpy.
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class UnitStats:
    """The finalized statistics of one layer output over a probe.

    stats: float64 [len(STAT_FIELDS)], the STATISTICS vector (`stats.describe`).
    unit_mean, unit_std, unit_min, unit_max, unit_zero_fraction: float32
      [units], over finite values, positions and samples pooled (NaN for a
      unit without finite values).
    pooled: float32 [samples, units] (mean over positions), or None.
    class_means: float32 [classes, units], NaN rows for classes without
      samples (`stats.class_mean_matrix`), or None without labels.
    class_counts: int64 [classes] samples per class, or None.
    histogram: float64 [bins, 3] (left, right, count), TensorBoard's layout,
      with an extra first / last bin [observed_min, edges[0]] /
      [edges[-1], observed_max] for values outside the edges; None without edges.
    under, over: counts of finite values outside the edges (0 without edges).
    observed_min, observed_max: over all finite values (NaN if none); give them
      to `HistogramEdges.extend` after a step with under/overflow.
    """

    stats: np.ndarray
    unit_mean: np.ndarray | None
    unit_std: np.ndarray | None
    unit_min: np.ndarray | None
    unit_max: np.ndarray | None
    unit_zero_fraction: np.ndarray | None
    pooled: np.ndarray | None = None
    class_means: np.ndarray | None = None
    class_counts: np.ndarray | None = None
    histogram: np.ndarray | None = None
    under: int = 0
    over: int = 0
    observed_min: float = math.nan
    observed_max: float = math.nan


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _safe_divide(a, b):
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _central(n, shift, s1, s2, s3, s4):
    """Shifted power sums -> (mean, M2, M3, M4), float64 central sums; zeros where n == 0."""
    # A unit without finite values has a NaN shift: its moments are NaN, and that is no warning.
    with np.errstate(invalid="ignore"):
        d = _safe_divide(s1, n)
        m2 = s2 - d * s1
        m3 = s3 - 3 * d * s2 + 2 * n * d**3
        m4 = s4 - 4 * d * s3 + 6 * d * d * s2 - 3 * n * d**4
        return shift + d, np.maximum(m2, 0.0), m3, np.maximum(m4, 0.0)


def _merge(a, b):
    """Pebay's pairwise update of (n, mean, M2, M3, M4), elementwise over units."""
    na, ma, a2, a3, a4 = a
    nb, mb, b2, b3, b4 = b
    n = na + nb
    delta = mb - ma
    wa = _safe_divide(na, n)  # na / n
    wb = _safe_divide(nb, n)  # nb / n
    mean = ma + delta * wb
    m2 = a2 + b2 + delta**2 * na * wb
    m3 = a3 + b3 + delta**3 * na * wb * (wa - wb) + 3 * delta * (wa * b2 - wb * a2)
    m4 = (
        a4
        + b4
        + delta**4 * na * wb * (wa * wa - wa * wb + wb * wb)
        + 6 * delta**2 * (wa * wa * b2 + wb * wb * a2)
        + 4 * delta * (wa * b3 - wb * a3)
    )
    mean = np.where(n > 0, mean, 0.0)
    return n, mean, np.maximum(m2, 0.0), m3, np.maximum(m4, 0.0)


class Accumulator:
    """Merges the `batch_moments` of the batches of one layer output over a probe.

    Sums add, min/max combine, pooled vectors concatenate (in the order of the
    batches). `finalize()` returns a `UnitStats`. The moments are merged in
    float64 (Chan/Pebay), so the order and size of batches do not matter
    beyond rounding.

    Args:
      keep_pooled: keep the [samples, units] pooled matrix (False drops it).
    """

    def __init__(self, keep_pooled=True):
        self.keep_pooled = keep_pooled
        self.batches = 0
        # Numpy arrays once the first batch is added (Any: mypy cannot follow that first assignment).
        self._rank: Any = None
        self._count = 0
        self._moments: Any = None
        self._finite: Any = None
        self._nan: Any = None
        self._zero: Any = None
        self._abs: Any = None
        self._min: Any = None
        self._max: Any = None
        self._pooled: list[np.ndarray] = []
        self._class_sum: Any = None
        self._class_count: Any = None
        self._hist: Any = None
        self._edges: Any = None
        self._under = self._over = 0

    def add(self, moments):
        """Merges one batch's `batch_moments` (tensors or numpy arrays)."""
        m = {key: _numpy(value) for key, value in moments.items()}
        finite = m["finite_count"].astype(np.int64)
        units = finite.shape[0]
        if self._moments is not None and units != self._finite.shape[0]:
            raise ValueError("batch of %d units added to an accumulator of %d units" % (units, self._finite.shape[0]))
        f64 = {key: m[key].astype(np.float64) for key in ("shift", "sum1", "sum2", "sum3", "sum4")}
        n = finite.astype(np.float64)
        batch = (n,) + _central(n, f64["shift"], f64["sum1"], f64["sum2"], f64["sum3"], f64["sum4"])
        if self._moments is None:
            self._rank = int(m["rank"])
            self._moments = batch
            self._finite, self._nan, self._zero = (
                finite,
                m["nan_count"].astype(np.int64),
                m["zero_count"].astype(np.int64),
            )
            self._abs = m["abs_sum"].astype(np.float64)
            self._min, self._max = m["min"].astype(np.float64), m["max"].astype(np.float64)
        else:
            self._moments = _merge(self._moments, batch)
            self._finite = self._finite + finite
            self._nan = self._nan + m["nan_count"]
            self._zero = self._zero + m["zero_count"]
            self._abs = self._abs + m["abs_sum"]
            self._min = np.minimum(self._min, m["min"])
            self._max = np.maximum(self._max, m["max"])
        self._count += int(m["count"])
        if self.keep_pooled:
            self._pooled.append(np.asarray(m["pooled"], dtype=np.float32))
        if "class_sum" in m:
            class_sum = m["class_sum"].astype(np.float64)
            class_count = m["class_count"].astype(np.int64)
            if self._class_sum is None:
                self._class_sum, self._class_count = class_sum, class_count
            else:
                self._class_sum = self._class_sum + class_sum
                self._class_count = self._class_count + class_count
        if "hist" in m:
            edges = m["edges"].astype(np.float64)
            if self._hist is None:
                self._hist, self._edges = m["hist"].astype(np.int64), edges
            elif edges.shape != self._edges.shape or np.any(edges != self._edges):
                raise ValueError("histogram edges changed between batches of one probe")
            else:
                self._hist = self._hist + m["hist"]
            self._under += int(m["under"])
            self._over += int(m["over"])
        self.batches += 1

    def finalize(self):
        """Returns the `UnitStats` of everything added (an error if nothing was)."""
        if self._moments is None:
            raise ValueError("no batch was added")
        n, mean, m2, m3, m4 = self._moments
        has = n > 0
        unit_min = np.where(has, self._min, np.nan)
        unit_max = np.where(has, self._max, np.nan)
        # A constant unit is exactly constant: its mean is its value, its
        # moments zero (the float32 batch mean need not equal the value).
        constant = has & (unit_min == unit_max)
        mean = np.where(constant, unit_min, mean)
        m2, m3, m4 = (np.where(constant, 0.0, m) for m in (m2, m3, m4))

        # Sum |x| of a unit of one sign is +-n * mean: exact, where the float32
        # sum of a large mean is not.
        abs_sum = np.where(unit_min >= 0, n * mean, np.where(unit_max <= 0, -n * mean, self._abs))

        result = np.full(len(stats_lib.STAT_FIELDS), np.nan)
        units = n.shape[0]
        total_count = self._count * units
        finite_count = int(self._finite.sum())
        nan_count = int(self._nan.sum())
        result[0:4] = (total_count, finite_count, nan_count, total_count - finite_count - nan_count)
        if finite_count:
            # Whole-tensor central moments, combined from the per-unit ones.
            big_n = float(finite_count)
            layer_mean = float(np.sum(n * mean) / big_n)
            d = np.where(has, mean - layer_mean, 0.0)
            c2 = float(np.sum(m2 + n * d * d))
            c3 = float(np.sum(m3 + 3 * d * m2 + n * d**3))
            c4 = float(np.sum(m4 + 4 * d * m3 + 6 * d * d * m2 + n * d**4))
            low, high = float(np.min(unit_min[has])), float(np.max(unit_max[has]))
            if low == high:
                layer_mean, c2 = low, 0.0
            var = c2 / big_n
            if var > 0:
                skew = (c3 / big_n) / var**1.5
                kurtosis = (c4 / big_n) / (var * var) - 3.0
            else:
                skew = kurtosis = 0.0
            sum_sq = float(np.sum(m2 + n * mean * mean))
            result[4:13] = (  # min .. zero_fraction
                low,
                high,
                layer_mean,
                math.sqrt(var),
                skew,
                kurtosis,
                float(np.sum(abs_sum[has])) / big_n,
                math.sqrt(sum_sq),
                float(self._zero.sum()) / big_n,
            )
        if self._rank >= 2 and has.any():  # as stats.describe: no unit fields below rank 2
            dead = constant & (unit_min == 0)
            result[_DEAD] = np.count_nonzero(dead) / np.count_nonzero(has)
            result[_CONSTANT] = np.count_nonzero(constant) / np.count_nonzero(has)

        with np.errstate(invalid="ignore", divide="ignore"):
            unit_mean = np.where(has, mean, np.nan)
            unit_std = np.where(has, np.sqrt(_safe_divide(m2, n)), np.nan)
            unit_zero = np.where(has, self._zero / np.maximum(n, 1), np.nan)
        out = UnitStats(
            stats=result,
            unit_mean=unit_mean.astype(np.float32),
            unit_std=unit_std.astype(np.float32),
            unit_min=unit_min.astype(np.float32),
            unit_max=unit_max.astype(np.float32),
            unit_zero_fraction=unit_zero.astype(np.float32),
            observed_min=result[4],
            observed_max=result[5],
        )
        if self.keep_pooled:
            out.pooled = np.concatenate(self._pooled, axis=0) if self._pooled else np.zeros((0, units), np.float32)
        if self._class_sum is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                means = self._class_sum / self._class_count[:, None]
            means[self._class_count == 0] = np.nan
            out.class_means = means.astype(np.float32)
            out.class_counts = self._class_count
        if self._hist is not None:
            out.histogram = _tensorboard_histogram(
                self._edges, self._hist, self._under, self._over, out.observed_min, out.observed_max
            )
            out.under, out.over = self._under, self._over
        return out


def _tensorboard_histogram(edges, counts, under, over, low, high):
    rows = [np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)]
    if under:
        rows.insert(0, np.array([[low, edges[0], float(under)]]))
    if over:
        rows.append(np.array([[edges[-1], high, float(over)]]))
    return np.concatenate(rows, axis=0)


class HistogramEdges:
    """A layer's histogram edges: fixed at step 0, extended when values leave them.

    All edges lie on one grid, origin + i * width (i an integer), rounded to
    float32 (what the device compares with), finite and strictly increasing.
    `extend` adds whole bins of the same width on the side(s) a step
    overflowed; when the bins would exceed `max_factor * bins`, adjacent pairs
    merge (the width doubles, the origin stays on the grid) until they fit. So
    the edges of a later step that fall inside an earlier step's range are
    edges of that step too: histograms of different steps share edges where
    they overlap. Pure numpy, deterministic.

    Args:
      bins: bins at step 0 (`stats.DEFAULT_BINS`), equal width from the
        observed min to max. A layer that starts constant gets one bin of
        width 1 centred on the value, like `stats.histogram`. The cap is
        max_factor * bins in both cases. Where float32 cannot resolve `bins`
        bins (a range of a few ulps), the width grows until edges are distinct.
    """

    def __init__(self, bins=stats_lib.DEFAULT_BINS, max_factor=4):
        if int(bins) < 1 or int(max_factor) < 1:
            raise ValueError("bins and max_factor must be >= 1")
        self.bins = int(bins)
        self.max_bins = int(bins) * int(max_factor)
        self.origin: Any = None  # a float once fixed
        self.width: Any = None
        self.low = self.high = 0  # the edges are origin + width * range(low, high + 1)

    @property
    def fixed(self):
        return self.origin is not None

    @property
    def edges(self):
        """float64 [bins + 1] ascending edges (float32-exact values), or None before `fix`."""
        if not self.fixed:
            return None
        return self._edge(np.arange(self.low, self.high + 1))

    def _edge(self, index):
        values = self.origin + np.asarray(index, dtype=np.float64) * self.width
        return np.clip(values, -_EDGE_MAX, _EDGE_MAX).astype(_EDGE_DTYPE).astype(np.float64)

    def fix(self, observed_min, observed_max):
        """Fixes the edges from step 0's range; a no-op if already fixed or the range is not finite.

        Returns True if this call fixed the edges.
        """
        low, high = _clip_to_edge_range(observed_min), _clip_to_edge_range(observed_max)
        if self.fixed or low is None or high is None:
            return False
        if high < low:
            raise ValueError("observed_min %r > observed_max %r" % (observed_min, observed_max))
        if low == high:
            self.origin, self.width, self.low, self.high = low - 0.5, 1.0, 0, 1
        else:
            self.origin, self.width, self.low, self.high = low, (high - low) / self.bins, 0, self.bins
            for _ in range(64):  # a rounded-down width: widen by ulps rather than add a bin
                if self._edge(self.high) >= high:
                    break
                self.width = float(np.nextafter(self.width, np.inf))
        self._cover(low, high)
        return True

    def extend(self, observed_min, observed_max):
        """Widens the edges to cover [observed_min, observed_max] (fixes them if not yet fixed).

        A non-finite bound is ignored. Returns True if the edges changed.
        """
        if not self.fixed:
            return self.fix(observed_min, observed_max)
        before = (self.width, self.low, self.high)
        self._cover(_clip_to_edge_range(observed_min), _clip_to_edge_range(observed_max))
        return before != (self.width, self.low, self.high)

    def _cover(self, low, high):
        if low is not None:
            while self._edge(self.low) > low:
                self.low = min(self.low - 1, math.floor((low - self.origin) / self.width))
        if high is not None:
            while self._edge(self.high) < high:
                self.high = max(self.high + 1, math.ceil((high - self.origin) / self.width))
        while self.high - self.low > self.max_bins or np.any(np.diff(self.edges) <= 0):
            self._merge()

    def _merge(self):
        if not math.isfinite(self.width * 2):
            raise ArithmeticError("histogram edges cannot cover the range: %r" % (self.state(),))
        self.width *= 2
        self.low = math.floor(self.low / 2)
        self.high = math.ceil(self.high / 2)

    def state(self):
        """A JSON-able dict of the edges (`from_state` restores them)."""
        return {
            "bins": self.bins,
            "max_bins": self.max_bins,
            "origin": self.origin,
            "width": self.width,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_state(cls, state):
        edges = cls(state["bins"])
        edges.max_bins = int(state["max_bins"])
        edges.origin, edges.width = state["origin"], state["width"]
        edges.low, edges.high = int(state["low"]), int(state["high"])
        return edges


# Observed bounds are clipped to +-_OBSERVED_MAX, so that edges covering them
# (clipped to +-_EDGE_MAX) stay finite and distinct in float32.
_EDGE_MAX = float(np.finfo(_EDGE_DTYPE).max) / 2
_OBSERVED_MAX = float(np.finfo(_EDGE_DTYPE).max) / 16


def _clip_to_edge_range(value):
    """A finite bound as a float32-exact float within the observable range, or None."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(_EDGE_DTYPE(min(max(value, -_OBSERVED_MAX), _OBSERVED_MAX)))
