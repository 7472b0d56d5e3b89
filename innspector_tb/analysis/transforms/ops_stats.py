"""Ops that summarise: the NaN-aware reductions, quantiles and group_by_class, and the
distributions (histogram, kde).

scipy is imported by kde alone, on first use, so that importing the plugin stays cheap.
"""

import math
from typing import Any

import numpy as np

from innspector_tb.analysis.transforms import numeric
from innspector_tb.analysis.transforms.grammar import (
    Param,
    Record,
    Vector,
    axes_param,
    choice,
    integer,
    list_of,
    number,
    op,
    optional,
    range_param,
)

MAX_QUANTILES = 1_000
DEFAULT_BINS = 30
DEFAULT_KDE_POINTS = 100


# ---------------------------------------------------------------------------
# Reductions.


def _reduction_op(how):
    def reduce(x, p, ctx):
        return numeric.reduce(x, ctx.axes(p["axis"], x.ndim), how)

    reduce.__doc__ = (
        "NaN-aware %s over `axis` (int, list of ints, or null = all axes; default null). "
        "Empty or all-NaN slices give NaN (null)%s."
        % (how, "" if how not in ("sum", "count") else ", except sum/count which give 0")
    )
    return reduce


REDUCTIONS = ("mean", "std", "var", "min", "max", "sum", "count", "median")
for _how in REDUCTIONS:
    op(_how, axis=Param(axes_param, None))(_reduction_op(_how))


