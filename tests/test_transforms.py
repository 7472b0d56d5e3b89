"""Tests of the transform pipeline grammar and interpreter (innspector_tb.analysis.transforms).

Every op is checked against numpy/scipy computed independently here; errors
and limits by their messages and `.limit`; robustness by fuzzing random
pipelines with hypothesis (only TransformError may ever escape).
"""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats as scipy_stats

from innspector_tb.analysis import transforms
from innspector_tb.analysis.transforms import LimitError, Limits, TransformError, run

RNG = np.random.default_rng(7)
X = RNG.normal(size=(12, 5)).astype(np.float32)
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 3])


def array_of(encoded):
    """Decodes a to_json array (null -> NaN) back to numpy."""
    data = encoded["data"]
    if encoded["dtype"].startswith(("float", "complex")):
        data = np.array(_nulls_to_nan(data), dtype=np.float64)
    array = np.array(data, dtype=encoded["dtype"]).reshape(encoded["shape"])
    return array


def _nulls_to_nan(data):
    if isinstance(data, list):
        return [_nulls_to_nan(item) for item in data]
    return np.nan if data is None else data


def value(pipeline, x=X, labels=None, column="value", **kwargs):
    columns = {"value": x} if labels is None else {"value": x, "label": labels}
    result = run(pipeline, columns, **kwargs)
    json.dumps(result, allow_nan=False)  # every output must be strict JSON
    return result[column]


def error_of(pipeline, x=X, labels=None, error=TransformError, **kwargs):
    columns = {"value": x} if labels is None else {"value": x, "label": labels}
    with pytest.raises(error) as info:
        run(pipeline, columns, **kwargs)
    assert not info.value.unexpected, info.value
    return info.value


# ---------------------------------------------------------------------------
# Identity and JSON encoding.


def test_empty_pipeline_returns_the_input_as_json():
    out = run([], {"value": X, "label": LABELS})
    assert out["value"]["shape"] == [12, 5] and out["value"]["dtype"] == "float32"
    np.testing.assert_array_equal(array_of(out["value"]), X)
    assert out["label"]["data"] == LABELS.tolist()


