"""The device half of the unit statistics (capture/unit_stats.py): per-batch partial results in keras.ops.

Traceable inside the probe pass's `tf.function` (or a `jax.jit`): for one layer output of one batch,
`batch_moments` returns small, mergeable partial results, so bulk activations never leave the device
for statistics. The host half (`unit_stats.Accumulator`) merges and finalizes them.
"""

from keras import backend, ops


def _as_batch_positions_units(x):
    """Reshapes [batch, ...] to [batch, positions, units] (rank 1: one unit, one position)."""
    if getattr(x.shape, "rank", 0) is None:  # a TensorFlow shape of unknown rank
        raise ValueError("batch_moments needs a tensor of known rank (units are the last axis)")
    rank = len(x.shape)
    if rank == 0:
        raise ValueError("batch_moments needs a [batch, ...] tensor, got a scalar")
    if rank == 1:
        return ops.reshape(x, (-1, 1, 1)), rank
    units = x.shape[-1]
    if units is None:
        raise ValueError("batch_moments needs a static units (last) axis, got shape %s" % (x.shape,))
    batch = ops.shape(x)[0]
    return ops.reshape(x, (batch, -1, units)), rank


# Per-unit reductions of [batch, positions, units] go in two stages, positions
# then batch: on CPU this is 2-3x faster than one reduction over both axes.
def _sum(t):
    return ops.sum(ops.sum(t, axis=1), axis=0)


def _count(mask):
    # float32 partial counts are exact below 2**24 positions; the batch stage is int32.
    return ops.sum(ops.cast(ops.sum(ops.cast(mask, "float32"), axis=1), "int32"), axis=0)


def _min(t):
    return ops.min(ops.min(t, axis=1), axis=0)


def _max(t):
    return ops.max(ops.max(t, axis=1), axis=0)


def _static_or_dynamic_length(t):
    length = t.shape[0]
    return ops.shape(t)[0] if length is None else length


def _bincount(k, length):
    """Counts of the int32 ids k in [0, length) as int32 [length], traceable.

    keras.ops.bincount has no `maxlength`: its output length depends on the
    data, so XLA cannot compile it and JAX cannot trace it at all. TensorFlow
    gets its bincount op with the length given (fast, XLA-compilable); other
    backends a segment sum (`length` must then be static). Ids outside
    [0, length) must not occur.
    """
    if backend.backend() == "tensorflow":
        import tensorflow as tf

        # The raw op takes the length as is (tf.math.bincount derives it from max(k)).
        return tf.raw_ops.DenseBincount(input=k, size=length, weights=tf.zeros([0], tf.int32))
    return ops.segment_sum(ops.ones_like(k), k, num_segments=length)


def _bin_index(flat, edges, exact, finite):
    """Bin index per value: 0 under, 1..bins the bins, n_edges over, n_edges + 1 not finite."""
    n_edges = _static_or_dynamic_length(edges)
    low, high = edges[0], edges[-1]
    if exact:
        k = ops.cast(ops.searchsorted(edges, flat, side="right"), "int32")
        k = ops.where(ops.equal(flat, high), n_edges - 1, k)
    else:
        # Equal-width edges: the bin follows from arithmetic. For values at
        # or above edges[0] the product is >= 0, so the int cast is a floor.
        scale = ops.cast(n_edges - 1, flat.dtype) / (high - low)
        k = ops.cast((flat - low) * scale, "int32") + 1
        k = ops.minimum(k, n_edges - 1)  # the last bin is closed (and absorbs rounding)
        k = ops.where(ops.less(flat, low), 0, k)
        k = ops.where(ops.greater(flat, high), n_edges, k)
    if finite is not None:
        k = ops.where(finite, k, n_edges + 1)
    return k, n_edges


def _histogram(flat, edges, exact, finite):
    edges = ops.cast(edges, flat.dtype)
    k, n_edges = _bin_index(flat, edges, exact, finite)
    counts = _bincount(k, n_edges + 2)
    return counts[1:n_edges], counts[0], counts[n_edges]


