"""capture.unit_stats: device-side per-unit statistics against the numpy reference (format.stats)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from innspector_tb.capture import unit_stats as U
from innspector_tb.format import stats

CLASSES = 5
OLD_FIELDS = stats.STAT_FIELDS.index("dead_unit_fraction")  # the fields before this change
DEAD = stats.STAT_FIELDS.index("dead_unit_fraction")
CONSTANT = stats.STAT_FIELDS.index("constant_unit_fraction")

SHAPES = {
    "dense": (300, 7),
    "conv": (300, 5, 6, 4),
    "sequence": (300, 9, 5),
    "one_unit": (300,),
}

_COMPILED = {}


def _compiled(unit_shape, num_classes, exact, dtype, with_shift):
    """One tf.function per layer shape and options; the batch relaxes (reduce_retracing) as in the probe pass."""
    key = (unit_shape, num_classes, exact, dtype, with_shift)
    if key not in _COMPILED:

        def run(x, labels, edges, shift):
            return U.batch_moments(
                x,
                labels,
                num_classes,
                edges,
                shift=shift if with_shift else None,
                dtype=dtype,
                exact_histogram=exact,
            )

        _COMPILED[key] = tf.function(run, reduce_retracing=True)
    return _COMPILED[key]


def run_probe(x, labels, edges, batch=128, compiled=True, exact=False, dtype="float32", shift=None):
    """Runs batch_moments over batches of x and finalizes: what the probe pass will do."""
    acc = U.Accumulator()
    for start in range(0, len(x), batch):
        xb = tf.constant(x[start : start + batch])
        lb = tf.constant(labels[start : start + batch], tf.int32)
        eb = tf.constant(edges, tf.float32)
        if compiled:
            moments = _compiled(x.shape[1:], CLASSES, exact, dtype, shift is not None)(xb, lb, eb, shift)
        else:
            moments = U.batch_moments(xb, lb, CLASSES, eb, shift=shift, dtype=dtype, exact_histogram=exact)
        acc.add(moments)
    return acc.finalize()


def activations(shape, seed=0, mean=1e3, std=1.0):
    """Values with a large mean, plus units that are dead (all 0), constant and ReLU-like."""
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, std, size=shape).astype(np.float32)
    if len(shape) >= 2:
        units = shape[-1]
        x[..., 0] = 0.0  # dead
        if units > 2:
            x[..., 1] = 2.5  # constant
        if units > 3:
            x[..., 2] = np.maximum(rng.normal(0, 1, size=shape[:-1]), 0)  # ReLU: exact zeros, skewed
        if units > 4:
            x[..., 3] = rng.normal(-0.3, 1, size=shape[:-1])  # both signs
    return x


def labels_for(n, seed=0):
    rng = np.random.default_rng(seed + 1)
    labels = rng.integers(0, CLASSES - 1, size=n)  # the last class has no sample: a NaN row
    labels[::17] = -1  # no class
    labels[5::23] = CLASSES + 3  # out of range: no class either
    return labels


def edges_for(x):
    finite = x[np.isfinite(x)]
    h = U.HistogramEdges()
    # Fixed from a part of the range, so some values fall under and over.
    h.fix(np.quantile(finite, 0.05), np.quantile(finite, 0.9))
    return h.edges


def finite_per_unit(x):
    a = x.reshape(-1, 1) if x.ndim == 1 else x.reshape(-1, x.shape[-1])
    return [col[np.isfinite(col)].astype(np.float64) for col in a.T]


def assert_stats_close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape == (len(stats.STAT_FIELDS),)
    for i, name in enumerate(stats.STAT_FIELDS):
        g, w = got[i], want[i]
        if math.isnan(w):
            assert math.isnan(g), name
            continue
        # float32 tolerance, relative to the spread for the location fields
        scale = abs(w) if name not in ("mean", "skew", "kurtosis") else max(abs(w), 1.0)
        assert abs(g - w) <= 2e-6 * scale + 1e-6, (name, g, w)


def assert_histogram_matches_numpy(result, x, edges):
    finite = x[np.isfinite(x)].astype(np.float32)
    want, _ = np.histogram(finite, bins=edges)
    under = int(np.count_nonzero(finite < edges[0]))
    over = int(np.count_nonzero(finite > edges[-1]))
    assert (result.under, result.over) == (under, over)
    hist = result.histogram
    rows = hist[1 if under else 0 : len(hist) - (1 if over else 0)]
    np.testing.assert_array_equal(rows[:, 0], edges[:-1])
    np.testing.assert_array_equal(rows[:, 1], edges[1:])
    assert rows[:, 2].sum() == want.sum()
    # Arithmetic binning may move a value within float32 rounding of an inner edge.
    inner = edges[1:-1].astype(np.float32)
    near = np.abs(finite[:, None] - inner[None, :]) <= 4 * np.spacing(np.maximum(np.abs(finite), 1e-30))[:, None]
    assert np.abs(rows[:, 2] - want).sum() <= 2 * np.count_nonzero(near.any(axis=1))
    if under:
        np.testing.assert_array_equal(hist[0], [finite.min(), edges[0], under])
    if over:
        np.testing.assert_array_equal(hist[-1], [edges[-1], finite.max(), over])


def per_unit_reference(x):
    cols = finite_per_unit(x)
    nan = np.nan
    mean = [c.mean() if c.size else nan for c in cols]
    std = [c.std() if c.size else nan for c in cols]
    low = [c.min() if c.size else nan for c in cols]
    high = [c.max() if c.size else nan for c in cols]
    zero = [np.count_nonzero(c == 0) / c.size if c.size else nan for c in cols]
    return [np.array(v) for v in (mean, std, low, high, zero)]


def check_against_numpy(result, x, labels, edges):
    assert_stats_close(result.stats, stats.describe(x))
    np.testing.assert_allclose(result.pooled, stats.per_unit(x), rtol=1e-6)
    np.testing.assert_allclose(
        result.class_means, stats.class_mean_matrix(x, labels, range(CLASSES)), rtol=1e-6, equal_nan=True
    )
    mean, std, low, high, zero = per_unit_reference(x)
    np.testing.assert_allclose(result.unit_mean, mean, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(result.unit_std, std, rtol=1e-4, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(result.unit_min, low.astype(np.float32))
    np.testing.assert_array_equal(result.unit_max, high.astype(np.float32))
    np.testing.assert_allclose(result.unit_zero_fraction, zero, rtol=1e-6, equal_nan=True)
    assert_histogram_matches_numpy(result, x, edges)


@pytest.mark.parametrize("compiled", [True, False], ids=["tf.function", "eager"])
@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_matches_numpy_for_every_layer_kind(kind, compiled):
    x = activations(SHAPES[kind])
    labels = labels_for(len(x))
    edges = edges_for(x)
    result = run_probe(x, labels, edges, compiled=compiled)
    check_against_numpy(result, x, labels, edges)
    if x.ndim >= 2:
        units = x.shape[-1]
        # Unit 0 is dead (and constant), unit 1 constant at 2.5.
        assert result.stats[DEAD] == pytest.approx(1 / units)
        assert result.stats[CONSTANT] == pytest.approx(min(2, units) / units)
    else:
        assert math.isnan(result.stats[DEAD]) and math.isnan(result.stats[CONSTANT])


@pytest.mark.parametrize("compiled", [True, False], ids=["tf.function", "eager"])
def test_nan_and_inf_are_counted_and_left_out(compiled):
    x = activations(SHAPES["conv"], seed=3)
    x[0, 0, 0, 3] = np.nan
    x[7, 1, 2, 2] = np.inf
    x[9, 4, 5, 3] = -np.inf
    x[200:, :, :, 1] = np.nan  # the constant unit: NaN in some batches only
    labels = labels_for(len(x), seed=3)
    edges = edges_for(x)
    result = run_probe(x, labels, edges, compiled=compiled)
    check_against_numpy(result, x, labels, edges)
    d = stats.as_dict(result.stats)
    assert d["nan_count"] == 1 + 100 * 5 * 6 and d["inf_count"] == 2
    # The class of sample 0 has a NaN pooled vector, as in numpy; the others do not.
    assert np.isnan(result.class_means[labels[0]]).any() or not 0 <= labels[0] < CLASSES


def test_a_unit_without_finite_values():
    x = activations(SHAPES["dense"], seed=4)
    x[:, 3] = np.nan
    labels = labels_for(len(x))
    edges = edges_for(x)
    result = run_probe(x, labels, edges)
    check_against_numpy(result, x, labels, edges)
    assert math.isnan(result.unit_mean[3]) and math.isnan(result.unit_std[3]) and math.isnan(result.unit_min[3])
    # Units without finite values are left out of the unit fractions.
    assert result.stats[CONSTANT] == pytest.approx(2 / 6)


def test_several_batches_equal_one_pass():
    x = activations(SHAPES["sequence"], seed=5)
    labels = labels_for(len(x))
    edges = edges_for(x)
    whole = run_probe(x, labels, edges, batch=len(x))
    for batch in (1 + len(x) // 7, 64, 100):
        parts = run_probe(x, labels, edges, batch=batch)
        np.testing.assert_allclose(parts.stats, whole.stats, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(parts.pooled, whole.pooled)
        np.testing.assert_allclose(parts.class_means, whole.class_means, rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(parts.unit_std, whole.unit_std, rtol=1e-5)
        np.testing.assert_array_equal(parts.histogram, whole.histogram)


@pytest.mark.parametrize("mean", [0.0, 1e3, -3e4])
def test_large_means_keep_skew_and_kurtosis(mean):
    rng = np.random.default_rng(6)
    # Skewed values (exponential: skew 2, excess kurtosis 6) far from zero.
    x = (mean + rng.exponential(1.0, size=(512, 8, 16))).astype(np.float32)
    labels = labels_for(len(x))
    result = run_probe(x, labels, edges_for(x), batch=200)
    want = stats.describe(x)
    assert_stats_close(result.stats, want)
    assert stats.as_dict(want)["skew"] == pytest.approx(2, abs=0.1)


def test_float64_sums_and_a_given_shift_agree():
    x = activations(SHAPES["conv"], seed=7)
    labels = labels_for(len(x))
    edges = edges_for(x)
    want = stats.describe(x)
    assert_stats_close(run_probe(x, labels, edges, dtype="float64").stats, want)
    # A given shift near the unit means (e.g. the last step's), not exactly them.
    unit_means = x.reshape(-1, x.shape[-1]).mean(axis=0)
    shift = tf.constant(unit_means + np.float32(0.5), tf.float32)
    assert_stats_close(run_probe(x, labels, edges, shift=shift).stats, want)
    assert_stats_close(
        run_probe(x[:, :, :, 3:], labels, edges, shift=tf.constant(1e3), compiled=False).stats,
        stats.describe(x[:, :, :, 3:]),
    )


def test_exact_histogram_is_numpys():
    x = activations(SHAPES["conv"], seed=8)
    edges = edges_for(x)
    x[0, 0, 0, :3] = edges[[3, 7, -1]]  # values exactly at inner edges and at the last edge
    finite = x[np.isfinite(x)]
    result = run_probe(x, labels_for(len(x)), edges, exact=True)
    want, _ = np.histogram(finite, bins=edges)
    assert result.under == 0 and result.over > 0  # edges_for starts at the dead unit's zeros
    np.testing.assert_array_equal(result.histogram[:-1, 2], want)
    counts, under, over = U.batch_histogram(tf.constant(x), tf.constant(edges, tf.float32), exact=True)
    np.testing.assert_array_equal(counts.numpy(), want)
    assert int(under) == np.count_nonzero(finite < edges[0]) and int(over) == np.count_nonzero(finite > edges[-1])


def test_histogram_ends_are_exact():
    edges = U.HistogramEdges()
    edges.fix(-1.0, 2.0)
    e = edges.edges
    below, above = np.nextafter(np.float32(e[0]), -np.inf), np.nextafter(np.float32(e[-1]), np.inf)
    x = np.array([e[0], below, e[-1], above, np.nextafter(np.float32(e[-1]), -np.inf), np.nan, np.inf], np.float32)
    counts, under, over = U.batch_histogram(tf.constant(x), tf.constant(e, tf.float32))
    counts = counts.numpy()
    assert (int(under), int(over)) == (1, 1)
    assert counts[0] == 1 and counts[-1] == 2 and counts.sum() == 3


def test_no_retracing_when_the_edges_grow():
    traces = []

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 3]), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None])])
    def probe(x, labels, edges):
        traces.append(1)
        return U.batch_moments(x, labels, 3, edges)

    x = np.random.default_rng(9).normal(size=(50, 4, 3)).astype(np.float32)
    h = U.HistogramEdges(bins=10)
    h.fix(-0.5, 0.5)
    for _ in range(3):
        result = probe(x, np.zeros(len(x), np.int32), h.edges.astype(np.float32))
        assert result["hist"].shape[0] == len(h.edges) - 1
        assert int(result["hist"].numpy().sum() + result["under"] + result["over"]) == x.size
        h.extend(float(result["min"].numpy().min()) * 3, float(result["max"].numpy().max()) * 3)
    assert len(traces) == 1


def test_accumulator_refuses_mixed_inputs():
    acc = U.Accumulator()
    with pytest.raises(ValueError):
        acc.finalize()
    acc.add(U.batch_moments(np.ones((4, 3), np.float32), edges=np.array([0.0, 1.0, 2.0], np.float32)))
    with pytest.raises(ValueError):
        acc.add(U.batch_moments(np.ones((4, 2), np.float32)))
    with pytest.raises(ValueError):
        acc.add(U.batch_moments(np.ones((4, 3), np.float32), edges=np.array([0.0, 1.0, 3.0], np.float32)))


def test_constant_layer_statistics_are_exact():
    # float32 sums of 0.1 are not 0.1 * n: the batch mean is off by rounding
    x = np.full((1000, 7, 3), 0.1, np.float32)
    x[:, :, 2] = 1e3 + np.float32(0.1)
    result = run_probe(x, labels_for(len(x)), np.array([0.0, 1.0]), batch=333)
    assert_stats_close(result.stats, stats.describe(x))
    d = stats.as_dict(result.stats)
    assert (d["constant_unit_fraction"], d["dead_unit_fraction"]) == (1.0, 0.0)
    np.testing.assert_array_equal(result.unit_mean, x[0, 0])
    np.testing.assert_array_equal(result.unit_std, 0)
    y = x[:, :, :2]
    d = stats.as_dict(run_probe(y, labels_for(len(x)), np.array([0.0, 1.0]), batch=333).stats)
    assert (d["std"], d["skew"], d["kurtosis"], d["mean"]) == (0.0, 0.0, 0.0, np.float32(0.1))


# ---------------------------------------------------------------- describe's unit fields


def test_describe_unit_fields():
    x = np.random.default_rng(10).normal(size=(20, 3, 5))
    x[..., 0] = 0.0
    x[..., 1] = 4.0
    x[0, 0, 2] = np.nan  # a unit with a NaN among normal values stays a normal unit
    x[..., 3] = np.nan
    x[0, 0, 3] = 0.0  # unit 3: its only finite value is 0: dead
    d = stats.as_dict(stats.describe(x))
    assert d["dead_unit_fraction"] == pytest.approx(2 / 5)
    assert d["constant_unit_fraction"] == pytest.approx(3 / 5)
    # Another units axis: the 3 positions; none constant.
    d1 = stats.as_dict(stats.describe(x, units_axis=1))
    assert d1["dead_unit_fraction"] == 0 and d1["constant_unit_fraction"] == 0
    for no_units in (
        stats.describe(x[0, 0]),
        stats.describe(x, units_axis=None),
        stats.describe(np.full((3, 2), np.nan)),
    ):
        assert np.isnan(no_units[[DEAD, CONSTANT]]).all()


def test_describe_keeps_the_old_fields():
    x = np.random.default_rng(11).normal(size=(6, 4, 3)).astype(np.float32)
    x[1, 2, 0] = np.inf
    np.testing.assert_array_equal(stats.describe(x)[:OLD_FIELDS], stats.describe(x.ravel())[:OLD_FIELDS])
    assert stats.STAT_FIELDS[:OLD_FIELDS][-1] == "zero_fraction" and len(stats.STAT_FIELDS) == OLD_FIELDS + 2


# ---------------------------------------------------------------- HistogramEdges

finite_floats = st.floats(-1e6, 1e6, allow_nan=False, width=32)
ranges = st.tuples(finite_floats, finite_floats).map(sorted)


def assert_valid(h, low, high):
    e = h.edges
    assert np.all(np.diff(e) > 0)
    assert np.all(e == e.astype(np.float32))
    assert e[0] <= low and e[-1] >= high
    assert len(e) - 1 <= h.max_bins


@settings(max_examples=200, deadline=None)
@given(ranges, st.integers(1, 50))
def test_edges_fixed_from_the_first_range(bounds, bins):
    low, high = bounds
    h = U.HistogramEdges(bins)
    assert h.edges is None and h.fix(low, high)
    assert_valid(h, low, high)
    e = h.edges
    if low == high:
        np.testing.assert_array_equal(e, np.float32([low - 0.5, low + 0.5]))
    elif np.all(np.diff(np.linspace(low, high, bins + 1).astype(np.float32)) > 0):
        # float32 can resolve the bins: exactly `bins` equal bins from min to max
        assert len(e) == bins + 1 and e[0] == low
        assert e[-1] - high <= 1e-6 * (high - low)
        np.testing.assert_allclose(
            np.diff(e), (high - low) / bins, rtol=1e-3, atol=4 * np.spacing(np.float32(max(abs(low), abs(high))))
        )
    assert not h.fix(low - 1, high + 1)  # fixed once


@settings(max_examples=200, deadline=None)
@given(ranges, st.lists(ranges, min_size=1, max_size=6), st.integers(1, 40))
def test_extended_edges_cover_stay_aligned_and_capped(first, later, bins):
    h = U.HistogramEdges(bins)
    h.fix(*first)
    seen_low, seen_high = first
    for low, high in later:
        before, width = h.edges, h.width
        changed = h.extend(low, high)
        after = h.edges
        seen_low, seen_high = min(seen_low, low), max(seen_high, high)
        assert_valid(h, low, high)
        assert changed == (not np.array_equal(before, after))
        if before[0] <= low and high <= before[-1]:
            assert not changed  # already covered: unchanged
        # Shared edges where they overlap: new edges inside the old range are old edges.
        inside = after[(after >= before[0]) & (after <= before[-1])]
        assert np.isin(inside, before).all()
        if h.width == width:
            assert np.isin(before, after).all()  # only whole bins were added
        else:
            assert h.width / width == 2 ** round(math.log2(h.width / width))


def test_extension_adds_bins_then_merges():
    h = U.HistogramEdges(bins=10)
    h.fix(0.0, 10.0)
    assert h.extend(-3.0, 12.5)
    np.testing.assert_array_equal(h.edges, np.arange(-3.0, 14.0))  # whole bins of width 1 on both sides
    assert not h.extend(-2.0, 13.0)
    assert h.extend(-3.0, 60.0)  # 63 bins > 40: width 2, then 32 bins
    assert h.width == 2.0 and len(h.edges) - 1 <= 40
    assert h.edges[0] == -4.0 and np.all(np.mod(h.edges, 2) == 0)
    restored = U.HistogramEdges.from_state(h.state())
    np.testing.assert_array_equal(restored.edges, h.edges)
    assert not h.extend(np.nan, np.inf)
