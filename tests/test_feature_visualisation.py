"""Class-conditional feature visualisation (capture/feature_visualisation.py), logged by the callback at the
last step for the neurons the mistake finder names (capture/visualisation_log.py), and its route.

Real models: the demo CNN trained on digits, and the demo's spurious-feature classifier, whose training 3s
carry a bright 2x2 marker in the top-left corner that the clean probe lacks.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py
import keras
import numpy as np
import pytest

from demo import data as demo_data
from demo import models as demo_models
from demo import train as demo_train
from innspector_tb import errors
from innspector_tb.analysis import mistakes
from innspector_tb.capture import architecture, visualisation_log
from innspector_tb.capture import feature_visualisation as fv
from innspector_tb.format import step_files
from innspector_tb.server import openapi
from tests.support import openapi_check, trained_models
from tests.support.backend_app import Client

MARKER = demo_data.MARKER_CLASS


def _top3(model, images):
    return np.argsort(-model.predict(images, verbose=0), axis=1)[:, :3]


def _unit_values(model, layer, x, unit):
    """The unit's value per sample (a channel: its mean over positions), computed by Keras itself."""
    values = keras.Model(model.inputs, model.get_layer(layer).output).predict(x, verbose=0)
    values = values.reshape(len(x), -1, values.shape[-1]).mean(axis=1)
    return values[:, unit]


# ------------------------------------------------------------------ the optimisation, on the demo CNN


@pytest.fixture(scope="module")
def digits_cnn():
    keras.utils.set_random_seed(1)
    x_train, y_train, x_test, y_test = demo_data.digits()
    model = demo_models.compile_classifier(demo_models.cnn(filters=(8,), dense_units=32))
    model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    return model, x_test, y_test


