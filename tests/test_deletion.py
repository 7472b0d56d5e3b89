"""Deletion (pixel-flipping) curves: the ranking, the curves and their areas (capture/deletion.py,
format/deletion.py), on scores worked out by hand."""

import json
import os

import h5py
import numpy as np
import pytest

from innspector_tb.capture import attribution, deletion, step_pacing, time_budget
from innspector_tb.format import deletion as deletion_format
from innspector_tb.format import step_files


def _linear(weights):
    """Scores of a linear model: [m, ...] -> [m, classes], the input flattened times weights [features, classes]."""
    weights = np.asarray(weights, dtype=np.float64)
    return lambda batch: np.asarray(batch, np.float64).reshape(len(batch), -1) @ weights


def test_fractions_and_areas():
    points = deletion_format.fractions(5)
    np.testing.assert_allclose(points, [0, 0.25, 0.5, 0.75, 1])
    curves = np.array([[1, 1, 1, 1, 1], [1, 0.75, 0.5, 0.25, 0], [1, 0.6, 0.3, 0.1, 0], [np.nan] * 5])
    areas = deletion_format.auc(curves, points)
    np.testing.assert_allclose(areas[:3], [1.0, 0.5, 0.375])
    assert np.isnan(areas[3])
    assert deletion_format.mean_auc(curves, points) == pytest.approx((1 + 0.5 + 0.375) / 3)
    assert deletion_format.mean_auc(curves[3:], points) is None
    with pytest.raises(ValueError):
        deletion_format.fractions(1)
    with pytest.raises(ValueError):
        deletion_format.auc(curves, points[:4])


def test_a_linear_model_s_curve_follows_its_contributions():
    # score = 4 x0 + 3 x1 + 2 x2 + x3 = 10 at x = 1; deleting to 0 the most relevant first: 10, 6, 3, 1, 0.
    score = _linear([[4], [3], [2], [1]])
    x = np.ones((1, 4))
    maps = {
        "gradient_x_input": {"predicted": np.array([[4.0, 3, 2, 1]])},
        "lrp_epsilon": {"predicted": np.array([[1.0, 2, 3, 4]])},  # the wrong order: least relevant first
    }
    result = deletion.curves(score, x, maps, {"predicted": np.array([0])}, steps=5)
    np.testing.assert_allclose(result.curves["gradient_x_input"]["predicted"][0], [1, 0.6, 0.3, 0.1, 0], atol=1e-6)
    np.testing.assert_allclose(result.curves["lrp_epsilon"]["predicted"][0], [1, 0.9, 0.7, 0.4, 0], atol=1e-6)
    good, bad = (deletion_format.auc(result.curves[m]["predicted"], result.fractions)[0] for m in maps)
    assert good == pytest.approx(0.375) and bad == pytest.approx(0.625)
    # A random order lies in between, on average over many samples.
    many = np.ones((400, 4))
    random = deletion.curves(score, many, {}, {"predicted": np.zeros(400, int)}, steps=5).curves["random"]
    assert 0.375 < deletion_format.mean_auc(random["predicted"], result.fractions) < 0.625
    assert result.undefined == {"predicted": 0} and result.skipped == {} and result.baseline == 0.0


def test_a_pixel_is_deleted_with_all_its_channels_and_gradients_rank_by_magnitude():
    # 2x2 pixels of 2 channels; score = sum of pixel (0,0)'s channels * 5 + pixel (1,1)'s first channel.
    w = np.zeros((2, 2, 2))
    w[0, 0] = [2, 3]
    w[1, 1, 0] = 1
    score = _linear(w.reshape(-1, 1))
    x = np.ones((1, 2, 2, 2))
    # Saliency is the gradient: negative where it is large. Its magnitude ranks pixel (0,0) first.
    maps = {"saliency": {"predicted": -w[None]}, "gradient_x_input": {"predicted": -w[None]}}
    result = deletion.curves(score, x, maps, {"predicted": np.array([0])}, steps=5)
    np.testing.assert_allclose(result.curves["saliency"]["predicted"][0], [1, 1 / 6, 0, 0, 0], atol=1e-6)
    # Signed, the same map says pixel (0,0) speaks against the class: it is deleted last.
    assert result.curves["gradient_x_input"]["predicted"][0][3] == pytest.approx(5 / 6)


