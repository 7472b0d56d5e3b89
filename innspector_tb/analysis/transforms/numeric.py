"""Numeric helpers shared by the ops: NaN-aware reductions over any set of axes.

Everything is computed in float64 and returned in the input's float dtype
(float64 for ints and bools), so float32 data stays small.
"""

import math

import numpy as np


def float_dtype(x):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


def rows(x, axes):
    """x as float64 [kept elements, reduced elements], plus the kept shape."""
    kept = [i for i in range(x.ndim) if i not in axes]
    kept_shape = tuple(x.shape[i] for i in kept)
    reduced = math.prod(x.shape[i] for i in axes)
    flat = np.transpose(x.astype(np.float64, copy=False), kept + list(axes))
    return flat.reshape(math.prod(kept_shape), reduced), kept_shape


def reduce_rows(flat, how, qs=None):
    """NaN-aware reduction of each row (numpy's nan* functions, without their warnings)."""
    m, n = flat.shape
    nan = np.isnan(flat)
    count = n - nan.sum(axis=1)
    if how == "count":
        return count
    if how == "sum":
        return np.where(nan, 0.0, flat).sum(axis=1)
    if n == 0:
        return np.full((len(qs), m) if how == "quantiles" else m, np.nan)
    if how == "min":
        return np.fmin.reduce(flat, axis=1)
    if how == "max":
        return np.fmax.reduce(flat, axis=1)
    if how in ("mean", "var", "std"):
        mean = np.where(nan, 0.0, flat).sum(axis=1) / count
        if how == "mean":
            return mean
        deviation = np.where(nan, 0.0, flat - mean[:, None])
        var = (deviation * deviation).sum(axis=1) / count
        return var if how == "var" else np.sqrt(var)
    if how == "median":
        return _quantile_rows(flat, count, [0.5])[0]
    return _quantile_rows(flat, count, qs)


def _quantile_rows(flat, count, qs):
    """Linear-interpolation quantiles ignoring NaN, like np.nanquantile."""
    ordered = np.sort(flat, axis=1)  # NaN sort last
    rows = np.arange(flat.shape[0])
    last = np.maximum(count - 1, 0)
    result = np.empty((len(qs), flat.shape[0]))
    for i, q in enumerate(qs):
        position = q * last
        lo = np.floor(position).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        fraction = position - lo
        a, b = ordered[rows, lo], ordered[rows, hi]
        value = np.where((fraction == 0) | (a == b), a, a + (b - a) * fraction)
        result[i] = np.where(count > 0, value, np.nan)
    return result


def reduce(x, axes, how, qs=None):
    """Reduces x over `axes` (a tuple); quantiles get a leading axis of len(qs)."""
    flat, kept_shape = rows(x, axes)
    reduced = reduce_rows(flat, how, qs)
    if how == "count":
        return reduced.reshape(kept_shape).astype(np.int64)
    shape = ((len(qs),) if how == "quantiles" else ()) + kept_shape
    return reduced.reshape(shape).astype(float_dtype(x))
