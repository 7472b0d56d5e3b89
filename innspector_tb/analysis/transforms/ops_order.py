"""Ops that order (topk, sort) and project (pca), and the production rules that reshape the table
itself (branch, merge, select_columns)."""

import numpy as np

from innspector_tb.analysis.transforms.grammar import (
    Param,
    Record,
    Vector,
    boolean,
    choice,
    column,
    integer,
    list_of,
    op,
    optional,
)

# Randomized PCA: Halko et al. range finder, fixed seed so answers are stable.
OVERSAMPLING = 10
POWER_ITERATIONS = 3
RANDOMIZED_PASSES = 5 + 2 * POWER_ITERATIONS  # passes over the data, for the work budget


# ---------------------------------------------------------------------------
# Ordering.


@op(
    "topk",
    k=Param(integer(1)),
    axis=Param(optional(integer()), -1),
    by=Param(choice("value", "abs"), "value"),
    largest=Param(boolean, True),
)
def _topk(x, p, ctx):
    """The `k` largest (or smallest, `largest`: false) entries along `axis` (default -1; null = flattened).

    `by`: "value" or "abs" (magnitude). k beyond the axis length keeps all.
    NaN ranks last. Ties keep index order. Result: {"values", "indices"}
    (indices along the axis; into the flattened array for axis null).
    """
    if p["axis"] is None:
        data, axis = x.reshape(-1), 0
    else:
        data, axis = x, ctx.axis(p["axis"], x.ndim)
    moved = np.moveaxis(data, axis, -1)
    key = moved.astype(np.float64)
    if p["by"] == "abs":
        key = np.abs(key)
    if p["largest"]:
        key = -key  # -NaN is NaN, so NaN still sorts last
    ctx.charge(data.size)
    order = np.argsort(key, axis=-1, kind="stable")[..., : p["k"]]
    values = np.take_along_axis(moved, order, axis=-1)
    return Record("topk", values=np.moveaxis(values, -1, axis), indices=np.moveaxis(order, -1, axis))


@op("sort", axis=Param(optional(integer()), -1), descending=Param(boolean, False))
def _sort(x, p, ctx):
    """Sorts along `axis` (default -1; null = flattened), ascending or `descending`; NaN last either way."""
    if p["axis"] is None:
        data, axis = x.reshape(-1), 0
    else:
        data, axis = x, ctx.axis(p["axis"], x.ndim)
    ctx.charge(data.size)
    if not p["descending"]:
        return np.sort(data, axis=axis)
    if data.dtype.kind == "f":
        return -np.sort(-data, axis=axis)
    return np.flip(np.sort(data, axis=axis), axis=axis)  # ints: -x could overflow


# ---------------------------------------------------------------------------
# Projection.


