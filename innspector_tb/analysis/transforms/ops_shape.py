"""Ops that select and reshape (slice, select, classes, flatten, reshape, transpose, get) and the
element-wise ones (abs, log, clip, normalize)."""

import math

import numpy as np

from innspector_tb.analysis.transforms import numeric
from innspector_tb.analysis.transforms.grammar import (
    MAX_NDIM,
    Param,
    Vector,
    axes_param,
    choice,
    column,
    integer,
    list_of,
    number,
    op,
    optional,
    slice_entry,
    step_param,
)

# ---------------------------------------------------------------------------
# Selection and shape.


@op(
    "slice",
    slices=Param(optional(list_of(slice_entry, max_len=MAX_NDIM)), None),
    axis=Param(optional(integer()), None),
    start=Param(optional(integer()), None),
    stop=Param(optional(integer()), None),
    step=Param(optional(step_param), None),
)
def _slice(x, p, ctx):
    """Basic slicing, like numpy's x[a:b:c, ...].

    `slices` has one entry per leading axis: null (whole axis), an int (picks
    one index and drops the axis) or [start, stop] / [start, stop, step], each
    part an int or null. Or, for one axis: `axis` (default 0) with
    `start`/`stop`/`step`. The "label" column is not sliced with it: only
    `classes` filters labels in sync.
    """
    single = any(p[key] is not None for key in ("axis", "start", "stop", "step"))
    if p["slices"] is not None and single:
        raise ctx.error("give either 'slices' or 'axis' with 'start'/'stop'/'step', not both", field="slices")
    if p["slices"] is None and not single:
        raise ctx.error("needs 'slices' (one entry per axis) or 'axis' with 'start'/'stop'/'step'", field="slices")
    if single:
        axis = ctx.axis(p["axis"] or 0, x.ndim)
        entries = [None] * axis + [(p["start"], p["stop"], p["step"])]
    else:
        entries = p["slices"]
    if len(entries) > x.ndim:
        raise ctx.error("%d slice entries for a %d-D array" % (len(entries), x.ndim), field="slices")
    index = []
    for axis, entry in enumerate(entries):
        size = x.shape[axis]
        if entry is None:
            index.append(slice(None))
        elif type(entry) is int:
            if not -size <= entry < size:
                raise ctx.error("index %d out of range for axis %d of length %d" % (entry, axis, size), field="slices")
            index.append(entry)
        else:
            index.append(slice(*entry))
    return x[tuple(index)]


@op("select", axis=Param(integer(), 0), indices=Param(list_of(integer())))
def _select(x, p, ctx):
    """Picks `indices` (ints, negative from the end, repeats allowed) along `axis` (default 0)."""
    axis = ctx.axis(p["axis"], x.ndim)
    size = x.shape[axis]
    indices = np.asarray(p["indices"], dtype=np.int64)
    bad = (indices < -size) | (indices >= size)
    if bad.any():
        raise ctx.error(
            "index %d out of range for axis %d of length %d" % (indices[bad][0], axis, size), field="indices"
        )
    ctx.charge(math.prod(x.shape[:axis] + x.shape[axis + 1 :]) * len(indices))
    return np.take(x, indices, axis=axis)


@op("classes", classes=Param(list_of(integer(), min_len=1)))
def _classes(x, p, ctx):
    """Keeps the samples (first axis) whose label is in `classes`; filters "label" in sync."""
    labels = ctx.labels(x)
    keep = np.isin(labels, np.asarray(p["classes"], dtype=np.int64))
    ctx.table["label"] = ctx.table["label"][keep]
    return x[keep]


@op("flatten", start_axis=Param(integer(), 0))
def _flatten(x, p, ctx):
    """Flattens the axes from `start_axis` (default 0: everything) into one."""
    if x.ndim == 0:
        return x.reshape(1)
    start = ctx.axis(p["start_axis"], x.ndim, field="start_axis")
    return x.reshape(x.shape[:start] + (math.prod(x.shape[start:]),))