def test_to_json_turns_nan_and_inf_into_null_and_keeps_dtype_and_shape():
    x = np.array([[1.5, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    encoded = transforms.to_json(x)
    assert encoded == {"shape": [2, 2], "dtype": "float32", "data": [[1.5, None], [None, None]]}
    assert transforms.to_json(np.array(np.nan)) == {"shape": [], "dtype": "float64", "data": None}
    assert transforms.to_json(np.array([True, False]))["data"] == [True, False]
    assert transforms.to_json({"a": np.float64(np.inf), "b": np.int64(3)}) == {"a": None, "b": 3}
    json.dumps(transforms.to_json(x), allow_nan=False)


def test_zero_dimensional_arrays_stay_arrays_between_steps():
    # numpy ufuncs return scalars for 0-d input; the next step still needs an array.
    for step in ({"op": "abs"}, {"op": "log"}, {"op": "clip", "min": 0}, {"op": "mean"}):
        out = value([step, {"op": "histogram", "bins": 2}], np.array(-3.0))
        assert sum(out["counts"]) + out["dropped"] == 1, step


def test_nan_and_inf_input_survive_every_elementwise_op_as_null():
    x = np.array([np.nan, np.inf, -np.inf, -1.0, 0.0, 4.0])
    for step in (
        {"op": "abs"},
        {"op": "log"},
        {"op": "clip", "min": 0},
        {"op": "normalize", "method": "minmax"},
        {"op": "sort"},
        {"op": "flatten"},
    ):
        out = value([step], x)
        assert len(out["data"]) == 6, step


# ---------------------------------------------------------------------------
# Selection and shape.


def test_slice_per_axis_like_numpy_basic_slicing():
    x = RNG.normal(size=(7, 3, 5))
    out = value([{"op": "slice", "slices": [[1, None, 2], None, [-3, None]]}], x)
    np.testing.assert_array_equal(array_of(out), x[1::2, :, -3:])
    out = value([{"op": "slice", "slices": [2, [None, None, -1]]}], x)
    np.testing.assert_array_equal(array_of(out), x[2, ::-1])


def test_slice_single_axis_form():
    out = value([{"op": "slice", "axis": 1, "start": 1, "stop": 4}])
    np.testing.assert_array_equal(array_of(out), X[:, 1:4])
    out = value([{"op": "slice", "start": 10, "stop": 100}])  # axis 0 by default, clipped like Python
    np.testing.assert_array_equal(array_of(out), X[10:])


def test_select_takes_indices_along_an_axis():
    out = value([{"op": "select", "axis": 1, "indices": [4, 0, -1, 0]}])
    np.testing.assert_array_equal(array_of(out), X[:, [4, 0, -1, 0]])
    assert "index 5 out of range for axis 1 of length 5" in str(error_of([{"op": "select", "axis": 1, "indices": [5]}]))


def test_classes_filters_samples_and_labels_in_sync():
    out = run([{"op": "classes", "classes": [2, 3]}], {"value": X, "label": LABELS})
    keep = np.isin(LABELS, [2, 3])
    np.testing.assert_array_equal(array_of(out["value"]), X[keep])
    assert out["label"]["data"] == LABELS[keep].tolist()
    assert "needs a 'label' column" in str(error_of([{"op": "classes", "classes": [1]}]))


def test_flatten_reshape_transpose():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(array_of(value([{"op": "flatten"}], x)), x.ravel())
    np.testing.assert_array_equal(array_of(value([{"op": "flatten", "start_axis": 1}], x)), x.reshape(2, 12))
    np.testing.assert_array_equal(array_of(value([{"op": "reshape", "shape": [4, -1]}], x)), x.reshape(4, 6))
    np.testing.assert_array_equal(array_of(value([{"op": "transpose", "axes": [2, 0, 1]}], x)), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(array_of(value([{"op": "transpose"}], x)), x.T)


def test_reshape_and_transpose_errors_are_clear():
    x = np.arange(24.0).reshape(2, 3, 4)
    message = str(error_of([{"op": "reshape", "shape": [5, -1]}], x))
    assert message == "pipeline[0] (reshape): cannot reshape 24 elements (shape [2, 3, 4]) into [5, -1]"
    assert "more than one -1" in str(error_of([{"op": "reshape", "shape": [-1, -1]}], x))
    # A huge target shape is refused by arithmetic on Python ints, never allocated.
    assert "cannot reshape" in str(error_of([{"op": "reshape", "shape": [10**9, 10**9]}], x))
    assert "not a permutation" in str(error_of([{"op": "transpose", "axes": [0, 0, 1]}], x))


# ---------------------------------------------------------------------------
# Element-wise.


def test_abs_log_clip_against_numpy():
    x = np.array([-8.0, -1.0, 0.0, 0.5, 1.0, 100.0])
    np.testing.assert_array_equal(array_of(value([{"op": "abs"}], x)), np.abs(x))
    for base, fn in (("e", np.log), (2, np.log2), (10, np.log10)):
        out = array_of(value([{"op": "log", "base": base}], x))
        assert np.all(np.isnan(out[:3])), "non-positive values become NaN"
        np.testing.assert_allclose(out[3:], fn(x[3:]))
    np.testing.assert_array_equal(array_of(value([{"op": "clip", "min": -1, "max": 0.75}], x)), np.clip(x, -1, 0.75))
    np.testing.assert_array_equal(array_of(value([{"op": "clip", "max": 0}], x)), np.minimum(x, 0))


def test_log_of_ints_is_float64_and_float32_stays_float32():
    assert value([{"op": "log"}], np.arange(4))["dtype"] == "float64"
    assert value([{"op": "log"}], X)["dtype"] == "float32"


def test_normalize_methods_against_numpy():
    x = RNG.normal(size=(6, 4)) * 3 + 1
    out = array_of(value([{"op": "normalize", "method": "minmax", "axis": 0}], x))
    np.testing.assert_allclose(out, (x - x.min(0)) / (x.max(0) - x.min(0)))
    out = array_of(value([{"op": "normalize", "method": "zscore", "axis": 1}], x))
    np.testing.assert_allclose(out, (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True))
    out = array_of(value([{"op": "normalize", "method": "l2"}], x))
    np.testing.assert_allclose(out, x / np.linalg.norm(x))


def test_normalize_of_a_constant_gives_zeros_and_ignores_nan():
    out = array_of(value([{"op": "normalize", "method": "zscore"}], np.array([3.0, 3.0, np.nan])))
    np.testing.assert_array_equal(out[:2], [0.0, 0.0])
    assert np.isnan(out[2])
    out = array_of(value([{"op": "normalize", "method": "minmax"}], np.array([1.0, np.nan, 3.0])))
    np.testing.assert_array_equal(out, [0.0, np.nan, 1.0])


# ---------------------------------------------------------------------------
# Reductions.


NAN_X = np.where(RNG.random((6, 4, 3)) < 0.2, np.nan, RNG.normal(size=(6, 4, 3)))


@pytest.mark.parametrize(
    "how, fn",
    [
        ("mean", np.nanmean),
        ("std", np.nanstd),
        ("var", np.nanvar),
        ("min", np.nanmin),
        ("max", np.nanmax),
        ("sum", np.nansum),
        ("median", np.nanmedian),
    ],
)
@pytest.mark.parametrize("axis", [None, 0, -1, [0, 2]])
def test_reductions_match_numpy_nan_functions(how, fn, axis):
    expected = fn(NAN_X, axis=None if axis is None else tuple(axis) if isinstance(axis, list) else axis)
    out = value([{"op": how, "axis": axis}], NAN_X)
    np.testing.assert_allclose(array_of(out), expected, rtol=1e-12)
    assert out["dtype"] == "float64"


def test_reduction_of_float32_stays_float32_and_count_is_int():
    out = value([{"op": "mean", "axis": 0}])
    assert out["dtype"] == "float32"
    np.testing.assert_allclose(array_of(out), X.astype(np.float64).mean(0), rtol=1e-6)
    out = value([{"op": "count", "axis": 0}], NAN_X)
    assert out["dtype"] == "int64"
    np.testing.assert_array_equal(array_of(out), (~np.isnan(NAN_X)).sum(0))


def test_quantiles_match_nanquantile():
    q = [0.0, 0.1, 0.5, 0.9, 1.0]
    out = value([{"op": "quantiles", "q": q, "axis": [0, 1]}], NAN_X)
    np.testing.assert_allclose(array_of(out), np.nanquantile(NAN_X, q, axis=(0, 1)), rtol=1e-12)


def test_all_nan_and_empty_slices_reduce_to_null_without_warnings():
    x = np.array([[np.nan, 1.0], [np.nan, 3.0]])
    with np.testing.assert_no_warnings():
        out = array_of(value([{"op": "mean", "axis": 0}], x))
        assert np.isnan(out[0]) and out[1] == 2.0
        assert np.isnan(array_of(value([{"op": "max", "axis": 1}], np.zeros((3, 0))))).all()
        assert array_of(value([{"op": "sum"}], np.array([np.nan])))[()] == 0.0


def test_reduction_axis_errors_name_the_step_and_the_array():
    err = error_of([{"op": "abs"}, {"op": "mean", "axis": 4}])
    assert str(err) == "pipeline[1] (mean): axis 4 out of range for a 2-D array"
    assert err.field == "pipeline[1].axis"
    assert "repeats an axis" in str(error_of([{"op": "sum", "axis": [0, -2]}]))


# ---------------------------------------------------------------------------
# Distributions.


def test_histogram_matches_numpy_and_reports_dropped_values():
    x = np.concatenate([RNG.normal(size=200), [np.nan, np.inf, -np.inf]])
    out = value([{"op": "histogram", "bins": 7}], x)
    finite = x[np.isfinite(x)]
    counts, edges = np.histogram(finite, bins=7)
    assert out["counts"] == counts.tolist()
    np.testing.assert_allclose(out["edges"], edges)
    assert (out["dropped"], out["nonfinite"], out["below"], out["above"]) == (3, 3, 0, 0)


def test_histogram_range_and_shared_edges():
    x = np.arange(10.0)
    out = value([{"op": "histogram", "bins": 4, "range": [2, 6]}], x)
    assert out["counts"] == np.histogram(x, bins=4, range=(2, 6))[0].tolist()
    assert (out["below"], out["above"], out["dropped"]) == (2, 3, 5)
    out = value([{"op": "histogram", "edges": [0, 1, 5, 9]}], x)
    assert out["counts"] == np.histogram(x, bins=[0, 1, 5, 9])[0].tolist()
    assert out["edges"] == [0, 1, 5, 9] and out["dropped"] == 0


def test_histogram_of_constant_empty_and_extreme_data():
    out = value([{"op": "histogram", "bins": 3}], np.full(5, 2.0))
    assert sum(out["counts"]) == 5 and out["edges"][0] == 1.5 and out["edges"][-1] == 2.5
    out = value([{"op": "histogram", "bins": 3}], np.array([np.nan]))
    assert out["counts"] == [0, 0, 0] and out["dropped"] == 1
    out = value([{"op": "histogram", "bins": 4}], np.array([-1.7e308, 1.7e308, 0.0]))
    assert out["counts"] == [1, 0, 1, 1] and all(math.isfinite(e) for e in out["edges"])


def test_histogram_parameter_errors():
    assert "strictly increasing" in str(error_of([{"op": "histogram", "edges": [0, 2, 1]}]))
    assert "not both" in str(error_of([{"op": "histogram", "edges": [0, 1], "bins": 3}]))
    assert "lo < hi" in str(error_of([{"op": "histogram", "range": [1, 1]}]))
    assert "finite number" in str(error_of([{"op": "histogram", "range": [0, float("nan")]}]))


def test_kde_matches_scipy_per_column_and_notes_degenerate_columns():
    x = np.column_stack([RNG.normal(size=50), np.full(50, 4.0), [np.nan] * 49 + [1.0], RNG.gamma(2, size=50)])
    out = value([{"op": "kde", "points": 9}], x)
    columns = out["columns"]
    assert [c["column"] for c in columns] == [0, 1, 2, 3]
    for j in (0, 3):
        expected = scipy_stats.gaussian_kde(x[:, j])(np.array(columns[j]["x"]))
        np.testing.assert_allclose(columns[j]["density"], expected, rtol=1e-9)
        assert columns[j]["samples"] == 50 and len(columns[j]["x"]) == 9
        assert columns[j]["bandwidth"] == pytest.approx(scipy_stats.gaussian_kde(x[:, j]).covariance[0, 0] ** 0.5)
    assert "constant column" in columns[1]["note"] and "density" not in columns[1]
    assert "fewer than 2 finite values" in columns[2]["note"]


def test_kde_notes_columns_at_the_edge_of_float64_instead_of_returning_nulls():
    x = np.column_stack([[0.0, 5e-324, 0.0], [0.0, 5e-324, 1e-323], [-1.7e308, 1.7e308, 0.0]])
    for entry in value([{"op": "kde", "points": 5}], x)["columns"]:
        assert "beyond float64 precision" in entry["note"] and "density" not in entry


def test_kde_shared_range_and_deterministic_subsampling():
    x = RNG.normal(size=100)
    out = value([{"op": "kde", "points": 5, "range": [-2, 2]}], x)
    assert out["columns"][0]["x"] == np.linspace(-2, 2, 5).tolist()
    limits = Limits(max_kde_samples=30)
    first = value([{"op": "kde", "points": 5}], x, limits=limits)
    assert first == value([{"op": "kde", "points": 5}], x, limits=limits)
    assert first["columns"][0]["samples"] == 30 and "subsampled 30 of 100" in first["columns"][0]["note"]
    assert "1-D or 2-D" in str(error_of([{"op": "kde"}], np.zeros((2, 2, 2))))


# ---------------------------------------------------------------------------
# Ordering.


def test_topk_by_value_and_abs_against_argsort():
    x = RNG.normal(size=(4, 9))
    out = value([{"op": "topk", "k": 3}], x)
    order = np.argsort(-x, axis=1)[:, :3]
    np.testing.assert_array_equal(array_of(out["indices"]), order)
    np.testing.assert_array_equal(array_of(out["values"]), np.take_along_axis(x, order, 1))
    out = value([{"op": "topk", "k": 2, "axis": 0, "by": "abs", "largest": False}], x)
    order = np.argsort(np.abs(x), axis=0)[:2]
    np.testing.assert_array_equal(array_of(out["indices"]), order)
    out = value([{"op": "topk", "k": 100, "axis": None}], x)
    assert out["indices"]["shape"] == [36]
    np.testing.assert_array_equal(array_of(out["values"]), np.sort(x.ravel())[::-1])


def test_topk_ranks_nan_last():
    out = value([{"op": "topk", "k": 3}], np.array([np.nan, 1.0, 5.0, -2.0]))
    assert out["indices"]["data"] == [2, 1, 3]
    out = value([{"op": "topk", "k": 3, "largest": False}], np.array([np.nan, 1.0, 5.0, -2.0]))
    assert out["indices"]["data"] == [3, 1, 2]


def test_sort_ascending_descending_nan_last():
    x = np.array([[3.0, np.nan, -1.0, 2.0], [0.0, 1.0, 1.0, -5.0]])
    np.testing.assert_array_equal(array_of(value([{"op": "sort"}], x)), np.sort(x, axis=1))
    out = array_of(value([{"op": "sort", "descending": True}], x))
    np.testing.assert_array_equal(out, [[3.0, 2.0, -1.0, np.nan], [1.0, 1.0, 0.0, -5.0]])
    ints = np.array([5, -3, 7], dtype=np.int8)
    assert value([{"op": "sort", "axis": None, "descending": True}], ints)["data"] == [7, 5, -3]


# ---------------------------------------------------------------------------
# Classes and projection.


def test_group_by_class_mean_and_count_against_masks():
    out = value([{"op": "group_by_class"}], labels=LABELS)
    assert list(out) == ["0", "1", "2", "3"]
    for c in range(4):
        np.testing.assert_allclose(array_of(out[str(c)]), X[LABELS == c].mean(0), rtol=1e-6)
    out = value([{"op": "group_by_class", "reduce": "count"}], labels=LABELS)
    assert out["0"]["data"] == [4] * 5 and out["3"]["data"] == [1] * 5
    err = error_of([{"op": "group_by_class"}], labels=LABELS[:5])
    assert "has 5 labels but the data has 12 samples" in str(err)


def _reference_pca(x, k):
    centred = x - x.mean(0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T, s[:k] ** 2 / np.sum(s**2)


def test_pca_matches_svd_up_to_sign():
    x = RNG.normal(size=(40, 6)) @ np.diag([5, 3, 1, 0.5, 0.2, 0.1])
    out = value([{"op": "pca"}], x)
    coords, ratio = _reference_pca(x, 2)
    got = array_of(out["coordinates"])
    for j in range(2):
        sign = np.sign(got[:, j] @ coords[:, j])
        np.testing.assert_allclose(got[:, j], sign * coords[:, j], atol=1e-9)
    np.testing.assert_allclose(out["explained_variance_ratio"], ratio)
    assert out["method"] == "exact" and out["samples_used"] == 40


def test_pca_randomized_agrees_with_exact():
    # Components with clear gaps; their directions are well defined.
    x = RNG.normal(size=(300, 50)) @ np.diag(np.r_[10, 6, 3, np.linspace(1, 0.1, 47)])
    exact = value([{"op": "pca", "components": 3, "method": "exact"}], x)
    randomized = value([{"op": "pca", "components": 3, "method": "randomized"}], x)
    assert randomized["method"] == "randomized"
    expected = array_of(exact["coordinates"])
    # Far below a pixel of a scatter plot; a wrong sign or direction is off by O(1).
    np.testing.assert_allclose(array_of(randomized["coordinates"]), expected, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(randomized["explained_variance_ratio"], exact["explained_variance_ratio"], rtol=1e-4)
    # "auto" falls back to the randomized SVD when the exact one would exceed the work budget.
    auto = value([{"op": "pca"}], x, limits=Limits(max_work_elements=300 * 50 * 20))
    assert auto["method"] == "randomized"


def test_pca_with_fewer_samples_than_components_and_nan_rows():
    x = np.array([[1.0, 2.0, 3.0], [2.0, 0.0, 1.0], [np.nan, 1.0, 1.0]])
    out = value([{"op": "pca", "components": 3}], x)
    coords = array_of(out["coordinates"])
    assert coords.shape == (3, 3) and np.isnan(coords[2]).all()
    np.testing.assert_array_equal(coords[:2, 1:], 0.0)  # two samples span one dimension
    assert out["explained_variance_ratio"] == pytest.approx([1.0, 0.0, 0.0]) and "only 1 dimension" in out["note"]
    out = value([{"op": "pca"}], np.ones((1, 4)))
    assert out["coordinates"]["data"] == [[0.0, 0.0]] and "fewer than 2 samples" in out["note"]
    assert "2-D" in str(error_of([{"op": "pca"}], np.zeros(3)))


# ---------------------------------------------------------------------------
# Production rules.


def test_branch_then_separate_processing_and_select_columns():
    pipeline = [
        {"op": "branch", "to": ["mean", "hist"]},
        {"op": "mean", "in": "mean", "axis": 0},
        {"op": "histogram", "in": "hist", "bins": 4},
        {"op": "select_columns", "columns": ["hist", "mean"]},
    ]
    out = run(pipeline, {"value": X, "label": LABELS})
    assert list(out) == ["hist", "mean"]
    np.testing.assert_allclose(array_of(out["mean"]), X.mean(0), rtol=1e-6)
    assert sum(out["hist"]["counts"]) == X.size


def test_in_out_write_a_new_column_and_keep_the_source():
    out = run([{"op": "abs", "out": "magnitude"}], {"value": X})
    np.testing.assert_array_equal(array_of(out["magnitude"]), np.abs(X))
    np.testing.assert_array_equal(array_of(out["value"]), X)


def test_merge_stack_and_concat():
    pipeline = [
        {"op": "branch", "to": ["a", "b"]},
        {"op": "mean", "in": "a", "axis": 0},
        {"op": "max", "in": "b", "axis": 0},
        {"op": "merge", "columns": ["a", "b"], "out": "m"},
        {"op": "merge", "columns": ["value", "value"], "out": "c", "how": "concat"},
    ]
    out = run(pipeline, {"value": X})
    np.testing.assert_allclose(array_of(out["m"]), np.stack([X.mean(0), X.max(0)]), rtol=1e-6)
    np.testing.assert_array_equal(array_of(out["c"]), np.concatenate([X, X]))
    err = error_of(
        [
            {"op": "branch", "to": ["a"]},
            {"op": "mean", "in": "a", "axis": 0},
            {"op": "merge", "columns": ["a", "value"], "out": "m"},
        ]
    )
    assert "cannot stack 'value' of shape [12, 5] with 'a' of shape [5]" in str(err)


def test_get_takes_a_field_of_an_object_result_for_further_ops():
    pipeline = [{"op": "pca"}, {"op": "get", "key": "coordinates"}, {"op": "normalize", "method": "minmax", "axis": 0}]
    out = array_of(value(pipeline))
    np.testing.assert_allclose(out.min(0), 0)
    np.testing.assert_allclose(out.max(0), 1)
    err = error_of([{"op": "pca"}, {"op": "mean"}])
    assert "holds a pca result" in str(err) and "get" in str(err)
    assert "no field 'nope'" in str(error_of([{"op": "pca"}, {"op": "get", "key": "nope"}]))
    assert "is an array" in str(error_of([{"op": "get", "key": "x"}]))


def test_missing_column_lists_the_columns():
    err = error_of([{"op": "abs", "in": "nope"}])
    assert str(err) == "pipeline[0] (abs): no column 'nope'; columns are: value"
    assert err.field == "pipeline[0].in"


# ---------------------------------------------------------------------------
# Validation: JSON types only, clear messages.


@pytest.mark.parametrize(
    "step, needle, field",
    [
        ({"op": "mena"}, "unknown op 'mena' (did you mean 'mean'?)", "pipeline[0].op"),
        ({"op": "__import__"}, "unknown op '__import__'", "pipeline[0].op"),
        ({"axis": 0}, "missing 'op'", "pipeline[0].op"),
        ({"op": 3}, "'op' must be a string", "pipeline[0].op"),
        ({"op": "mean", "axes": 0}, "unknown parameter 'axes'; mean takes: axis, in, out", "pipeline[0].axes"),
        ({"op": "topk"}, "missing required parameter 'k'", "pipeline[0].k"),
        ({"op": "topk", "k": True}, "parameter 'k' must be an integer, not a boolean (true)", "pipeline[0].k"),
        ({"op": "topk", "k": 2.0}, "parameter 'k' must be an integer, not a float (2.0)", "pipeline[0].k"),
        ({"op": "topk", "k": 0}, "must be between 1 and", "pipeline[0].k"),
        ({"op": "topk", "k": 10**100}, "must be between 1 and", "pipeline[0].k"),
        ({"op": "topk", "k": 1, "largest": 1}, "must be true or false", "pipeline[0].largest"),
        ({"op": "mean", "axis": [0, 1.5]}, "item 1 must be an integer", "pipeline[0].axis"),
        ({"op": "clip", "min": float("nan")}, "must be a finite number", "pipeline[0].min"),
        ({"op": "clip", "min": "0"}, "must be a number, not a string", "pipeline[0].min"),
        ({"op": "log", "base": 3}, "must be one of 'e', 2, 10", "pipeline[0].base"),
        ({"op": "log", "base": "10"}, "must be one of", "pipeline[0].base"),
        ({"op": "slice", "slices": [[0, 5, 0]]}, "step must not be zero", "pipeline[0].slices"),
        ({"op": "quantiles", "q": [0.5, 2]}, "item 1 must be between 0 and 1", "pipeline[0].q"),
        ({"op": "abs", "in": ""}, "must be a column name", "pipeline[0].in"),
    ],
)
def test_bad_parameters_are_refused_with_clear_messages(step, needle, field):
    err = error_of([step])
    assert needle in str(err) and err.field == field
    assert not isinstance(err, LimitError)


def test_pipeline_must_be_a_list_of_objects_of_json_values():
    assert "must be a list of steps" in str(error_of({"op": "abs"}))
    assert "a step must be an object" in str(error_of(["abs"]))
    assert "is not a JSON value" in str(error_of([{"op": "select", "indices": (1, 2)}]))
    assert "is not a JSON value" in str(error_of([{"op": "clip", "min": np.float64(1)}]))
    assert "object keys must be strings" in str(error_of([{"op": "abs", 1: 2}]))


def test_deep_nesting_is_refused_without_recursion():
    deep = [0]
    for _ in range(100_000):  # a recursive checker would overflow the stack
        deep = [deep]
    err = error_of([{"op": "slice", "slices": deep}])
    assert "nested deeper than" in str(err)


def test_errors_are_value_errors_and_the_pipeline_is_parsed_before_it_runs():
    assert issubclass(TransformError, ValueError) and issubclass(LimitError, TransformError)
    # The typo in step 1 is found before step 0's expensive work would run.
    err = error_of(
        [{"op": "pca"}, {"op": "histogram", "bins": "30"}], x=np.zeros((3000, 3000)), limits=Limits(max_work_elements=1)
    )
    assert not isinstance(err, LimitError) and err.field == "pipeline[1].bins"


def test_input_columns_must_be_numeric_arrays():
    with pytest.raises(TransformError, match="numeric array"):
        run([], {"value": np.array(["a", "b"])})
    with pytest.raises(TransformError, match="integer class labels"):
        run([{"op": "group_by_class"}], {"value": X, "label": np.linspace(0, 1, 12)})


# ---------------------------------------------------------------------------
# Limits: each breach raises LimitError naming the limit, before the work.


@pytest.mark.parametrize(
    "pipeline, x, limits, limit",
    [
        ([{"op": "abs"}] * 4, X, Limits(max_ops=3), "max_ops"),
        ([], X, Limits(max_input_elements=59), "max_input_elements"),
        ([{"op": "abs"}, {"op": "abs"}], X, Limits(max_work_elements=100), "max_work_elements"),
        ([], X, Limits(max_output_elements=59), "max_output_elements"),
        ([{"op": "histogram", "bins": 10**9}], X, Limits(), "max_bins"),
        ([{"op": "histogram", "edges": list(range(12))}], X, Limits(max_bins=10), "max_bins"),
        ([{"op": "kde", "points": 2001}], X, Limits(), "max_kde_points"),
        ([{"op": "kde"}], X, Limits(max_kde_columns=4), "max_kde_columns"),
        ([{"op": "pca"}], X, Limits(max_pca_features=4), "max_pca_features"),
        ([{"op": "group_by_class"}], X, Limits(max_classes=3), "max_classes"),
        ([{"op": "select", "indices": list(range(11))}], X, Limits(max_pipeline_items=10), "max_pipeline_items"),
    ],
)
def test_every_limit_breach_raises_limit_error(pipeline, x, limits, limit):
    err = error_of(pipeline, x, labels=LABELS, error=LimitError, limits=limits)
    assert err.limit == limit and limit in str(err)
    assert err.value > err.maximum == getattr(limits, limit)


def test_limit_messages_say_which_limit_and_the_values():
    err = error_of([{"op": "histogram", "bins": 10**9}], error=LimitError)
    assert str(err) == "pipeline[0] (histogram): 1000000000 bins, more than max_bins = 10000"
    assert err.field == "pipeline[0].bins"


def test_work_limit_is_checked_before_allocating(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("np.stack ran although the limit was already exceeded")

    monkeypatch.setattr(np, "stack", forbidden)
    pipeline = [
        {"op": "branch", "to": ["c%d" % i for i in range(50)]},
        {"op": "merge", "columns": ["c%d" % i for i in range(50)], "out": "m"},
    ]
    err = error_of(pipeline, np.zeros((100, 100)), error=LimitError, limits=Limits(max_work_elements=100_000))
    assert err.limit == "max_work_elements"


def test_amplifying_select_is_stopped_by_the_work_limit():
    err = error_of([{"op": "select", "indices": [0] * 50_000}], np.zeros((1, 10_000)), error=LimitError)
    assert err.limit == "max_work_elements"


def test_expensive_kde_is_refused_by_the_work_budget():
    err = error_of([{"op": "kde", "points": 2000}], np.zeros((20_000, 10)), error=LimitError)
    assert err.limit == "max_work_elements"


# ---------------------------------------------------------------------------
# Registry hygiene and the grammar description.


def test_every_op_has_a_docstring_and_the_grammar_is_json():
    described = transforms.grammar()
    assert set(described) == set(transforms.OPS)
    for name, entry in described.items():
        assert entry["doc"], name
    json.dumps(described, allow_nan=False)
    assert described["histogram"]["params"]["bins"]["type"] == "integer >= 1 | null"


# ---------------------------------------------------------------------------
# Property tests.


OP_NAMES = sorted(transforms.OPS) + ["nope", "", "eval", "MEAN", "__class__"]
PARAM_NAMES = sorted({key for spec in transforms.OPS.values() for key in spec.params}) + ["op", "bogus"]
COLUMN_NAMES = ["value", "value", "label", "a", "b"]
small_ints = st.integers(-3, 4)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    small_ints,
    st.integers(),
    st.sampled_from([2, 10, 30, 10**12, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2, 2),
    st.sampled_from(COLUMN_NAMES + ["e", "stack", "minmax", "abs", "mean"]),
    st.text(max_size=5),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=3), children, max_size=2)
    ),
    max_leaves=8,
)
bounds = st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2).map(sorted)
# Per parameter, values that are often valid, so the fuzzer reaches the numerics and not only the parser.
PLAUSIBLE = {
    "axis": st.one_of(st.none(), small_ints, st.lists(small_ints, max_size=3)),
    "start_axis": small_ints,
    "k": st.integers(0, 6),
    "points": st.integers(1, 12),
    "components": st.integers(0, 4),
    "bins": st.one_of(st.none(), st.integers(0, 12)),
    "indices": st.lists(small_ints, max_size=4),
    "classes": st.lists(st.integers(-2, 3), max_size=3),
    "shape": st.lists(st.integers(-1, 6), max_size=3),
    "axes": st.one_of(st.none(), st.permutations([0, 1, 2]), st.lists(small_ints, max_size=3)),
    "slices": st.lists(
        st.one_of(st.none(), small_ints, st.lists(st.one_of(st.none(), small_ints), max_size=3)), max_size=3
    ),
    "start": st.one_of(st.none(), small_ints),
    "stop": st.one_of(st.none(), small_ints),
    "step": st.one_of(st.none(), small_ints),
    "min": st.one_of(st.none(), st.floats(-3, 3)),
    "max": st.one_of(st.none(), st.floats(-3, 3)),
    "q": st.lists(st.floats(0, 1), max_size=4),
    "range": st.one_of(st.none(), bounds),
    "edges": st.one_of(st.none(), st.lists(st.floats(-5, 5), min_size=1, max_size=5, unique=True).map(sorted)),
    "base": st.sampled_from(["e", 2, 10]),
    "method": st.sampled_from(["minmax", "zscore", "l2", "auto", "exact", "randomized"]),
    "by": st.sampled_from(["value", "abs"]),
    "largest": st.booleans(),
    "descending": st.booleans(),
    "reduce": st.sampled_from(transforms.REDUCTIONS),
    "how": st.sampled_from(["stack", "concat"]),
    "in": st.sampled_from(COLUMN_NAMES),
    "out": st.one_of(st.none(), st.sampled_from(COLUMN_NAMES)),
    "from": st.sampled_from(COLUMN_NAMES),
    "to": st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2),
    "columns": st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=3),
    "key": st.sampled_from(["coordinates", "values", "indices", "counts", "edges", "columns", "0", "1", "method"]),
}


@st.composite
def steps(draw):
    name = draw(st.sampled_from(OP_NAMES))
    step = {}
    if name in transforms.OPS:
        for key, param in transforms.OPS[name].params.items():
            if param.default is transforms.REQUIRED or draw(st.booleans()):
                wild = draw(st.integers(0, 9)) == 0 or key not in PLAUSIBLE
                step[key] = draw(json_values if wild else PLAUSIBLE[key])
    if draw(st.integers(0, 9)) == 0:  # an unknown or misplaced parameter
        step[draw(st.sampled_from(PARAM_NAMES))] = draw(json_values)
    if draw(st.integers(0, 19)):  # now and then no "op" at all
        step["op"] = name
    return step


arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    elements={"allow_nan": True, "allow_infinity": True},
)