def test_the_baseline_and_an_undefined_sample():
    score = _linear([[1.0], [1.0]])
    x = np.array([[3.0, 1.0], [0.5, 0.5]])
    maps = {"integrated_gradients": {"true": np.array([[2.0, 0.0], [0.0, 1.0]])}}
    # Baseline 1: sample 0 scores 4 against 2 (deleting x0 first: 2 + ... -> (1 + 1 - 2) / 2 = 0);
    # sample 1 scores 1, not above the baseline's 2: no curve.
    result = deletion.curves(score, x, maps, {"true": np.array([0, 0])}, steps=3, baseline=1.0)
    curve = result.curves["integrated_gradients"]["true"]
    np.testing.assert_allclose(curve[0], [1, 0, 0], atol=1e-6)
    assert np.isnan(curve[1]).all() and result.undefined == {"true": 1} and result.baseline == 1.0
    array_baseline = deletion.curves(score, x, maps, {"true": np.array([0, 0])}, steps=3, baseline=np.ones(2))
    assert array_baseline.baseline == "array"
    np.testing.assert_allclose(array_baseline.curves["integrated_gradients"]["true"][0], curve[0])


def test_grad_cam_s_coarse_map_is_upsampled_and_ties_follow_the_random_order():
    scores = deletion.feature_scores(np.array([[[1.0, 2.0], [3.0, 4.0]]]), "grad_cam", (4, 4, 3))
    np.testing.assert_array_equal(scores.reshape(4, 4), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    orders = deletion.random_orders([7], 16, seed=3)
    positions = deletion.ranks(scores, orders)[0]
    # The four features of the cell of 4 go first, in the random order's sequence.
    first = np.argsort(positions)[:4]
    assert set(first) == {10, 11, 14, 15}
    assert list(first) == [f for f in orders[0] if f in {10, 11, 14, 15}]
    with pytest.raises(deletion.DeletionError, match="cannot rank"):
        deletion.feature_scores(np.zeros((1, 3)), "grad_cam", (4, 4, 3))


def test_the_random_order_is_seeded_by_the_probe_row():
    a = deletion.random_orders([5, 9], 50, seed=0)
    np.testing.assert_array_equal(a, deletion.random_orders([5, 9], 50, seed=0))
    np.testing.assert_array_equal(a[1], deletion.random_orders([9], 50, seed=0)[0])
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a, deletion.random_orders([5, 9], 50, seed=1))
    assert sorted(a[0]) == list(range(50))


def test_targets_that_agree_share_their_curves_and_batching_does_not_change_them():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 3))
    x = rng.uniform(size=(5, 2, 2, 3))
    score = _linear(w)
    predicted = np.argmax(score(x), axis=1)
    true = predicted.copy()
    true[0] = (true[0] + 1) % 3
    calls = []

    def counted(batch):
        calls.append(len(batch))
        return score(batch)

    contributions = {
        t: (x.reshape(5, -1) * w[:, c].T).reshape(x.shape) for t, c in (("predicted", predicted), ("true", true))
    }
    maps = {"gradient_x_input": contributions}
    classes = {"predicted": predicted, "true": true}
    one = deletion.curves(counted, x, maps, classes, steps=6, rows_per_call=7)
    # 6 distinct (sample, class) pairs, 2 rankings, 4 inner points: 48 rows; plus the samples and the baseline.
    assert sum(calls) == 48 + 5 + 1
    assert max(calls) <= 7 and deletion.forward_rows(5, 2, 2, 6) >= sum(calls)  # the budget's upper bound
    other = deletion.curves(score, x, maps, classes, steps=6, rows_per_call=4096)
    for name in ("gradient_x_input", "random"):
        for target in classes:
            np.testing.assert_allclose(one.curves[name][target], other.curves[name][target])
        np.testing.assert_array_equal(one.curves[name]["predicted"][1:], one.curves[name]["true"][1:])
    assert not np.array_equal(one.curves["random"]["predicted"][0], one.curves["random"]["true"][0])


def test_the_time_budget_reduces_the_curves_before_the_maps():
    methods, options = ("saliency", "integrated_gradients"), {"ig_steps": 32}
    full = time_budget.rows(32, 2, methods, options, deletion_steps=16)
    assert full - time_budget.rows(32, 2, methods, options) == pytest.approx(
        deletion.forward_rows(32, 2, 3, 16) * time_budget.FORWARD_ROW
    )
    assert time_budget.fit(full, 1.0, 32, 2, methods, options, deletion_steps=16).deletion_steps == 16
    fewer = time_budget.fit(full - 1, 1.0, 32, 2, methods, options, deletion_steps=16)
    assert fewer.deletion_steps == 8 and fewer.options["ig_steps"] == 32
    assert fewer.notes == ("deletion curves of 8 points instead of 16",)
    maps_only = time_budget.rows(32, 2, methods, options)
    none = time_budget.fit(maps_only, 1.0, 32, 2, methods, options, deletion_steps=16)
    assert none.deletion_steps == 0 and none.options["ig_steps"] == 32 and none.size == 32
    assert none.notes == ("left out: deletion curves (14 forward passes per sample, class and method)",)