def _clamped_histogram(flat, edges, low, high):
    """Histogram of all-finite values over equal-width edges, in fewer passes than `_histogram`.

    Values are clamped into the bins (four elementwise ops and the bincount, against seven), and the
    values outside the edges, which landed in the first or last bin, are counted and taken out again
    only when the batch's min or max says there are any (the usual batch has none: its edges were
    fixed to cover step 0 and are extended when values leave them).
    """
    edges = ops.cast(edges, flat.dtype)
    n_edges = _static_or_dynamic_length(edges)
    bins = n_edges - 1
    first, last = edges[0], edges[-1]
    scale = ops.cast(bins, flat.dtype) / (last - first)
    # The upper clamp keeps the last edge (and rounding just below it) in the last bin, closed as numpy's.
    t = ops.clip((flat - first) * scale, 0.0, ops.cast(bins, flat.dtype) - 0.5)
    counts = _bincount(ops.cast(t, "int32"), bins)
    zero = ops.convert_to_tensor(0, "int32")
    under = ops.cond(ops.less(low, first), lambda: ops.sum(ops.cast(ops.less(flat, first), "int32")), lambda: zero)
    over = ops.cond(ops.greater(high, last), lambda: ops.sum(ops.cast(ops.greater(flat, last), "int32")), lambda: zero)
    counts = counts - _ends(under, over, bins)
    return counts, under, over


def _ends(under, over, bins):
    """[under, 0, ..., 0, over] (bins long; one bin: under + over), to take out of the clamped counts."""
    index = ops.arange(bins)
    return ops.where(ops.equal(index, 0), under, 0) + ops.where(ops.equal(index, bins - 1), over, 0)


def batch_histogram(x, edges, exact=False):
    """Histogram counts of the finite values of `x` over fixed `edges` (traceable).

    Args:
      x: a float tensor of any shape.
      edges: 1-D ascending tensor of bin edges, len = bins + 1. Bins are
        [e_i, e_i+1), the last one closed, like numpy's.
      exact: False (default) takes the bins as equal-width (`HistogramEdges`
        makes them so) and finds a value's bin by arithmetic: under, over and
        the last edge are exact comparisons, but a value within float rounding
        of an inner edge may land in the neighbouring bin. True uses a binary
        search (any ascending edges, exactly numpy's bins; about 6x slower on CPU).
    Returns:
      (counts int32 [bins], under, over int32 scalars): finite values below
      edges[0] / above edges[-1]; NaN and +-Inf are counted nowhere.
    """
    flat = ops.reshape(ops.convert_to_tensor(x), (-1,))
    if backend.standardize_dtype(flat.dtype) not in ("float32", "float64"):
        flat = ops.cast(flat, "float32")
    return _histogram(flat, edges, exact, ops.isfinite(flat))


def _finite_branch(xr, total, count, shift, edges, exact):
    """All values finite: no masks."""
    if shift is None:
        shift = total / ops.cast(ops.maximum(count, 1), total.dtype)
    centred = xr - shift
    c2 = centred * centred
    low = _min(xr)
    # Non-negative layers (ReLU, sigmoid, softmax: the usual case) have sum |x| = sum x.
    abs_sum = ops.cond(ops.all(ops.greater_equal(low, 0)), lambda: total, lambda: _sum(ops.abs(xr)))
    result = {
        "finite_count": ops.full(ops.shape(total), count, dtype="int32"),
        "nan_count": ops.zeros(ops.shape(total), dtype="int32"),
        "zero_count": _count(ops.equal(xr, 0)),
        "shift": shift,
        "sum1": _sum(centred),
        "sum2": _sum(c2),
        "sum3": _sum(c2 * centred),
        "sum4": _sum(c2 * c2),
        "abs_sum": abs_sum,
        "min": low,
        "max": _max(xr),
    }
    if edges is not None:
        flat = ops.reshape(xr, (-1,))
        if exact:
            result["hist"], result["under"], result["over"] = _histogram(flat, edges, exact, None)
        else:
            result["hist"], result["under"], result["over"] = _clamped_histogram(
                flat, edges, ops.min(low), ops.max(result["max"])
            )
    return result


def _masked_branch(xr, shift, edges, exact):
    """Some NaN or +-Inf: every statistic over finite values only."""
    finite = ops.isfinite(xr)
    zeros = ops.zeros_like(xr)
    finite_count = _count(finite)
    if shift is None:
        shift = _sum(ops.where(finite, xr, zeros)) / ops.cast(ops.maximum(finite_count, 1), xr.dtype)
    centred = ops.where(finite, xr - shift, zeros)
    c2 = centred * centred
    result = {
        "finite_count": finite_count,
        "nan_count": _count(ops.isnan(xr)),
        "zero_count": _count(ops.equal(xr, 0)),
        "shift": shift,
        "sum1": _sum(centred),
        "sum2": _sum(c2),
        "sum3": _sum(c2 * centred),
        "sum4": _sum(c2 * c2),
        "abs_sum": _sum(ops.where(finite, ops.abs(xr), zeros)),
        "min": _min(ops.where(finite, xr, float("inf"))),
        "max": _max(ops.where(finite, xr, float("-inf"))),
    }
    if edges is not None:
        flat = ops.reshape(xr, (-1,))
        result["hist"], result["under"], result["over"] = _histogram(flat, edges, exact, ops.reshape(finite, (-1,)))
    return result


