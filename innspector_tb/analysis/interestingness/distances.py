"""Distances between distributions: exact 1-D Wasserstein distances between the piecewise-uniform
densities of histograms, to another histogram or to a normal distribution, and their scaled form.

scipy (for the normal CDF) is imported on first use, so that importing the plugin stays cheap.
"""

import math

import numpy as np

_NORMAL_GRID = np.linspace(-8.0, 8.0, 641)  # resolution of the normal CDF (0.025)


def _point_mass(hist):
    """Centre of a one-bin histogram (stats.histogram's constant array), else None."""
    if hist.shape[0] == 1:
        return 0.5 * (hist[0, 0] + hist[0, 1])
    return None


def _cdf_knots(hist):
    """(x, F) knots of the piecewise-linear CDF of a histogram of 2+ bins, or None.

    Bins are ordered by left edge; gaps between bins are flat stretches.
    """
    counts = hist[:, 2]
    cum = np.cumsum(counts)
    total = cum[-1] if cum.size else 0.0
    if not total > 0:
        return None
    cum /= total
    left, right = hist[:, 0], hist[:, 1]
    if np.array_equal(left[1:], right[:-1]):  # contiguous, as np.histogram makes them
        return np.concatenate((left[:1], right)), np.concatenate(((0.0,), cum))
    order = np.argsort(left, kind="stable")
    if np.any(order != np.arange(order.size)):
        return _cdf_knots(hist[order])
    x = np.empty(2 * len(left))
    f = np.empty_like(x)
    x[0::2], x[1::2] = left, right
    f[0::2], f[1::2] = np.concatenate(((0.0,), cum[:-1])), cum
    keep = np.concatenate(((True,), np.diff(x) > 0))
    return x[keep], f[keep]


_NO_KNOTS = np.empty(0)


class Dist:
    """A histogram prepared for distance computations (built once, used often).

    std and magnitude (mean |x|) come from the statistics when they are finite
    (exact), else from the piecewise-uniform density.
    """

    __slots__ = ("mass", "x", "f", "std", "magnitude")

    def __init__(self, hist, stats=None):
        hist = np.asarray(hist, dtype=np.float64).reshape(-1, 3)
        self.mass: float | None = None  # a point mass: its position; x and f stay empty
        self.x = self.f = _NO_KNOTS  # else the CDF's knots
        stats = stats or {}
        lo, hi = stats.get("min", math.nan), stats.get("max", math.nan)
        centre = _point_mass(hist)
        if centre is None and lo == hi and math.isfinite(lo):
            centre = lo  # the statistics say constant, whatever the bins say
        if centre is not None:
            if not hist[:, 2].sum() > 0:
                raise ValueError("empty histogram")
            self.mass = float(centre)
        else:
            knots = _cdf_knots(hist)
            if knots is None:
                raise ValueError("empty histogram")
            self.x, self.f = knots
        std, mean_abs = stats.get("std", math.nan), stats.get("mean_abs", math.nan)
        if not (math.isfinite(std) and math.isfinite(mean_abs)):
            mean, std_h = self._moments()
            std = std if math.isfinite(std) else std_h
            mean_abs = mean_abs if math.isfinite(mean_abs) else abs(mean) + std_h
        self.std, self.magnitude = std, mean_abs

    def _moments(self):
        if self.mass is not None:
            return self.mass, 0.0
        p = np.diff(self.f)
        a, b = self.x[:-1], self.x[1:]
        mean = float(np.dot(p, (a + b) * 0.5))
        second = float(np.dot(p, (a * a + a * b + b * b) / 3.0))
        return mean, math.sqrt(max(second - mean * mean, 0.0))

    def cdf_on(self, grid):
        """CDF values at the two ends of each interval of `grid` (inner limits)."""
        if self.mass is not None:  # a step: constant inside every interval
            inside = ((grid[:-1] + grid[1:]) * 0.5 >= self.mass).astype(np.float64)
            return inside, inside
        values = np.interp(grid, self.x, self.f)
        return values[:-1], values[1:]

    def support(self):
        if self.mass is not None:
            return np.array([self.mass])
        return self.x


