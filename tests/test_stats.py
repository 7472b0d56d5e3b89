"""Unit tests of the pure statistics module."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from innspector_tb.format import stats


def test_describe_matches_scipy_on_random_data():
    x = np.random.default_rng(1).gamma(2.0, size=(50, 40)).astype(np.float32)
    d = stats.as_dict(stats.describe(x))
    flat = x.astype(np.float64).ravel()
    assert d["count"] == d["finite_count"] == 2000
    assert d["mean"] == pytest.approx(flat.mean())
    assert d["std"] == pytest.approx(flat.std())
    assert d["skew"] == pytest.approx(scipy_stats.skew(flat))
    assert d["kurtosis"] == pytest.approx(scipy_stats.kurtosis(flat))
    assert d["l2_norm"] == pytest.approx(np.linalg.norm(flat))
    assert d["min"] == pytest.approx(flat.min()) and d["max"] == pytest.approx(flat.max())


def test_describe_counts_nan_inf_and_zeros_over_finite_values():
    x = np.array([0.0, 0.0, 1.0, 3.0, np.nan, np.inf, -np.inf])
    d = stats.as_dict(stats.describe(x))
    assert (d["count"], d["finite_count"], d["nan_count"], d["inf_count"]) == (7, 4, 1, 2)
    assert d["zero_fraction"] == 0.5
    assert d["mean"] == 1.0 and d["max"] == 3.0


def test_describe_of_constant_and_empty_arrays():
    d = stats.as_dict(stats.describe(np.full(10, 2.5)))
    assert d["std"] == 0 and d["skew"] == 0 and d["kurtosis"] == 0
    empty = stats.as_dict(stats.describe(np.array([np.nan, np.nan])))
    assert empty["finite_count"] == 0 and np.isnan(empty["mean"])
    assert stats.describe(np.zeros((0, 3)))[0] == 0


def test_histogram_layout_and_counts():
    x = np.concatenate([np.arange(100.0), [np.nan]])
    h = stats.histogram(x, bins=10)
    assert h.shape == (10, 3)
    assert h[:, 2].sum() == 100
    np.testing.assert_allclose(h[1:, 0], h[:-1, 1])
    assert h[0, 0] == 0 and h[-1, 1] == 99
    assert stats.histogram(np.full(5, 3.0)).tolist() == [[2.5, 3.5, 5.0]]
    assert stats.histogram(np.array([np.inf])).shape == (0, 3)


def test_per_unit_and_class_means():
    a = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)
    units = stats.per_unit(a)
    np.testing.assert_allclose(units, a.mean(axis=(1, 2)))
    labels = np.array([1, 0])
    matrix = stats.class_mean_matrix(a, labels, [0, 1, 2])
    np.testing.assert_allclose(matrix[0], units[1])
    np.testing.assert_allclose(matrix[1], units[0])
    assert np.isnan(matrix[2]).all()  # a class without samples stays visible as NaN
    means = stats.class_means(a, labels, [0, 1, 2])
    assert set(means) == {0, 1}
    np.testing.assert_allclose(means[1], a[0])


def test_labels_to_classes():
    assert stats.labels_to_classes([2, 0, 1]).tolist() == [2, 0, 1]
    assert stats.labels_to_classes(np.eye(3)[[2, 0]]).tolist() == [2, 0]
    assert stats.labels_to_classes(np.array([[1.0], [0.0]])).tolist() == [1, 0]
    assert stats.labels_to_classes(np.array([0.5, 1.5])) is None  # regression targets
    assert stats.labels_to_classes(np.zeros((4, 8, 8))) is None  # images
    assert stats.labels_to_classes(None) is None


def test_balanced_indices():
    labels = np.array([0] * 90 + [1] * 8 + [2] * 2)
    index = stats.balanced_indices(labels, 20, seed=3)
    assert len(index) == 20 and len(set(index)) == 20
    counts = np.bincount(labels[index], minlength=3)
    assert counts.tolist() == [10, 8, 2]  # rare classes keep all their samples
    assert np.array_equal(index, np.sort(index))
    assert np.array_equal(index, stats.balanced_indices(labels, 20, seed=3))  # reproducible
    assert stats.balanced_indices(labels, 500).tolist() == list(range(100))
    assert len(stats.balanced_indices(50, 10)) == 10  # no labels: a random subset