def batch_moments(x, labels=None, num_classes=0, edges=None, shift=None, dtype="float32", exact_histogram=False):
    """Small, mergeable statistics of one layer output for one batch (traceable).

    Args:
      x: a layer output [batch, ...], float. Units are the last axis; [batch]
        is one unit. The other axes are positions (pooled over).
      labels: optional int class ids [batch] (or [batch, 1]; not one-hot:
        see `stats.labels_to_classes`); -1 or an id outside [0, num_classes)
        counts for no class.
      num_classes: a Python int; 0 (or labels None) skips the per-class sums.
      edges: optional 1-D ascending tensor of equal-width histogram edges
        (bins + 1), e.g. `HistogramEdges.edges`; see `batch_histogram`.
      shift: optional per-unit [units] (or scalar) shift of the power sums.
        None (the default) uses this batch's per-unit mean over finite values,
        which keeps float32 sums accurate whatever the mean. A given shift
        must be close to the unit means (within a few std) for that.
      dtype: dtype of the sums, "float32" (default; accurate with the shift)
        or "float64" where the backend has it (TensorFlow; JAX only with x64).
      exact_histogram: see `batch_histogram`'s `exact`.
    Returns:
      a dict of tensors, all small; `Accumulator.add` consumes it:
        rank: int32 scalar, the rank of x (the host needs it for the unit fields)
        count: int32 scalar, elements per unit in this batch (batch x positions)
        finite_count, nan_count, zero_count: int32 [units] (zeros: exact zeros)
        shift: [units]; sum1..sum4: [units], sums over finite values of (x - shift)^k
        abs_sum: [units], sum of |x| over finite values
        min, max: [units] over finite values (+inf / -inf for a unit with none)
        pooled: float32 [batch, units], the mean over positions (NaN and Inf
          propagate, as in `stats.per_unit`)
        with labels: class_sum float32 [num_classes, units] (sums of pooled by
          label), class_count int32 [num_classes]
        with edges: hist int32 [bins], under, over int32 scalars, edges
    The whole-layer moments are not summed separately: the host combines them
    exactly from the per-unit ones. All values finite (the usual case) takes
    a branch without masks, chosen by one scalar test on the device.
    """
    x = ops.convert_to_tensor(x)
    if backend.standardize_dtype(x.dtype) not in ("float32", "float64"):
        x = ops.cast(x, "float32")  # float16 / bfloat16 / ints: sums in float32
    xr, rank = _as_batch_positions_units(x)
    if backend.standardize_dtype(xr.dtype) != dtype:
        xr = ops.cast(xr, dtype)
    if shift is not None:
        shift = ops.broadcast_to(ops.cast(ops.convert_to_tensor(shift), dtype), (xr.shape[-1],))
    positions = ops.shape(xr)[1]
    count = ops.cast(ops.shape(xr)[0] * positions, "int32")
    row_sum = ops.sum(xr, axis=1)  # [batch, units]
    total = ops.sum(row_sum, axis=0)
    # A finite sum means every value is finite (NaN and Inf propagate); a sum
    # that overflows only sends a finite batch down the masked branch.
    all_finite = ops.all(ops.isfinite(ops.sum(total)))
    result = ops.cond(
        all_finite,
        lambda: _finite_branch(xr, total, count, shift, edges, exact_histogram),
        lambda: _masked_branch(xr, shift, edges, exact_histogram),
    )
    result["rank"] = ops.convert_to_tensor(rank, "int32")
    result["count"] = count
    result["pooled"] = ops.cast(row_sum / ops.cast(positions, dtype), "float32")
    if labels is not None and num_classes:
        ids = ops.cast(ops.reshape(ops.convert_to_tensor(labels), (-1,)), "int32")
        valid = ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, num_classes))
        # Ids outside the classes go to an extra segment that is dropped:
        # portable where segment_sum would fail (TF on CPU) or drop them (JAX).
        ids = ops.where(valid, ids, num_classes)
        result["class_sum"] = ops.segment_sum(result["pooled"], ids, num_segments=num_classes + 1)[:num_classes]
        result["class_count"] = _bincount(ids, num_classes + 1)[:num_classes]
    if edges is not None:
        result["edges"] = ops.convert_to_tensor(edges)
    return result