@op("reshape", shape=Param(list_of(integer(-1), max_len=MAX_NDIM)))
def _reshape(x, p, ctx):
    """Reshapes to `shape` (same number of elements; at most one -1, inferred)."""
    shape = p["shape"]
    if shape.count(-1) > 1:
        raise ctx.error("shape %s has more than one -1" % shape, field="shape")
    known = math.prod(n for n in shape if n != -1)  # Python ints: no overflow for huge shapes
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ctx.error(
                "cannot reshape %d elements (shape %s) into %s" % (x.size, list(x.shape), shape), field="shape"
            )
        shape = [x.size // known if n == -1 else n for n in shape]
    elif known != x.size:
        raise ctx.error("cannot reshape %d elements (shape %s) into %s" % (x.size, list(x.shape), shape), field="shape")
    return x.reshape(shape)


@op("transpose", axes=Param(optional(list_of(integer(), max_len=MAX_NDIM)), None))
def _transpose(x, p, ctx):
    """Permutes the axes to `axes` (a permutation; default: reversed)."""
    if p["axes"] is None:
        return x.transpose()
    axes = [ctx.axis(a, x.ndim, field="axes") for a in p["axes"]]
    if sorted(axes) != list(range(x.ndim)):
        raise ctx.error("axes %s are not a permutation of the %d axes" % (p["axes"], x.ndim), field="axes")
    return x.transpose(axes)


@op("get", kind="record", key=Param(column))
def _get(record, p, ctx):
    """Takes one array field of a JSON-object result, e.g. pca "coordinates" or group_by_class "3"."""
    key = p["key"]
    if key not in record:
        raise ctx.error(
            "a %s result has no field '%s'; fields: %s" % (record.kind, key, ", ".join(record)[:200]), field="key"
        )
    value = record[key]
    if isinstance(value, Vector):
        return value.array
    if not isinstance(value, np.ndarray):
        raise ctx.error("field '%s' of a %s result is not an array" % (key, record.kind), field="key")
    return value


# ---------------------------------------------------------------------------
# Element-wise.


@op("abs")
def _abs(x, p, ctx):
    """Absolute value, element-wise."""
    return np.abs(x)


@op("log", base=Param(choice("e", 2, 10), "e"))
def _log(x, p, ctx):
    """Logarithm in `base` "e" (default), 2 or 10; non-positive values become NaN (null), never an error."""
    values = x.astype(np.float64)
    result = np.full(values.shape, np.nan)
    log = {"e": np.log, 2: np.log2, 10: np.log10}[p["base"]]
    log(values, out=result, where=values > 0)
    return result.astype(numeric.float_dtype(x))


@op("clip", min=Param(optional(number()), None), max=Param(optional(number()), None))
def _clip(x, p, ctx):
    """Limits values to [`min`, `max`] (either may be null for no bound). NaN stays NaN."""
    lo, hi = p["min"], p["max"]
    if lo is None and hi is None:
        raise ctx.error("needs 'min' or 'max'", field="min")
    if lo is not None and hi is not None and lo > hi:
        raise ctx.error("min %g is greater than max %g" % (lo, hi), field="min")
    # float64 so that bounds outside float32's range cannot overflow.
    return np.clip(x.astype(np.float64), lo, hi).astype(numeric.float_dtype(x))


@op("normalize", method=Param(choice("minmax", "zscore", "l2")), axis=Param(axes_param, None))
def _normalize(x, p, ctx):
    """Rescales over `axis` (int, list, or null = whole array), ignoring NaN.

    "minmax": to [0, 1]; "zscore": zero mean, unit std; "l2": unit Euclidean
    norm. A constant (or all-zero, for l2) slice maps to 0 instead of NaN.
    """
    axes = ctx.axes(p["axis"], x.ndim)
    values = x.astype(np.float64)
    if values.size == 0:
        return values.astype(numeric.float_dtype(x))
    ctx.charge(2 * x.size)
    keep = tuple(1 if i in axes else n for i, n in enumerate(x.shape))

    def stat(data, how):
        return numeric.reduce_rows(numeric.rows(data, axes)[0], how).reshape(keep)

    method = p["method"]
    if method == "minmax":
        centre = stat(values, "min")
        scale = stat(values, "max") - centre
    elif method == "zscore":
        centre = stat(values, "mean")
        scale = stat(values, "std")
    else:
        centre = 0.0
        scale = np.sqrt(stat(values * values, "sum"))
    result = np.array(values - centre)  # an array even for 0-d input, so `out=` works
    np.divide(result, scale, out=result, where=scale > 0)
    return result.astype(numeric.float_dtype(x))