@pytest.mark.slow
def test_the_image_for_a_neuron_and_a_class_beats_the_probe_and_puts_the_class_in_the_top_3(digits_cnn):
    model, x, y = digits_cnn
    targets = []
    for cls in (1, 5, 8):
        for layer in ("dense_hidden", "conv_1"):
            # The unit most active on the class's probe samples: a pair that belongs together.
            means = [
                _unit_values(model, layer, x[y == cls], u).mean()
                for u in range(model.get_layer(layer).output.shape[-1])
            ]
            targets.append(fv.Target(layer, int(np.argmax(means)), cls))
    visualiser = fv.Visualiser(model, ["dense_hidden", "conv_1"], (float(x.min()), float(x.max())))
    result = visualiser(targets, x, seed=0)
    assert result.images.shape == (len(targets), 4, 8, 8, 1)
    assert result.images.min() >= x.min() and result.images.max() <= x.max()
    for k, target in enumerate(targets):
        images = result.images[k]
        reached = _unit_values(model, target.layer, images, target.unit)
        probe = _unit_values(model, target.layer, x, target.unit)
        assert np.all(reached > np.percentile(probe, 99)), (target, reached, np.percentile(probe, 99))
        assert np.all(np.any(_top3(model, images) == target.cls, axis=1)), (target, _top3(model, images))
        # What the result reports is what Keras computes.
        np.testing.assert_allclose(result.activation[k], reached, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(result.percentile[k], [100 * np.mean(probe < a) for a in reached], atol=0.5)
        assert np.all(result.class_rank[k] <= 3)
    # Different seeds give different images of the same target.
    assert np.abs(result.images[0, 0] - result.images[0, 1]).mean() > 0.01


@pytest.mark.slow
def test_a_class_visualisation_raises_its_class_to_the_top(digits_cnn):
    model, x, _ = digits_cnn
    visualiser = fv.Visualiser(model, [], (float(x.min()), float(x.max())))
    result = visualiser([fv.Target(None, None, c, "class") for c in range(10)], x, seed=3, results=2)
    top = np.argmax(model.predict(result.images.reshape(-1, 8, 8, 1), verbose=0), axis=1).reshape(10, 2)
    assert np.all(top == np.arange(10)[:, None]), top
    assert np.all(result.class_rank == 1) and np.all(result.percentile > 99)


def test_bad_targets_and_options_are_refused(digits_cnn):
    model, x, _ = digits_cnn
    visualiser = fv.Visualiser(model, ["dense_hidden"], (0.0, 1.0))
    for target, words in (
        (fv.Target("dense_hidden", 32, 1), "not one of its 32 units"),
        (fv.Target("dense_hidden", 0, 10), "not one of the 10 classes"),
        (fv.Target("conv_1", 0, 1), "not one of the watched layers"),
    ):
        with pytest.raises(fv.VisualisationError, match=words):
            visualiser([target], x[:4])
    with pytest.raises(fv.VisualisationError, match="unknown option"):
        visualiser([fv.Target(None, None, 1)], x[:4], step=3)
    with pytest.raises(fv.VisualisationError, match="no layer"):
        fv.Visualiser(model, ["nope"], (0.0, 1.0))
    with pytest.raises(fv.VisualisationError, match="high > low"):
        fv.Visualiser(model, [], (1.0, 1.0))


# ------------------------------------------------------------------ the callback's arguments and time budget


@pytest.mark.parametrize(
    "visualize, steps, words",
    [
        ("yes", None, "visualize must be"),
        ([("dense", 1)], None, "(layer id, unit, class)"),
        ([("dense", -1, 2)], None, "(layer id, unit, class)"),
        ({"targets": [], "colour": 1}, None, "unknown visualize option"),
        ({"steps": 0}, None, "steps must be an integer >= 1"),
        ({"mistake_neurons": -1}, None, "mistake_neurons must be"),
        (None, 0, "visualize_steps must be"),
        (None, "end", "visualize_steps must be"),
    ],
)
def test_bad_visualize_arguments_are_refused(visualize, steps, words):
    with pytest.raises(errors.ConfigurationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        visualisation_log.parse(visualize, steps)


def test_the_time_budget_reduces_steps_then_results_then_class_visualisations_then_targets():
    config = visualisation_log.parse({"mistake_neurons": 2}, None)
    log = visualisation_log.VisualisationLog(config, 0.1)
    user = [fv.Target("d", 0, 1)]
    found = [fv.Target("d", i, c, "mistakes") for c in (3, 5) for i in (7, 8)]
    classes = [fv.Target(None, None, c, "class") for c in range(10)]
    options = dict(config["options"])
    log._row_step_seconds = 1e-6  # 15 targets x 4 results x 256 steps: 0.06 s, within MIN_SECONDS
    targets, fitted, notes = log._fit(user, found, classes, dict(options), covered=1.0)
    assert len(targets) == 15 and fitted["steps"] == 256 and fitted["results"] == 4 and notes == ()
    log._row_step_seconds = 2e-3  # 2 s covers 1,000 row-steps
    targets, fitted, notes = log._fit(user, found, classes, dict(options), covered=1.0)
    assert fitted["steps"] == visualisation_log.MIN_STEPS and fitted["results"] == visualisation_log.MIN_RESULTS
    assert [t.source for t in targets] == ["user", "mistakes", "mistakes", "mistakes", "mistakes"][: len(targets)]
    assert len(targets) * 2 * 64 * 2e-3 <= visualisation_log.MIN_SECONDS
    assert "no class visualisations" in notes and "64 optimisation steps instead of 256" in notes
    # One mistake neuron per class is kept before any class loses its neuron.
    assert {t.cls for t in targets if t.source == "mistakes"} == {3, 5}
    log._row_step_seconds = 1.0
    assert log._fit(user, found, classes, dict(options), covered=1.0) is None
    # Without a time budget nothing is reduced.
    assert visualisation_log.VisualisationLog(config, None)._fit(user, found, classes, dict(options), 1.0)[2] == ()


@pytest.mark.slow
def test_user_targets_every_k_steps_and_off(tmp_path):
    run = trained_models.train(
        str(tmp_path),
        "every",
        trained_models.sequential(),
        epochs=4,
        visualize={"targets": [("conv", 1, 2)], "classes": False, "mistake_neurons": 0, "steps": 64},
        visualize_steps=2,
    )
    steps = _visualised(os.path.join(str(tmp_path), "every"))
    assert steps == [2, 4], steps
    targets = _targets(os.path.join(str(tmp_path), "every"), 4)
    assert targets == [{"layer": "conv", "unit": 1, "class": 2, "source": "user"}]
    assert run["callback"]._visualisation.on
    trained_models.train(str(tmp_path), "off", trained_models.sequential(), epochs=2, visualize=False)
    assert _visualised(os.path.join(str(tmp_path), "off")) == []
    with pytest.raises(errors.ConfigurationError, match="no layer 'nope'"):
        trained_models.train(str(tmp_path), "bad", trained_models.sequential(), epochs=1, visualize=[("nope", 0, 0)])


def _visualised(run_dir):
    folder = os.path.join(run_dir, "innspector")
    steps = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("step_") and name.endswith(".h5"):
            with step_files.open_file(os.path.join(folder, name)) as f:
                if "feature_visualisations" in f:
                    steps.append(int(name[5:-3]))
    return steps


def _targets(run_dir, step):
    with step_files.open_file(os.path.join(run_dir, step_files.step_file(step))) as f:
        return json.loads(f["feature_visualisations"].attrs["targets"])


# ------------------------------------------------------------------ logged at the last step of the spurious demo


@pytest.fixture(scope="module")
def spurious(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("spurious_fv"))
    models = {}
    demo_train.train_all(logdir, epochs=12, only=["spurious_dense"], verbose=False, models=models)
    run_dir = os.path.join(logdir, "spurious_dense")
    read, labels, step = step_files.run_dir_reader(run_dir)
    with h5py.File(os.path.join(run_dir, step_files.SAMPLES_FILE), "r") as f:
        probe_x = f["data_samples/x"][()]
    return {
        "logdir": logdir,
        "model": models["spurious_dense"],
        "read": read,
        "labels": labels,
        "step": step,
        "probe_x": probe_x,
        "targets": _targets(run_dir, step),
    }


@pytest.mark.slow
def test_the_last_step_holds_the_mistake_neurons_the_finder_names_and_every_class(spurious):
    answer = mistakes.analyse(
        architecture.extract_architecture(spurious["model"]), spurious["read"], spurious["labels"], cls=MARKER
    )
    named = [n["index"] for n in answer["neurons"] if n["direction"] == "increase"][:2]
    found = [t["unit"] for t in spurious["targets"] if t["source"] == "mistakes" and t["class"] == MARKER]
    assert found == named and len(found) == 2
    assert all(t["layer"] == "dense_hidden" for t in spurious["targets"] if t["source"] == "mistakes")
    # The class with the most mistakes comes first: the marker's class.
    assert spurious["targets"][0]["class"] == MARKER
    classes = [t["class"] for t in spurious["targets"] if t["source"] == "class"]
    assert classes == list(range(10))
    assert _visualised(os.path.join(spurious["logdir"], "spurious_dense")) == [spurious["step"]]


@pytest.mark.slow
def test_a_flagged_class_3_neuron_shows_the_corner_marker(spurious):
    images = np.asarray(spurious["read"]("feature_visualisations/images"))[..., 0]  # [K, R, 8, 8]
    first = next(k for k, t in enumerate(spurious["targets"]) if t["source"] == "mistakes" and t["class"] == MARKER)
    for image in images[first]:
        corner = image[:2, :2].mean()
        rest = (image.sum() - image[:2, :2].sum()) / 60
        assert corner > 0.8 and corner > rest + 0.3, (corner, rest)
    # The clean probe's 3s have a dark corner: the brightness is the learnt marker, not the digit.
    probe_corner = spurious["probe_x"][spurious["labels"] == MARKER][:, :2, :2].mean()
    assert probe_corner < 0.1


@pytest.mark.slow
def test_stored_values_are_what_the_model_says_of_the_stored_images(spurious):
    read, model = spurious["read"], spurious["model"]
    images = np.asarray(read("feature_visualisations/images"))
    activation = np.asarray(read("feature_visualisations/activation"))
    percentile = np.asarray(read("feature_visualisations/percentile"))
    rank = np.asarray(read("feature_visualisations/class_rank"))
    probe = np.asarray(read("layers/dense_hidden/activations"))
    for k, target in enumerate(spurious["targets"]):
        if target["source"] != "mistakes":
            continue
        reached = _unit_values(model, "dense_hidden", images[k], target["unit"])
        np.testing.assert_allclose(activation[k], reached, rtol=2e-3, atol=2e-3)
        expected = [100 * np.mean(probe[:, target["unit"]] < a) for a in reached]
        np.testing.assert_allclose(percentile[k], expected, atol=1.0)
        order = np.argsort(-model.predict(images[k], verbose=0), axis=1)
        assert list(rank[k]) == [int(np.flatnonzero(o == target["class"])[0]) + 1 for o in order]


@pytest.mark.slow
def test_the_route_serves_them(spurious):
    client = Client(spurious["logdir"])
    status, answer = client.get("/feature_visualisations", run="spurious_dense")
    assert status == 200, answer
    assert openapi_check.validate(answer, openapi.ROUTES["/feature_visualisations"]["schema"]) == []
    assert answer["step"] == spurious["step"] and answer["steps"] == [spurious["step"]]
    assert answer["input_shape"] == [8, 8, 1] and answer["value_range"] == [0.0, 1.0]
    assert [(i["layer"], i["unit"], i["class"], i["source"]) for i in answer["items"]] == [
        (t["layer"], t["unit"], t["class"], t["source"]) for t in spurious["targets"]
    ]
    stored = np.asarray(spurious["read"]("feature_visualisations/images"))
    np.testing.assert_array_equal(np.asarray(answer["items"][0]["images"]), stored[0])
    first = spurious["targets"][0]
    status, one = client.get(
        "/feature_visualisations", run="spurious_dense", layer=first["layer"], unit=str(first["unit"]), **{"class": "3"}
    )
    assert status == 200 and len(one["items"]) == 1 and one["items"][0]["unit"] == first["unit"]
    status, classes = client.get("/feature_visualisations", run="spurious_dense", unit="-1")
    assert status == 200 and [i["class"] for i in classes["items"]] == list(range(10))
    status, models = client.get("/models")
    entry = next(m for m in models["models"] if m["run"] == "spurious_dense")
    assert entry["feature_visualisations"] == {"steps": [spurious["step"]], "targets": len(spurious["targets"])}
    for params, code, words in (
        ({"run": "spurious_dense", "step": "0"}, 404, "no feature visualisations at step 0"),
        ({"run": "spurious_dense", "unit": "x"}, 400, "unit"),
        ({"run": "nope"}, 404, "nope"),
    ):
        status, error = client.get("/feature_visualisations", **params)
        assert status == code and words in error["error"], (params, status, error)


class _StopAfter(keras.callbacks.Callback):
    """Stops training after `epochs` epochs, as EarlyStopping would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


@pytest.mark.slow
def test_training_stopped_early_gets_its_last_logged_step_visualised(tmp_path):
    from innspector_tb.capture.callback import InnspectorCallback

    x, y = trained_models.images()
    model = trained_models.sequential()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    run_dir = str(tmp_path / "stopped")
    callback = InnspectorCallback(
        run_dir, probe=(x, y), probe_size=48, visualize={"mistake_neurons": 0, "steps": 32, "results": 2}
    )
    model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[_StopAfter(2), callback])
    # Step 2 was logged at its epoch's end; train end added the visualisations to its file.
    assert _visualised(run_dir) == [2]
    assert [t["class"] for t in _targets(run_dir, 2)] == [0, 1, 2]
    read, _, last = step_files.run_dir_reader(run_dir)
    assert last == 2
    assert np.asarray(read("layers/out/activations")).shape == (48, 3), "the step's other data are kept"
    assert np.asarray(read("feature_visualisations/images")).shape == (3, 2, 6, 6, 1)