# A real classifier trained through the callback: the curves read back from its step files.


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from demo import data as demo_data
    from demo import models as demo_models
    from innspector_tb.capture.callback import InnspectorCallback

    logdir = str(tmp_path_factory.mktemp("deletion"))
    x_train, y_train, x_test, y_test = demo_data.digits()
    model = demo_models.compile_classifier(demo_models.cnn((8, 16), 32, "digits_cnn"))
    callback = InnspectorCallback(
        os.path.join(logdir, "digits_cnn"),
        probe=(x_test[:128], y_test[:128]),
        attributions={"methods": ("saliency", "integrated_gradients", "lrp_epsilon", "grad_cam"), "size": 40},
        time_budget=None,
    )
    model.fit(x_train, y_train, epochs=4, batch_size=32, verbose=0, callbacks=[callback])
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    return os.path.join(logdir, "digits_cnn"), model, accuracy, np.asarray(callback.probe_x)


def _read_deletion(run_dir, step):
    with h5py.File(os.path.join(run_dir, step_files.step_file(step)), "r") as f:
        group = f["attributions/deletion"]
        curves = {
            (name, target): step_files.read_array(f, "attributions/deletion/%s/%s" % (name, target))
            for name in group
            if isinstance(group[name], h5py.Group)
            for target in group[name]
        }
        fractions = step_files.read_array(f, "attributions/deletion/fractions")
        return curves, fractions, {k: json.loads(v) for k, v in group.attrs.items()}


@pytest.mark.slow
def test_lrp_epsilon_and_integrated_gradients_delete_faster_than_a_random_ranking(digits_run):
    run_dir, model, accuracy, _ = digits_run
    assert accuracy > 0.85, accuracy  # a model worth explaining
    last = max(step_files.list_step_files(run_dir))
    curves, fractions, attrs = _read_deletion(run_dir, last)
    np.testing.assert_allclose(fractions, np.linspace(0, 1, deletion_format.DEFAULT_STEPS), rtol=2**-11)  # rounded
    names = {name for name, _ in curves}
    assert names == {"saliency", "integrated_gradients", "lrp_epsilon", "grad_cam", "random"}
    for (name, target), curve in curves.items():
        assert curve.shape == (40, 16), (name, target)
        defined = curve[np.isfinite(curve[:, 0])]
        np.testing.assert_allclose(defined[:, 0], 1) and np.testing.assert_allclose(defined[:, -1], 0, atol=1e-6)
    areas = {key: deletion_format.auc(curve, fractions) for key, curve in curves.items()}
    for target in ("predicted", "true"):
        random = np.nanmean(areas[("random", target)])
        for method in ("lrp_epsilon", "integrated_gradients"):
            ours = areas[(method, target)]
            # The model's mean area, and most samples one by one, are below the random ranking's.
            assert np.nanmean(ours) < random - 0.05, (method, target, np.nanmean(ours), random)
            assert np.nanmean(ours < areas[("random", target)]) > 0.75, (method, target)
            assert attrs["auc"][method][target] == pytest.approx(np.nanmean(ours), abs=2e-3)
    assert attrs["undefined"]["predicted"] == 0 and attrs["skipped"] == {} and attrs["baseline"] == 0.0


@pytest.mark.slow
def test_the_logged_curves_are_those_of_the_trained_model(digits_run):
    run_dir, model, _, probe_x = digits_run
    last = max(step_files.list_step_files(run_dir))
    curves, fractions, _ = _read_deletion(run_dir, last)
    with h5py.File(os.path.join(run_dir, step_files.step_file(last)), "r") as f:
        sample = step_files.read_array(f, "attributions/sample")
        classes = {t: step_files.read_array(f, "attributions/class/" + t) for t in ("predicted", "true")}
        maps = {
            m: {t: step_files.read_array(f, "attributions/%s/%s" % (m, t)) for t in classes}
            for m in ("integrated_gradients",)
        }
    x = probe_x[sample]
    again = deletion.curves(attribution.attributor(model).scores, x, maps, classes, len(fractions), sample=sample)
    for target in classes:
        # The random ranking depends on the probe rows only: the same curves, up to the stored rounding.
        np.testing.assert_allclose(
            curves[("random", target)], again.curves["random"][target], atol=5e-3, equal_nan=True
        )
        # The maps read back are rounded: a near-tie may swap two features' places, so compare the areas.
        logged = deletion_format.mean_auc(curves[("integrated_gradients", target)], fractions)
        assert logged == pytest.approx(
            deletion_format.mean_auc(again.curves["integrated_gradients"][target], fractions), abs=0.01
        )


