"""Unit tests of the L1 view's pure computations and of the confusion matrix."""

import numpy as np
import pytest

from innspector_tb.analysis import classification, neurons


def test_selected_means_weight_classes_by_their_samples():
    matrix = np.array([[1.0, 2.0], [3.0, 6.0], [np.nan, np.nan]])
    counts = np.array([1, 3, 0])
    np.testing.assert_allclose(neurons.selected_means(matrix, counts, [0, 1]), [2.5, 5.0])
    np.testing.assert_allclose(neurons.selected_means(matrix, counts, [1]), [3.0, 6.0])
    assert np.isnan(neurons.selected_means(matrix, counts, [2])).all()  # a class without samples


def test_aggregate_kernel_sums_convolutions_per_channel_pair():
    kernel = np.arange(3 * 3 * 2 * 4, dtype=np.float64).reshape(3, 3, 2, 4) - 30
    signed, magnitude = neurons.aggregate_kernel(kernel, 2, 4)
    np.testing.assert_allclose(signed, kernel.sum(axis=(0, 1)))
    np.testing.assert_allclose(magnitude, np.abs(kernel).sum(axis=(0, 1)))
    dense = np.array([[1.0, -2.0], [3.0, 0.5]])
    np.testing.assert_allclose(neurons.aggregate_kernel(dense, 2, 2)[0], dense)
    with pytest.raises(ValueError, match="does not join"):
        neurons.aggregate_kernel(dense, 3, 2)


def test_top_weights_are_the_largest_magnitudes_in_order():
    signed = np.array([[0.1, -5.0, 0.2], [3.0, 0.0, -4.0]])
    top = neurons.top_weights(signed, np.abs(signed), 3)
    assert [(i, o) for i, o, _, _ in top] == [(0, 1), (1, 2), (1, 0)]
    assert top[0][2] == -5.0 and top[0][3] == 5.0
    assert len(neurons.top_weights(signed, np.abs(signed), 100)) == 6
    assert neurons.top_weights(signed, np.abs(signed), 0) == []


def test_l1_view_keeps_the_papers_neurons_with_shares():
    rng = np.random.default_rng(0)
    layer_means = rng.normal(size=50)
    previous_means = rng.normal(size=80)
    kernel = rng.normal(size=(80, 50)) * 0.01
    kernel[7, 3] = 9.0  # the strongest weight
    signed, magnitude = neurons.aggregate_kernel(kernel, 80, 50)
    view = neurons.l1_view(layer_means, previous_means, signed, magnitude, k=5, n_extremes=4)
    kept = {n["index"] for n in view["layer"]["neurons"]}
    expected = set(np.argsort(layer_means)[:4]) | set(np.argsort(layer_means)[-4:])
    expected |= {o for _, o, _, _ in neurons.top_weights(signed, magnitude, 5)}
    assert kept == expected and 3 in kept
    assert 7 in {n["index"] for n in view["previous"]["neurons"]}
    assert view["weights"][0] == {"from": 7, "to": 3, "value": 9.0, "magnitude": 9.0}
    shares = [n["share"] for n in view["layer"]["neurons"]]
    assert sum(shares) == pytest.approx(1.0)
    biggest = max(view["layer"]["neurons"], key=lambda n: abs(n["mean"]))
    assert biggest["share"] == max(shares)


def test_l1_view_without_kernel_or_activations():
    view = neurons.l1_view(np.array([1.0, np.nan, 3.0]), np.full(4, np.nan))
    assert view["weights"] == []
    assert [n["index"] for n in view["layer"]["neurons"]] == [0, 2]
    assert view["previous"]["neurons"] == []


def test_confusion_matrix_and_class_metrics():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 0, 2]]
    result = classification.confusion(y_true, classification.predicted_classes(scores), [0, 1, 2])
    assert result["matrix"] == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    assert result["accuracy"] == pytest.approx(4 / 6)
    per = {c["class"]: c for c in result["per_class"]}
    assert per[1]["precision"] == pytest.approx(2 / 3) and per[1]["recall"] == pytest.approx(2 / 3)
    assert per[2]["precision"] == 1.0 and per[2]["support"] == 1
    empty = classification.confusion(np.array([0]), np.array([1]), [0, 1, 2])
    assert [c["precision"] for c in empty["per_class"]] == [None, 0.0, None]  # nothing predicted: undefined
    assert [c["recall"] for c in empty["per_class"]] == [0.0, None, None]
    assert classification.predicted_classes(np.array([[0.2], [0.7]])).tolist() == [0, 1]
    with pytest.raises(ValueError, match="not class scores"):
        classification.predicted_classes(np.zeros((2, 3, 4)))