@op("pca", components=Param(integer(1, 100), 2), method=Param(choice("auto", "exact", "randomized"), "auto"))
def _pca(x, p, ctx):
    """Principal component projection of a 2-D [samples, features] array.

    Result: {"coordinates": [samples, components], "explained_variance_ratio",
    "method", "samples_used", "note"?}. Samples with NaN/Inf are left out of
    the fit and get null coordinates. Components beyond the data's rank (e.g.
    fewer samples than components) are 0. `method` "auto" uses numpy's exact
    SVD when it fits the work budget, else a randomized SVD (fixed seed).
    Each component's sign makes its largest loading positive.
    """
    if x.ndim != 2:
        raise ctx.error("needs a 2-D [samples, features] array, not %d-D; reshape or flatten first" % x.ndim)
    samples, features = x.shape
    if features > ctx.limits.max_pca_features:
        raise ctx.limit("max_pca_features", features, "%d features" % features)
    k = p["components"]
    values = x.astype(np.float64)
    rows = np.isfinite(values).all(axis=1)
    n = int(rows.sum())
    exact_cost = n * features * min(n, features)  # an SVD passes over the data ~min(n, f) times
    method = p["method"]
    if method == "auto":
        method = "exact" if exact_cost <= ctx.limits.max_work_elements else "randomized"
    ctx.charge(samples * k + (exact_cost if method == "exact" else n * features * RANDOMIZED_PASSES))
    coordinates = np.zeros((samples, k))
    coordinates[~rows] = np.nan
    ratio = np.zeros(k)
    result = Record(
        "pca", coordinates=coordinates, explained_variance_ratio=Vector(ratio), method=method, samples_used=n
    )
    if n < 2 or features == 0:
        result["note"] = "fewer than 2 samples with finite features: no direction of variance"
        return result
    data = values[rows]
    scale = float(np.abs(data).max())  # fit scaled data: squares of 1e200 would overflow
    if scale == 0:
        result["note"] = "all samples are identical: no direction of variance"
        return result
    data /= scale
    centred = data - data.mean(axis=0)
    total = float(np.sum(centred * centred))
    if not total > 0:
        result["note"] = "all samples are identical: no direction of variance"
        return result
    try:
        if method == "exact":
            _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        else:
            singular, vt = _randomized_svd(centred, min(k + OVERSAMPLING, n, features))
    except np.linalg.LinAlgError as error:
        raise ctx.error("the SVD did not converge (%s)" % error) from None
    rank = int(np.sum(singular > singular[0] * max(n, features) * np.finfo(np.float64).eps))
    r = min(k, rank)
    vt = vt[:r]
    largest = np.argmax(np.abs(vt), axis=1)
    signs = np.sign(vt[np.arange(r), largest])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    coordinates[rows, :r] = (centred @ vt.T) * scale
    ratio[:r] = singular[:r] ** 2 / total
    if r < k:
        result["note"] = "the data spans only %d dimension(s): components %d..%d are 0" % (rank, r + 1, k)
    return result


def _randomized_svd(a, width):
    """Top singular values and right vectors of `a` via a randomized range finder (Halko et al. 2011)."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], width)))
    for _ in range(POWER_ITERATIONS):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    _, singular, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return singular, vt


# ---------------------------------------------------------------------------
# Production rules: operate on the table itself.


@op("branch", kind="table", **{"from": Param(column, "value"), "to": Param(list_of(column, min_len=1))})
def _branch(table, p, ctx):
    """Copies column `from` (default "value") into each column of `to`, for separate processing."""
    source = ctx.column(p["from"], field="from")
    for name in p["to"]:
        table[name] = source  # no copy needed: ops never modify arrays in place


@op(
    "merge",
    kind="table",
    columns=Param(list_of(column, min_len=1)),
    out=Param(column),
    how=Param(choice("stack", "concat"), "stack"),
)
def _merge(table, p, ctx):
    """Merges array `columns` into column `out`: "stack" (default) along a new first axis (same shapes),
    or "concat" along axis 0 (same shapes after the first axis)."""
    arrays = [ctx.array(name, field="columns") for name in p["columns"]]
    first = arrays[0]
    for name, array in zip(p["columns"], arrays, strict=True):
        if p["how"] == "stack" and array.shape != first.shape:
            raise ctx.error(
                "cannot stack '%s' of shape %s with '%s' of shape %s"
                % (name, list(array.shape), p["columns"][0], list(first.shape)),
                field="columns",
            )
        if p["how"] == "concat" and (array.ndim == 0 or array.shape[1:] != first.shape[1:]):
            raise ctx.error(
                "cannot concatenate '%s' of shape %s with '%s' of shape %s along axis 0"
                % (name, list(array.shape), p["columns"][0], list(first.shape)),
                field="columns",
            )
    ctx.charge(2 * sum(array.size for array in arrays))
    table[p["out"]] = np.stack(arrays) if p["how"] == "stack" else np.concatenate(arrays)


@op("select_columns", kind="table", columns=Param(list_of(column, min_len=1)))
def _select_columns(table, p, ctx):
    """Keeps only `columns`, in that order (e.g. to drop "label" from the output)."""
    kept = {name: ctx.column(name, field="columns") for name in p["columns"]}
    table.clear()
    table.update(kept)
