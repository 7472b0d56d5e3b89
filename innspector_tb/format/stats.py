"""Descriptive statistics of one unit of analysis: pure numpy, no I/O.

These small summaries go into the event file at every step, so the backend can
rank units (interestingness) and draw distributions over training without
opening the bulk checkpoints.
"""

import numpy as np

# Order of the values in a STATISTICS summary (docs/format.md). Appending is
# compatible; reordering needs a new plugin-data version.
STAT_FIELDS = (
    "count",  # all elements
    "finite_count",  # elements that are neither NaN nor +-Inf
    "nan_count",
    "inf_count",
    "min",  # min..zero_fraction are over finite elements
    "max",
    "mean",
    "std",
    "skew",  # Fisher skewness (0 for a constant)
    "kurtosis",  # excess kurtosis (0 for a normal; 0 for a constant)
    "mean_abs",
    "l2_norm",
    "zero_fraction",  # exact zeros: dead ReLU units show here
    "dead_unit_fraction",  # units (last axis) whose finite values are all exactly 0
    "constant_unit_fraction",  # units (last axis) whose finite values are all equal (std 0)
)

DEFAULT_BINS = 30

_DEAD = STAT_FIELDS.index("dead_unit_fraction")
_CONSTANT = STAT_FIELDS.index("constant_unit_fraction")


def describe(values, units_axis=-1):
    """Returns the STAT_FIELDS of an array as a float64 vector (NaN where undefined).

    The unit fields (`dead_unit_fraction`, `constant_unit_fraction`) take the
    units on `units_axis` (the last: a neuron, a channel, a feature) and pool
    every other axis: for activations [samples, ..., units], the fraction of
    units whose finite values over the probe are all exactly zero / all
    equal. They are computed for any array of rank >= 2, weights included:
    for a kernel [..., out] they read as the fraction of output units whose
    incoming weights are all zero (pruned) / all equal (symmetry never
    broken). They are NaN for rank < 2 (a bias, a scalar, a [samples]
    output: no unit axis to tell apart from the samples), for
    `units_axis=None`, and when no unit has a finite value. Units without
    any finite value are left out of both fractions.
    """
    array = np.asarray(values)
    x = array.ravel()
    count = x.size
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    nan_count = 0 if all_finite else int(np.isnan(x).sum())
    inf_count = 0 if all_finite else int(count - finite.sum() - nan_count)
    if not all_finite:
        x = x[finite]
    n = x.size
    result = np.full(len(STAT_FIELDS), np.nan)
    result[0:4] = (count, n, nan_count, inf_count)
    if n == 0:
        return result
    x = x.astype(np.float64, copy=False)
    mean = x.mean()
    centred = x - mean
    sq = centred * centred
    m2 = sq.mean()
    if m2 > 0:
        m3 = (sq * centred).mean()
        m4 = (sq * sq).mean()
        skew = m3 / m2**1.5
        kurtosis = m4 / (m2 * m2) - 3.0
    else:
        skew = kurtosis = 0.0
    abs_x = np.abs(x)
    result[4:13] = (  # min .. zero_fraction
        x.min(),
        x.max(),
        mean,
        np.sqrt(m2),
        skew,
        kurtosis,
        abs_x.mean(),
        np.sqrt(np.dot(x, x)),
        np.count_nonzero(x == 0) / n,
    )
    if units_axis is not None and array.ndim >= 2:
        result[_DEAD], result[_CONSTANT] = _unit_fractions(array, units_axis, all_finite)
    return result


def _unit_fractions(array, units_axis, all_finite):
    """(dead_unit_fraction, constant_unit_fraction) over the units on `units_axis`."""
    a = np.moveaxis(array, units_axis, -1)
    a = a.reshape(-1, a.shape[-1])
    if a.dtype.kind not in "fc":
        a = a.astype(np.float64)
    if all_finite:
        has = np.ones(a.shape[1], dtype=bool)
        low, high = a.min(axis=0), a.max(axis=0)
    else:
        finite = np.isfinite(a)
        has = finite.any(axis=0)
        low = np.where(finite, a, np.inf).min(axis=0)
        high = np.where(finite, a, -np.inf).max(axis=0)
    units = np.count_nonzero(has)
    if units == 0:
        return np.nan, np.nan
    constant = has & (low == high)
    dead = constant & (low == 0)
    return np.count_nonzero(dead) / units, np.count_nonzero(constant) / units


def as_dict(stat_vector):
    """Maps a STATISTICS vector to {field: value}, tolerating shorter old vectors."""
    return {name: float(v) for name, v in zip(STAT_FIELDS, np.asarray(stat_vector).ravel(), strict=False)}


def histogram(values, bins=DEFAULT_BINS):
    """Returns a float64 [bins, 3] array of (left, right, count) over finite values.

    Same layout as TensorBoard's histogram plugin. A constant array gets one
    bin of width 1 centred on the value; an array with no finite value, none.
    """
    x = np.asarray(values).ravel()
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.zeros((0, 3))
    low, high = float(x.min()), float(x.max())
    if low == high:
        return np.array([[low - 0.5, high + 0.5, float(x.size)]])
    counts, edges = np.histogram(x, bins=bins, range=(low, high))
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def per_unit(activations):
    """Reduces activations (samples, ...) to (samples, units): means over the middle axes.

    A neuron of a dense layer is one column; a neuron of a convolution is one
    channel (the last axis), averaged over positions, as the L1 view shows it.
    """
    a = np.asarray(activations)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim == 2:
        return a
    return a.reshape(a.shape[0], -1, a.shape[-1]).mean(axis=1)


def class_means(activations, labels, classes):
    """Returns {class: mean over that class's samples}, full shape, for classes present."""
    a = np.asarray(activations)
    labels = np.asarray(labels)
    means = {}
    for c in classes:
        mask = labels == c
        if mask.any():
            means[c] = a[mask].mean(axis=0, dtype=np.float64).astype(np.float32)
    return means


def class_mean_matrix(activations, labels, classes):
    """Returns float32 [classes, units]: per-class mean of per_unit(activations).

    Rows of classes without samples are NaN, so rows always match `classes`.
    """
    units = per_unit(activations)
    labels = np.asarray(labels)
    matrix = np.full((len(classes), units.shape[1]), np.nan, dtype=np.float32)
    for row, c in enumerate(classes):
        mask = labels == c
        if mask.any():
            matrix[row] = units[mask].mean(axis=0, dtype=np.float64)
    return matrix


def labels_to_classes(y):
    """Turns labels (ints, or one-hot/probability rows) into an int vector, or None.

    Returns None for labels that are not class labels (e.g. a regression
    target or an image), so class-dependent data is skipped, not invented.
    """
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        return None
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return None


def balanced_indices(labels, size, seed=0):
    """Indices of up to `size` samples, balanced over classes, in a reproducible order.

    Classes take turns (round robin over shuffled members), so a rare class
    keeps all its samples when the probe is smaller than the data. Without
    labels, a reproducible random subset. The result is sorted.
    """
    rng = np.random.default_rng(seed)
    if isinstance(labels, int):
        n = labels
        if size >= n:
            return np.arange(n)
        return np.sort(rng.choice(n, size=size, replace=False))
    labels = np.asarray(labels)
    n = labels.shape[0]
    if size >= n:
        return np.arange(n)
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < size:
        for group in members:
            if depth < len(group) and len(chosen) < size:
                chosen.append(group[depth])
        depth += 1
    return np.sort(np.asarray(chosen, dtype=np.int64))