@op("quantiles", q=Param(list_of(number(0.0, 1.0), min_len=1, max_len=MAX_QUANTILES)), axis=Param(axes_param, None))
def _quantiles(x, p, ctx):
    """NaN-aware quantiles `q` (list of numbers in [0, 1]) over `axis`, linear interpolation.

    The result has a new first axis, one entry per q (like np.nanquantile).
    """
    axes = ctx.axes(p["axis"], x.ndim)
    ctx.charge(x.size + len(p["q"]) * (x.size // max(1, math.prod(x.shape[i] for i in axes))))
    return numeric.reduce(x, axes, "quantiles", p["q"])


@op("group_by_class", reduce=Param(choice(*REDUCTIONS), "mean"))
def _group_by_class(x, p, ctx):
    """Reduces the samples (first axis) of each class with `reduce` (mean, std, var, min, max, sum, count, median).

    Needs a "label" column. Result: {"<class>": array of the remaining shape}, classes in ascending order.
    """
    labels = ctx.labels(x)
    order = np.argsort(labels, kind="stable")
    classes, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    if len(classes) > ctx.limits.max_classes:
        raise ctx.limit("max_classes", len(classes), "the labels have %d classes" % len(classes))
    ctx.charge(x.size + len(classes) * math.prod(x.shape[1:]))
    result = Record("group_by_class")
    for label, start, count in zip(classes, starts, counts, strict=True):
        result[str(int(label))] = numeric.reduce(x[order[start : start + count]], (0,), p["reduce"])
    return result


# ---------------------------------------------------------------------------
# Distributions.


@op(
    "histogram",
    bins=Param(optional(integer(1)), None),
    range=Param(optional(range_param), None),
    edges=Param(optional(list_of(number(), min_len=2)), None),
)
def _histogram(x, p, ctx):
    """Counts the values of the whole array in bins.

    `bins` (int, default 30) over `range` [lo, hi] (default: finite min..max),
    or explicit increasing `edges` (shared edges give a group of widgets one
    scale). Bins are [left, right), the last one [left, right]. Result:
    {"edges", "counts", "dropped", "nonfinite", "below", "above"}; "dropped" =
    NaN/Inf plus values outside the edges, so sum(counts) + dropped = size.
    """
    if p["edges"] is not None:
        if p["bins"] is not None or p["range"] is not None:
            raise ctx.error("give either 'edges' or 'bins'/'range', not both", field="edges")
        edges = np.asarray(p["edges"])
        if len(edges) - 1 > ctx.limits.max_bins:
            raise ctx.limit(
                "max_bins", len(edges) - 1, "%d edges make %d bins" % (len(edges), len(edges) - 1), field="edges"
            )
        if not np.all(np.diff(edges) > 0):
            raise ctx.error("edges must be strictly increasing", field="edges")
    else:
        bins = DEFAULT_BINS if p["bins"] is None else p["bins"]
        if bins > ctx.limits.max_bins:
            raise ctx.limit("max_bins", bins, "%d bins" % bins, field="bins")
    values = x.astype(np.float64).reshape(-1)
    finite = np.isfinite(values)
    if p["edges"] is None:
        if p["range"] is not None:
            lo, hi = p["range"]
        elif finite.any():
            lo, hi = float(values[finite].min()), float(values[finite].max())
        else:
            lo, hi = 0.0, 1.0  # numpy's choice for no data
        if lo == hi:
            # numpy's +-0.5, widened to one ulp where 0.5 is lost in rounding (|value| > 2**53).
            pad = max(0.5, float(np.spacing(abs(lo))))
            lo, hi = (lo - pad if math.isfinite(lo - pad) else lo), (hi + pad if math.isfinite(hi + pad) else hi)
        # lo*(1-t) + hi*t cannot overflow, unlike hi - lo for values near +-1e308;
        # clip and accumulate so rounding can never make the edges decrease.
        t = np.linspace(0.0, 1.0, bins + 1)
        edges = np.maximum.accumulate(np.clip(lo * (1 - t) + hi * t, lo, hi))
        edges[0], edges[-1] = lo, hi
    nbins = len(edges) - 1
    nonfinite = int(values.size - np.count_nonzero(finite))
    if nonfinite:
        values = values[finite]
    n_below = int(np.count_nonzero(values < edges[0]))
    n_above = int(np.count_nonzero(values > edges[-1]))
    counts = None
    if p["edges"] is None and math.isfinite(edges[-1] - edges[0]):
        # Equal-width bins: numpy computes the bin of each value directly, several
        # times faster than a search (a 1M-element kernel is a common request).
        # It refuses bins narrower than the values' resolution: then search.
        try:
            counts = np.histogram(values, bins=nbins, range=(edges[0], edges[-1]))[0]
        except ValueError:
            counts = None
    if counts is None:
        inside = values[(values >= edges[0]) & (values <= edges[-1])] if n_below or n_above else values
        index = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, nbins - 1)
        counts = np.bincount(index, minlength=nbins)
    return Record(
        "histogram",
        edges=Vector(edges),
        counts=Vector(counts, dtype=np.int64),
        dropped=nonfinite + n_below + n_above,
        nonfinite=nonfinite,
        below=n_below,
        above=n_above,
    )


@op("kde", points=Param(integer(2), DEFAULT_KDE_POINTS), range=Param(optional(range_param), None))
def _kde(x, p, ctx):
    """Gaussian kernel density (scipy gaussian_kde, Scott's rule) of each column of a 1-D or 2-D array.

    Evaluated on `points` (default 100) evenly spaced x over `range` (shared by
    all columns) or, by default, each column's min..max padded by 3 bandwidths.
    NaN/Inf are ignored; columns with more than max_kde_samples finite values
    are subsampled evenly. Result: {"columns": [{"column", "x", "density",
    "bandwidth", "samples"} or {"column", "note"} for a degenerate column]}.
    """
    if x.ndim > 2:
        raise ctx.error("needs a 1-D or 2-D [samples, columns] array, not %d-D; reshape or flatten first" % x.ndim)
    data = x.reshape(-1, 1) if x.ndim < 2 else x
    rows, ncols = data.shape
    limits = ctx.limits
    if ncols > limits.max_kde_columns:
        raise ctx.limit("max_kde_columns", ncols, "%d columns" % ncols)
    points = p["points"]
    if points > limits.max_kde_points:
        raise ctx.limit("max_kde_points", points, "%d points" % points, field="points")
    # Evaluating n samples at m points costs n * m kernel terms per column.
    ctx.charge(ncols * min(rows, limits.max_kde_samples) * points)
    columns = [_kde_column(data[:, j], points, p["range"], limits.max_kde_samples) for j in range(ncols)]
    for j, entry in enumerate(columns):
        entry["column"] = j
    return Record("kde", columns=columns)


def _kde_column(column, points, grid_range, max_samples):
    values = column.astype(np.float64)
    values = values[np.isfinite(values)]
    entry: dict[str, Any] = {}
    if values.size > max_samples:
        # Evenly spaced picks: deterministic, and spread over the whole column.
        pick = np.linspace(0, values.size - 1, max_samples).astype(np.int64)
        entry["note"] = "subsampled %d of %d finite values" % (max_samples, values.size)
        values = values[pick]
    if values.size < 2:
        return {"note": "fewer than 2 finite values: no density"}
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return {"note": "constant column (every value is %r): no density" % lo}
    # Estimate on values scaled to [-1, 1] so that huge magnitudes cannot overflow.
    centre, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    precision_note = {"note": "values span %r..%r, beyond float64 precision for a density" % (lo, hi)}
    if half == 0:  # a spread of one subnormal step halves to 0
        return precision_note
    # Imported here, not at the top: scipy.stats alone costs ~0.4 s to import.
    from scipy import stats as scipy_stats

    try:
        kde = scipy_stats.gaussian_kde((values - centre) / half)
        bandwidth = math.sqrt(float(kde.covariance[0, 0]))
        if grid_range is None:
            grid = np.linspace(-1 - 3 * bandwidth, 1 + 3 * bandwidth, points)
            xs = centre + half * grid
        else:
            xs = np.linspace(grid_range[0], grid_range[1], points)
            grid = (xs - centre) / half
        density = kde(grid) / half
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as error:
        return {"note": "degenerate column, no density: %s" % error}
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(density))):
        return precision_note
    entry.update(x=Vector(xs), density=Vector(density), bandwidth=bandwidth * half, samples=int(values.size))
    return entry