def _integral_abs_linear(d0, d1, width):
    """Exact integral of |d| over intervals where d goes linearly from d0 to d1.

    Per interval: width * (d0^2 + d1^2 + 2 max(d0 d1, 0)) / (2 (|d0| + |d1|)),
    i.e. the trapezoid when d keeps its sign, the two triangles when it crosses 0.
    """
    total = np.abs(d0) + np.abs(d1)
    numerator = d0 * d0 + d1 * d1 + 2.0 * np.maximum(d0 * d1, 0.0)
    # total == 0 only where d0 == d1 == 0, so the numerator is 0 there too.
    return float(np.dot(width, numerator / (2.0 * total + 1e-300)))


def w1(p, q):
    # Duplicated grid points are zero-width intervals: harmless, cheaper than unique.
    grid = np.sort(np.concatenate([p.support(), q.support()]))
    if grid[-1] == grid[0]:
        return 0.0  # the same point mass
    p0, p1 = p.cdf_on(grid)
    q0, q1 = q.cdf_on(grid)
    return _integral_abs_linear(p0 - q0, p1 - q1, np.diff(grid))


def wasserstein_histograms(hist_a, hist_b):
    """1-D Wasserstein distance between the densities described by two histograms.

    Each histogram is [bins, 3] (left, right, count); within a bin the density
    is uniform, and the two may have different bin edges. Exact: the CDFs are
    piecewise linear on the union of the edges, and |F_a - F_b| is integrated
    in closed form on each interval. A one-bin histogram is a point mass at its
    centre (``stats.histogram`` of a constant array). Raises ValueError for an
    empty histogram.
    """
    return w1(Dist(hist_a), Dist(hist_b))


def w1_normal(p, mean=0.0, std=1.0):
    # Imported here, not at the top, so that importing the plugin stays cheap.
    from scipy import special

    if p.mass is not None:  # E|X - c| for X ~ N(mean, std)
        c = (p.mass - mean) / std
        return std * (c * (2.0 * special.ndtr(c) - 1.0) + 2.0 * _phi(c))
    x = (p.x - mean) / std
    lo, hi = x[0], x[-1]
    inner = _NORMAL_GRID[(_NORMAL_GRID > lo) & (_NORMAL_GRID < hi)]
    grid = np.sort(np.concatenate([x, inner]))
    f = np.interp(grid, x, p.f)
    d = f - special.ndtr(grid)
    between = _integral_abs_linear(d[:-1], d[1:], np.diff(grid))
    # Outside the histogram F is 0 (left) or 1 (right): closed-form normal tails.
    left = lo * special.ndtr(lo) + _phi(lo)
    right = _phi(hi) - hi * special.ndtr(-hi)
    return std * (between + left + right)


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def wasserstein_to_normal(hist, mean=0.0, std=1.0):
    """1-D Wasserstein distance between a histogram's density and N(mean, std^2).

    Inside the histogram's range |F - Phi| is integrated on the union of the
    bin edges and a grid of 0.025 standard deviations (trapezoid-exact for the
    piecewise-linear F, second order for Phi); the tails outside the range are
    closed-form.
    """
    return float(w1_normal(Dist(hist), mean, std))


def scaled(distance, p, q):
    pooled = math.sqrt(0.5 * (p.std**2 + q.std**2))
    floor = max(1e-3 * max(p.magnitude, q.magnitude), 1e-12)
    return distance / max(pooled, floor)


def scaled_wasserstein(hist_a, hist_b, stats_a=None, stats_b=None):
    """Wasserstein distance divided by the pooled std of the two (floored).

    The stds come from the statistics when given (exact), else from the
    histograms. The floor (1e-3 times the larger mean absolute value, at least
    1e-12) keeps a constant that moved (a zero-initialised bias) finite.
    """
    p, q = Dist(hist_a, stats_a), Dist(hist_b, stats_b)
    return scaled(w1(p, q), p, q)