def test_curves_travel_to_the_writer_process_whole():
    from innspector_tb.capture import attribution_setup, log_jobs

    result = attribution_setup.AttributionResult({"saliency": {"predicted": np.ones((2, 3))}})
    result.classes, result.sample = {"predicted": np.array([0, 1])}, np.array([4, 7])
    result.deletion = deletion.curves(
        _linear(np.eye(3)[:, :2]), np.ones((2, 3)), result, result.classes, steps=4, sample=result.sample
    )
    _, meta, arrays = log_jobs.step_job(3, attributions=result)
    back = log_jobs._unpack_attributions(meta["attributions"], arrays).deletion
    np.testing.assert_array_equal(back.fractions, result.deletion.fractions)
    assert back.curves.keys() == {"saliency", "random"} and back.undefined == {"predicted": 0}
    np.testing.assert_array_equal(back.curves["random"]["predicted"], result.deletion.curves["random"]["predicted"])


@pytest.mark.slow
def test_the_data_route_serves_the_curves_and_their_areas(digits_run):
    from innspector_tb.server import openapi
    from tests.support import openapi_check
    from tests.support.backend_app import Client

    run_dir, _, _, _ = digits_run
    client = Client(os.path.dirname(run_dir))
    last = max(step_files.list_step_files(run_dir))
    curves, fractions, _ = _read_deletion(run_dir, last)
    body = {"run": "digits_cnn", "unit": {"kind": "attributions", "method": "lrp_epsilon", "target": "true"}}
    status, answer = client.post("/data", dict(body, classes=[3, 5]))
    assert status == 200, answer
    assert openapi_check.validate(answer, openapi.ROUTES["/data"]["schema"]) == []
    served = answer["attribution"]["deletion"]
    assert served["step"] == last and served["target"] == "true" and served["baseline"] == 0.0
    assert [c["method"] for c in served["curves"]] == [
        "saliency",
        "integrated_gradients",
        "grad_cam",
        "lrp_epsilon",
        "random",
    ]
    np.testing.assert_allclose(served["fractions"], fractions)
    with h5py.File(os.path.join(run_dir, step_files.step_file(last)), "r") as f:
        sample = step_files.read_array(f, "attributions/sample")
        labels = step_files.read_array(f, "attributions/class/true")
    keep = np.isin(labels, [3, 5])
    assert answer["result"]["sample"]["data"] == sample[keep].tolist()
    for entry in served["curves"]:
        stored = curves[(entry["method"], "true")][keep]
        areas = deletion_format.auc(stored, fractions)
        np.testing.assert_allclose(np.array(entry["auc"], dtype=float), areas, rtol=1e-6)
        assert entry["model_auc"] == pytest.approx(np.nanmean(areas))
        np.testing.assert_allclose(entry["mean"], np.nanmean(stored, axis=0), rtol=1e-6)
    # Every method the model logged answers the same curves; a model listing does not take them for a method.
    status, listing = client.get("/models")
    assert listing["models"][0]["attributions"]["methods"] == [
        "saliency",
        "integrated_gradients",
        "grad_cam",
        "lrp_epsilon",
    ]


@pytest.mark.slow
def test_the_time_budget_thins_the_curves_then_leaves_them_out_and_says_so(tmp_path, monkeypatch, capsys):
    from innspector_tb.capture.callback import InnspectorCallback
    from tests.support import trained_models as tm
    from tests.support.backend_app import Client

    # A gradient row said to cost 20 ms: saliency's 12 rows fit any budget; the curves' forward passes
    # (343 at 16 points, counted as half a row each) fit step 0's 2 s at 8 points, and no later step's 0.5 s.
    monkeypatch.setattr(InnspectorCallback, "_calibrate_attributions", lambda self: 0.02)
    tm.train(
        str(tmp_path),
        "seq",
        tm.sequential(),
        attributions={"methods": ("saliency",), "size": 6},
        time_budget=step_pacing.DEFAULT_SHARE,
    )
    printed = capsys.readouterr().out
    assert "deletion curves of 8 points instead of 16" in printed and "left out: deletion curves" in printed
    run_dir = os.path.join(str(tmp_path), "seq")
    steps = sorted(step_files.list_step_files(run_dir))
    curves, fractions, _ = _read_deletion(run_dir, steps[0])
    assert fractions.shape == (8,) and curves[("saliency", "true")].shape == (6, 8)
    with h5py.File(os.path.join(run_dir, step_files.step_file(steps[-1])), "r") as f:
        assert "deletion" not in f["attributions"] and "saliency" in f["attributions"]
        assert json.loads(f["attributions"].attrs["skipped"])["deletion"] == "left out by the time budget"
    body = {"run": "seq", "unit": {"kind": "attributions", "method": "saliency"}}
    status, answer = Client(str(tmp_path)).post("/data", body)
    assert status == 200 and answer["attribution"]["deletion"] is None
    assert answer["attribution"]["deletion_note"] == "left out by the time budget"
    status, first = Client(str(tmp_path)).post("/data", dict(body, steps=steps[0]))
    assert (
        first["attribution"]["deletion"]["fractions"][-1] == 1.0
        and len(first["attribution"]["deletion"]["fractions"]) == 8
    )