@st.composite
def inputs(draw):
    x = draw(arrays)
    columns = {"value": x}
    if draw(st.booleans()):
        n = x.shape[0] if x.ndim and draw(st.integers(0, 5)) else draw(st.integers(0, 5))
        columns["label"] = np.asarray(draw(st.lists(st.integers(-2, 3), min_size=n, max_size=n)), dtype=np.int64)
    return columns


@pytest.mark.filterwarnings("error")
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipeline=st.lists(steps(), max_size=5), columns=inputs())
def test_random_pipelines_only_ever_raise_transform_error(pipeline, columns):
    try:
        result = run(pipeline, columns)
    except TransformError as error:
        assert not error.unexpected, error  # a numpy error that validation should have caught
        assert str(error)
        return
    json.dumps(result, allow_nan=False)


@pytest.mark.filterwarnings("error")
@settings(max_examples=300, deadline=None)
@given(pipeline=st.lists(json_values, max_size=3), columns=inputs())
def test_arbitrary_json_pipelines_only_ever_raise_transform_error(pipeline, columns):
    try:
        json.dumps(run(pipeline, columns), allow_nan=False)
    except TransformError as error:
        assert not error.unexpected, error


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def histogram_steps(draw):
    kind = draw(st.sampled_from(["bins", "range", "edges"]))
    if kind == "edges":
        edges = draw(st.lists(st.floats(-1e300, 1e300), min_size=2, max_size=8, unique=True))
        return {"op": "histogram", "edges": sorted(edges)}
    step = {"op": "histogram", "bins": draw(st.integers(1, 50))}
    if kind == "range":
        lo, hi = sorted(draw(st.lists(st.floats(-1e300, 1e300), min_size=2, max_size=2, unique=True)))
        step["range"] = [lo, hi]
    return step


@pytest.mark.filterwarnings("error")
@settings(max_examples=400, deadline=None)
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6), elements=finite_or_not),
    prefix=st.sampled_from([[], [{"op": "abs"}], [{"op": "flatten"}], [{"op": "log", "base": 2}]]),
    step=histogram_steps(),
)
def test_valid_histograms_conserve_counts(x, prefix, step):
    out = run(prefix + [step], {"value": x})["value"]
    assert sum(out["counts"]) + out["dropped"] == x.size
    assert out["dropped"] == out["nonfinite"] + out["below"] + out["above"]
    assert len(out["counts"]) == len(out["edges"]) - 1
    assert all(a <= b for a, b in itertools.pairwise(out["edges"]))
