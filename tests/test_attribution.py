"""Attribution maps: the methods against independent computations, the callback's logging, the data route."""

import json
import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import innspector_tb
from demo import data as demo_data
from demo import models as demo_models
from innspector_tb.capture import attribution, summary
from innspector_tb.capture.callback import InnspectorCallback, InnspectorError
from innspector_tb.format import rounding, step_files
from innspector_tb.server import json_tools, routes_data
from innspector_tb.store import models
from tests.support import openapi_check
from tests.support import trained_models as tm
from tests.support.backend_app import Client


def _smooth_model(dtype="float64", softmax_layer=False):
    """A small CNN with smooth activations (finite differences need no kinks), in float64."""
    image = keras.Input((6, 6, 1), name="image", dtype=dtype)
    h = layers.Conv2D(3, 3, activation="tanh", name="conv", dtype=dtype)(image)
    h = layers.Flatten(name="flatten", dtype=dtype)(h)
    h = layers.Dense(8, activation="tanh", name="hidden", dtype=dtype)(h)
    if softmax_layer:
        logits = layers.Dense(tm.CLASSES, name="logits", dtype=dtype)(h)
        out = layers.Activation("softmax", name="softmax", dtype=dtype)(logits)
    else:
        out = layers.Dense(tm.CLASSES, activation="softmax", name="out", dtype=dtype)(h)
    model = keras.Model(image, out, name="smooth")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    x, y = tm.images(48)
    model.fit(x.astype(dtype), y, epochs=3, batch_size=16, verbose=0)
    return model


def _logits(model, x):
    """The pre-softmax logits through Keras' public API: the output layer's kernel and bias applied by hand."""
    out = model.get_layer("out")
    hidden = keras.Model(model.input, model.get_layer("hidden").output)(x, training=False)
    return np.asarray(hidden) @ np.asarray(out.kernel) + np.asarray(out.bias)


def _finite_difference(f, x, eps=1e-6):
    """d f(x)[i] / d x[i] for every element, f: [m, ...] -> [m], by central differences (one batched call)."""
    n, size = x.shape[0], int(np.prod(x.shape[1:]))
    flat = x.reshape(n, size)
    plus = np.repeat(flat[:, None, :], size, axis=1) + eps * np.eye(size)[None]
    minus = np.repeat(flat[:, None, :], size, axis=1) - eps * np.eye(size)[None]

    def rows(a):
        return a.reshape((n * size,) + x.shape[1:])

    return ((f(rows(plus)) - f(rows(minus))) / (2 * eps)).reshape(x.shape)


@pytest.fixture(scope="module")
def smooth():
    return _smooth_model()


def test_saliency_of_the_logit_equals_finite_differences(smooth):
    x, y = tm.images(6, seed=1)
    x = x.astype(np.float64)
    classes = np.array([0, 1, 2, 2, 1, 0])
    found = attribution.saliency(smooth, x, classes)
    assert found.shape == x.shape and found.dtype == np.float64
    expected = _finite_difference(
        lambda rows: _logits(smooth, rows)[np.arange(rows.shape[0]), np.repeat(classes, x[0].size)], x
    )
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-8)
    # The attributed score is the logit: softmax of it is the model's output.
    scores = attribution.attributor(smooth).scores(x)
    np.testing.assert_allclose(scores, _logits(smooth, x), rtol=1e-10)
    assert attribution.attributor(smooth).score == "logit"
    # gradient x input is exactly that gradient times the input.
    np.testing.assert_allclose(attribution.gradient_x_input(smooth, x, classes), found * x, rtol=1e-12)


def test_saliency_of_the_output_probability_equals_finite_differences(smooth):
    x, _ = tm.images(4, seed=2)
    x = x.astype(np.float64)
    found = attribution.saliency(smooth, x, 1, score="output")
    expected = _finite_difference(lambda rows: np.asarray(smooth(rows, training=False))[:, 1], x)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-9)


def test_a_softmax_layer_is_left_out_too():
    model = _smooth_model(softmax_layer=True)
    x, _ = tm.images(5, seed=3)
    x = x.astype(np.float64)
    logits = keras.Model(model.input, model.get_layer("logits").output)(x)
    np.testing.assert_allclose(attribution.attributor(model).scores(x), np.asarray(logits), rtol=1e-10)
    found = attribution.saliency(model, x, 2)
    expected = _finite_difference(
        lambda rows: np.asarray(keras.Model(model.input, model.get_layer("logits").output)(rows))[:, 2], x
    )
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-8)


@pytest.fixture(scope="module")
def digits_cnn():
    x_train, y_train, x_test, y_test = demo_data.digits()
    model = demo_models.compile_classifier(demo_models.cnn((8, 16), 32, "digits_cnn"))
    model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    return model, x_test[:24], y_test[:24]


def test_integrated_gradients_are_complete(digits_cnn):
    model, x, y = digits_cnn
    scores = attribution.attributor(model).scores
    expected = scores(x)[np.arange(len(y)), y] - scores(np.zeros_like(x))[np.arange(len(y)), y]
    for steps, tolerance in ((256, 0.01), (32, 0.05)):
        ig = attribution.integrated_gradients(model, x, y, steps=steps)
        assert ig.shape == x.shape
        error = np.abs(ig.reshape(len(y), -1).sum(axis=1) - expected)
        assert error.max() <= tolerance * np.abs(expected).max(), (steps, error.max(), np.abs(expected).max())
    # Another baseline: the attributions sum to the difference from it.
    baseline = np.full(x.shape[1:], 0.5, dtype=np.float32)
    ig = attribution.integrated_gradients(model, x, y, steps=256, baseline=baseline)
    expected = scores(x)[np.arange(len(y)), y] - scores(np.broadcast_to(baseline, x.shape))[np.arange(len(y)), y]
    assert np.abs(ig.reshape(len(y), -1).sum(axis=1) - expected).max() <= 0.01 * np.abs(expected).max()


def _functional_cnn():
    image = keras.Input((8, 8, 1), name="image")
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(image)
    b = layers.Conv2D(6, 3, activation="relu", name="conv_b")(a)
    h = layers.Flatten(name="flatten")(layers.MaxPooling2D(2, name="pool")(b))
    logits = layers.Dense(10, name="logits")(h)
    out = layers.Activation("softmax", name="softmax")(logits)
    model = keras.Model(image, out, name="functional_cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x_train, y_train, _, _ = demo_data.digits()
    model.fit(x_train[:512], y_train[:512], epochs=1, batch_size=64, verbose=0)
    return model


def _manual_grad_cam(model, layer_name, x, classes):
    """Grad-CAM through Keras' public API: a model giving the layer's output and the logits."""
    grad_model = keras.Model(model.input, [model.get_layer(layer_name).output, model.get_layer("logits").output])
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        conv, logits = grad_model(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, classes[:, None], batch_dims=1))
    grads = tape.gradient(score, conv)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    return np.maximum(np.asarray(tf.reduce_sum(weights * conv, axis=-1)), 0)


def test_grad_cam_matches_a_manual_computation_and_has_the_convolution_s_shape():
    model = _functional_cnn()
    _, _, x, y = demo_data.digits()
    x, y = x[:10], y[:10]
    cam = attribution.grad_cam(model, x, y)  # the last convolution: conv_b, 6 x 6
    assert cam.shape == (10, 6, 6) and (cam >= 0).all()
    np.testing.assert_allclose(cam, _manual_grad_cam(model, "conv_b", x, y), rtol=1e-4, atol=1e-6)
    first = attribution.grad_cam(model, x, y, layer="conv_a")
    assert first.shape == (10, 8, 8) and (first >= 0).all()
    np.testing.assert_allclose(first, _manual_grad_cam(model, "conv_a", x, y), rtol=1e-4, atol=1e-6)
    assert attribution.attributor(model).grad_cam_id == "conv_b"


def test_grad_cam_of_a_sequential_cnn_and_of_a_convolution_in_a_nested_model(digits_cnn):
    model, x, y = digits_cnn
    cam = attribution.grad_cam(model, x, y)
    assert cam.shape == (len(x), 8, 8) and (cam >= 0).all() and cam.max() > 0
    assert attribution.attributor(model).grad_cam_id == "conv_2"
    nested = demo_models.compile_classifier(demo_models.cnn_nested())
    x_train, y_train, _, _ = demo_data.digits()
    nested.fit(x_train[:512], y_train[:512], epochs=1, verbose=0)
    assert attribution.attributor(nested).grad_cam_id == "features/conv_1"
    cam = attribution.grad_cam(nested, x, y)
    assert cam.shape == (len(x), 8, 8) and (cam >= 0).all() and cam.max() > 0
    # The same layer named by its id gives the same maps.
    np.testing.assert_allclose(attribution.grad_cam(nested, x, y, layer="features/conv_1"), cam, rtol=1e-6)


def test_smoothgrad_is_the_mean_of_noisy_saliencies(digits_cnn):
    model, x, y = digits_cnn
    x, y = x[:5], y[:5]
    found = attribution.smoothgrad(model, x, y, samples=8, noise=0.2, seed=7)
    assert found.shape == x.shape
    manual = np.stack(
        [
            attribution.saliency(
                model, x[i] + attribution.smoothgrad_noise(x, i, 8, 0.2, seed=7), np.full(8, y[i])
            ).mean(axis=0)
            for i in range(5)
        ]
    )
    np.testing.assert_allclose(found, manual, rtol=1e-4, atol=1e-6)
    noise = attribution.smoothgrad_noise(x, 0, 4000, 0.2, seed=7)
    assert abs(noise.std() - 0.2 * (x[0].max() - x[0].min())) < 0.01
    # A different seed, different noise; the same seed, the same maps.
    assert not np.allclose(attribution.smoothgrad(model, x, y, samples=8, noise=0.2, seed=8), found)
    np.testing.assert_array_equal(attribution.smoothgrad(model, x, y, samples=8, noise=0.2, seed=7), found)


def test_attribute_computes_every_method_for_both_targets_once_per_distinct_class(digits_cnn):
    model, x, y = digits_cnn
    result = attribution.attribute(model, x, y)
    assert list(result) == list(attribution.DEFAULT_METHODS)
    assert result.score == "logit" and result.grad_cam_layer == "conv_2" and result.skipped == {}
    predicted = attribution.attributor(model).scores(x).argmax(axis=1)
    np.testing.assert_array_equal(result.classes["predicted"], predicted)
    np.testing.assert_array_equal(result.classes["true"], y)
    for method, by_target in result.items():
        assert set(by_target) == {"predicted", "true"}
        right = predicted == y
        np.testing.assert_array_equal(by_target["predicted"][right], by_target["true"][right])
        for target, classes in result.classes.items():
            if method == "saliency":
                np.testing.assert_allclose(
                    by_target[target], attribution.saliency(model, x, classes), rtol=1e-5, atol=1e-7
                )
    # Batched in small calls, the same numbers.
    small = attribution.attribute(model, x, y, methods=("integrated_gradients", "grad_cam"), batch_size=7)
    np.testing.assert_allclose(
        small["integrated_gradients"]["true"], result["integrated_gradients"]["true"], rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(small["grad_cam"]["true"], result["grad_cam"]["true"], rtol=1e-4, atol=1e-6)


def test_models_without_convolutions_or_with_several_outputs():
    dense = demo_models.compile_classifier(demo_models.dense_baseline())
    _, _, x, y = demo_data.digits()
    result = attribution.attribute(dense, x[:4], y[:4])
    assert "grad_cam" not in result and result.skipped == {"grad_cam": "the model has no convolution"}
    assert result["saliency"]["true"].shape == (4, 8, 8, 1)
    with pytest.raises(attribution.AttributionError, match="no convolution"):
        attribution.grad_cam(dense, x[:4], y[:4])
    vae = demo_models.vae("vae", 0.5, 0.5)
    with pytest.raises(attribution.AttributionError, match="one input and one output"):
        attribution.attribute(vae, x[:4], y[:4])
    assert attribution.image_classifier_reason(vae, y).startswith("it has 1 inputs and 3 outputs")
    with pytest.raises(attribution.AttributionError, match="must be a convolution; 'classifier' is a Dense"):
        attribution.Attributor(demo_models.compile_classifier(demo_models.cnn()), grad_cam_layer="classifier")
    with pytest.raises(attribution.AttributionError, match="unknown attribution method"):
        attribution.attribute(dense, x[:4], y[:4], methods=("lrp",))
    with pytest.raises(attribution.AttributionError, match="ig_steps"):
        attribution.attribute(dense, x[:4], y[:4], ig_steps=0)
    # Without labels the true class is skipped, the predicted one computed.
    result = attribution.attribute(dense, x[:4], methods="saliency")
    assert set(result["saliency"]) == {"predicted"} and "true" in result.skipped


# The callback.

# What the callback logs by default for tm.sequential(): the default methods but LRP (see its BN).
LOGGED_BY_SEQ = tuple(m for m in attribution.DEFAULT_METHODS if not m.startswith("lrp_"))


def _read_attributions(run_dir, step):
    with h5py.File(os.path.join(run_dir, step_files.step_file(step)), "r") as f:
        if "attributions" not in f:
            return None
        names = []  # every name, hard-linked duplicates too (class/true is class/predicted when all are right)
        f["attributions"].visititems_links(
            lambda n, link: names.append(n) if isinstance(f["attributions"][n], h5py.Dataset) else None
        )
        return {n: step_files.read_array(f, "attributions/" + n) for n in names}, dict(f["attributions"].attrs)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("attributions"))
    trained = {
        "seq": tm.train(logdir, "seq", tm.sequential()),
        "seq_off": tm.train(logdir, "seq_off", tm.sequential(), attributions=False),
        "seq_some": tm.train(
            logdir,
            "seq_some",
            tm.sequential(),
            writer="process",
            attributions={"methods": ("saliency", "grad_cam"), "size": 6, "layer": "conv", "targets": "true"},
        ),
    }
    x, y = tm.images(64)
    tabular = keras.Sequential(
        [keras.Input((36,)), layers.Dense(8, activation="relu"), layers.Dense(tm.CLASSES, activation="softmax")],
        name="tabular",
    )
    tabular.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    tabular.fit(
        x.reshape(64, 36),
        y,
        epochs=1,
        verbose=0,
        callbacks=[InnspectorCallback(os.path.join(logdir, "tabular"), probe=(x.reshape(64, 36), y))],
    )
    x_train, y_train, _, _ = demo_data.digits()
    vae = demo_models.vae("vae", 0.5, 0.5)
    vae.fit(
        x_train[:128],
        epochs=1,
        batch_size=32,
        verbose=0,
        callbacks=[InnspectorCallback(os.path.join(logdir, "vae"), probe=(x_train[:64], y_train[:64]))],
    )
    return logdir, trained


@pytest.mark.slow
def test_the_callback_stores_attributions_at_every_step_of_an_image_classifier(logged):
    logdir, trained = logged
    run = trained["seq"]
    steps = step_files.list_step_files(os.path.join(logdir, "seq"))
    assert sorted(steps) == list(range(tm.EPOCHS + 1))
    probe_labels = tm.images()[1][run["callback"].probe_index]
    for step in steps:
        arrays, attrs = _read_attributions(os.path.join(logdir, "seq"), step)
        sample = arrays["sample"]
        assert sample.shape == (32,) and len(set(sample)) == 32 and sample.max() < 48
        # Balanced over the three classes of the probe.
        assert sorted(np.bincount(probe_labels[sample])) == [10, 11, 11]
        np.testing.assert_array_equal(arrays["class/true"], probe_labels[sample])
        for method in LOGGED_BY_SEQ:
            for target in attribution.TARGETS:
                expected = (32, 4, 4) if method == "grad_cam" else (32, 6, 6, 1)
                assert arrays["%s/%s" % (method, target)].shape == expected, (step, method)
        assert arrays["grad_cam/true"].min() >= 0
        assert attrs["score"] == "logit" and attrs["grad_cam_layer"] == "conv"
        assert json.loads(attrs["methods"]) == list(LOGGED_BY_SEQ)
        # Its BatchNormalization follows the convolution's ReLU: no linear layer to fold it into, no LRP.
        reason = "BatchNormalization 'bn' cannot be folded into a linear layer: 'conv' before it has an activation"
        assert json.loads(attrs["skipped"]) == {"lrp_epsilon": reason, "lrp_epsilon_plus_flat": reason}
        assert json.loads(attrs["options"])["ig_steps"] == 32
    # The last step is the trained model: recomputing gives the logged maps.
    x = run["callback"].probe_x[sample]
    recomputed = attribution.attribute(run["model"], x, probe_labels[sample])
    for method in LOGGED_BY_SEQ:
        np.testing.assert_allclose(arrays[method + "/true"], recomputed[method]["true"], rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(arrays["class/predicted"], recomputed.classes["predicted"])


@pytest.mark.slow
def test_attributions_are_off_when_asked_and_for_models_that_are_not_image_classifiers(logged):
    logdir, _ = logged
    for run in ("seq_off", "tabular", "vae"):
        steps = step_files.list_step_files(os.path.join(logdir, run))
        assert steps and all(_read_attributions(os.path.join(logdir, run), s) is None for s in steps), run


@pytest.mark.slow
def test_callback_options_choose_methods_size_targets_and_layer(logged):
    logdir, _ = logged
    arrays, attrs = _read_attributions(os.path.join(logdir, "seq_some"), tm.EPOCHS)
    maps = sorted(n for n in arrays if not n.startswith("deletion/"))
    assert maps == ["class/true", "grad_cam/true", "saliency/true", "sample"]
    # Each map's deletion curves, and the random ranking's (tests/test_deletion.py).
    curves = ["deletion/fractions", "deletion/grad_cam/true", "deletion/random/true", "deletion/saliency/true"]
    assert sorted(n for n in arrays if n.startswith("deletion/")) == curves
    assert arrays["saliency/true"].shape == (6, 6, 6, 1) and arrays["grad_cam/true"].shape == (6, 4, 4)
    assert json.loads(attrs["methods"]) == ["saliency", "grad_cam"] and json.loads(attrs["targets"]) == ["true"]


@pytest.mark.slow
def test_the_data_route_reads_attributions_with_classes(logged):
    logdir, trained = logged
    client = Client(logdir)
    probe_labels = tm.images()[1][trained["seq"]["callback"].probe_index]
    status, answer = client.post(
        "/data",
        {"run": "seq", "unit": {"kind": "attributions", "method": "grad_cam", "target": "true"}, "classes": [1, 2]},
    )
    assert status == 200, answer
    result = answer["result"]
    sample = np.array(result["sample"]["data"])
    assert result["value"]["shape"] == [len(sample), 4, 4] and set(result) == {"value", "sample", "target", "label"}
    np.testing.assert_array_equal(result["label"]["data"], probe_labels[sample])
    assert set(result["label"]["data"]) == {1, 2} and result["target"]["data"] == result["label"]["data"]
    assert answer["classes"] == [1, 2] and answer["attribution"]["grad_cam_layer"] == "conv"
    # The probe samples of the rows, through the samples kind: the same inputs the callback attributed.
    status, samples = client.post(
        "/data",
        {"run": "seq", "unit": {"kind": "samples"}, "transform": [{"op": "select", "indices": sample.tolist()}]},
    )
    assert status == 200
    np.testing.assert_allclose(
        np.array(samples["result"]["value"]["data"]), trained["seq"]["callback"].probe_x[sample], rtol=1e-6
    )
    # Across steps: [steps, n, ...] maps and per-step targets; the samples stay the same.
    status, answer = client.post(
        "/data",
        {
            "run": "seq",
            "unit": {"kind": "attributions", "method": "saliency"},
            "steps": "all",
            "transform": [{"op": "abs"}],
        },
    )
    assert status == 200, answer
    assert answer["result"]["value"]["shape"] == [tm.EPOCHS + 1, 32, 6, 6, 1]
    assert answer["result"]["target"]["shape"] == [tm.EPOCHS + 1, 32] and "label" not in answer["result"]
    # What each model has, in the models route.
    status, listing = client.get("/models")
    by_run = {m["run"]: m["attributions"] for m in listing["models"]}
    assert by_run["seq"] == {
        "methods": list(LOGGED_BY_SEQ),
        "targets": ["predicted", "true"],
        "samples": 32,
        "step": tm.EPOCHS,
    }
    assert by_run["seq_some"]["methods"] == ["saliency", "grad_cam"] and by_run["seq_some"]["samples"] == 6
    assert by_run["seq_off"] is None and by_run["vae"] is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit, status, fragment",
    [
        ({"kind": "attributions"}, 400, "'method' must be a non-empty string"),
        ({"kind": "attributions", "method": "lrp"}, 400, "unit.method must be one of"),
        ({"kind": "attributions", "method": "saliency", "target": "best"}, 400, "unit.target must be one of"),
        ({"kind": "attributions", "method": "saliency", "target": "predicted"}, 404, "no saliency attributions"),
    ],
)
def test_bad_attribution_requests(logged, unit, status, fragment):
    client = Client(logged[0])
    run = "seq_some" if unit.get("target") == "predicted" else "seq"
    got, answer = client.post("/data", {"run": run, "unit": unit})
    assert got == status and fragment in answer["error"], answer


def test_bad_callback_arguments_are_refused_before_training(tmp_path):
    x, y = tm.images()
    probe = (x, y)
    for arguments, fragment in [
        ({"methods": ("saliency", "lrp")}, "unknown attribution method"),
        ({"size": 0}, "size must be an integer >= 1"),
        ({"targets": ("wrong",)}, "targets"),
        ({"smoothgrad_noise": -1}, "smoothgrad_noise"),
        ({"colour": "red"}, "unknown attributions option"),
        ("yes", "must be None, True, False or a dict"),
    ]:
        with pytest.raises(InnspectorError, match=fragment):
            InnspectorCallback(str(tmp_path / "bad"), probe=probe, attributions=arguments)
    with pytest.raises(InnspectorError, match="need a probe"):
        InnspectorCallback(str(tmp_path / "bad"), attributions=True)
    # A Grad-CAM layer that is not a convolution: refused at train begin, before the first batch.
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    callback = InnspectorCallback(str(tmp_path / "layer"), probe=probe, attributions={"layer": "out"})
    with pytest.raises(InnspectorError, match="must be a convolution; 'out' is a Dense"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    callback.close()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert step_files.list_step_files(str(tmp_path / "layer")) == {}
    # Asked for explicitly on a model with several outputs: refused, not silently skipped.
    vae = demo_models.vae("vae", 0.5, 0.5)
    x_train, y_train, _, _ = demo_data.digits()
    callback = InnspectorCallback(str(tmp_path / "vae"), probe=(x_train[:32], y_train[:32]), attributions=True)
    with pytest.raises(InnspectorError, match="one input and one output"):
        vae.fit(x_train[:64], epochs=1, verbose=0, callbacks=[callback])
    callback.close()


def test_the_summary_op_for_custom_loops(tmp_path):
    model = tm.sequential()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    x, y = tm.images(60)
    run_dir = str(tmp_path / "loop")
    writer = summary.create_file_writer(run_dir)
    with writer.as_default():
        summary.header(innspector_tb.header("loop"))
        summary.architecture(model)
        summary.samples(x, y)
        for step in range(2):
            summary.predictions(model(x), step=step)
            summary.attributions(model, x, y, step=step, size=9, methods=("integrated_gradients",))
            model.fit(x, y, epochs=1, verbose=0)
        # A result computed elsewhere, written for the probe rows it was computed on.
        rows = np.array([3, 4, 5])
        done = attribution.attribute(model, x[rows], y[rows], methods="grad_cam", targets="true")
        summary.attributions(done, sample=rows, step=2)
    writer.close()
    arrays, attrs = _read_attributions(run_dir, 0)
    assert sorted(arrays) == [
        "class/predicted",
        "class/true",
        "deletion/fractions",
        "deletion/integrated_gradients/predicted",
        "deletion/integrated_gradients/true",
        "deletion/random/predicted",
        "deletion/random/true",
        "integrated_gradients/predicted",
        "integrated_gradients/true",
        "sample",
    ]
    assert arrays["deletion/random/true"].shape == (9, 16)
    assert arrays["sample"].shape == (9,) and sorted(np.bincount(y[arrays["sample"]])) == [3, 3, 3]
    np.testing.assert_array_equal(arrays["class/true"], y[arrays["sample"]])
    arrays, _ = _read_attributions(run_dir, 2)
    np.testing.assert_array_equal(arrays["sample"], rows)
    np.testing.assert_array_equal(arrays["grad_cam/true"], rounding.round_mantissa(done["grad_cam"]["true"]))  # rounded
    assert not any(n.startswith("deletion/") for n in arrays)  # a result without curves is written without
    with pytest.raises(summary.SummaryError, match="needs an iNNspector writer"):
        summary.attributions(model, x, y, step=0)


def test_the_route_s_tables_agree_with_the_computation():
    assert routes_data.ATTRIBUTION_METHODS == attribution.METHODS == models._ATTRIBUTION_METHODS
    assert set(attribution.DEFAULT_METHODS) < set(attribution.METHODS)
    assert routes_data.ATTRIBUTION_TARGETS == attribution.TARGETS
    assert "attributions" in routes_data.DATA_KINDS and "attributions" in json_tools.CLASS_KINDS
    tool = {
        "format": 1,
        "id": "grad-cam-mean",
        "name": "Mean Grad-CAM",
        "description": "Mean Grad-CAM map.",
        "icon": "M4 4h16v16H4z",
        "applies_to": ["model"],
        "class_dependent": True,
        "data": {
            "unit": {"kind": "attributions", "method": "grad_cam", "target": "true"},
            "transform": [{"op": "mean", "axis": 0}],
        },
        "rows": {"column": "value", "as": "matrix"},
        "spec": {"data": {"name": "table"}, "mark": "rect"},
    }
    checked = json_tools.validate_declaration(tool, "x.json")
    assert checked["data"]["unit"] == {"kind": "attributions", "method": "grad_cam", "target": "true"}
    with pytest.raises(json_tools.ToolError, match="missing"):
        json_tools.validate_declaration(dict(tool, data={"unit": {"kind": "attributions"}}), "x.json")


def test_a_failing_attribution_skips_only_the_maps(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(attribution.Attributor, "__call__", broken)
    run = tm.train(str(tmp_path), "seq", tm.sequential(), epochs=1)
    steps = step_files.list_step_files(os.path.join(str(tmp_path), "seq"))
    assert sorted(steps) == [0, 1]
    for step in steps:
        assert _read_attributions(os.path.join(str(tmp_path), "seq"), step) is None
        with h5py.File(os.path.join(str(tmp_path), "seq", steps[step]), "r") as f:
            assert "layers/conv/weights/kernel" in f and "data_samples/y_prediction" in f
    assert run["callback"]._attributor is not None


@pytest.mark.slow
def test_the_demo_classifiers_log_attributions_and_the_answers_follow_the_openapi_document(demo_logs):
    from innspector_tb.server import openapi

    client = Client(demo_logs[0])
    status, listing = client.get("/models")
    assert status == 200 and openapi_check.validate(listing, openapi.ROUTES["/models"]["schema"]) == []
    by_run = {m["run"]: m["attributions"] for m in listing["models"]}
    for run in ("cnn_small", "cnn_wide", "cnn_bn_dropout", "cnn_rebalanced", "cnn_skip", "cnn_nested"):
        # Occlusion is what the time budget leaves out first (a busy machine makes the epochs look slow).
        budgeted = [m for m in attribution.DEFAULT_METHODS if m != "occlusion"]
        assert [m for m in by_run[run]["methods"] if m != "occlusion"] == budgeted, run
    assert "grad_cam" not in by_run["dense_baseline"]["methods"]
    assert all(by_run[run] is None for run in by_run if run.startswith("vae"))
    for method in by_run["cnn_nested"]["methods"]:
        for target in attribution.TARGETS:
            body = {
                "run": "cnn_nested",
                "unit": {"kind": "attributions", "method": method, "target": target},
                "steps": "last",
                "classes": [0, 9],
            }
            status, answer = client.post("/data", body)
            assert status == 200, answer
            assert openapi_check.validate(answer, openapi.ROUTES["/data"]["schema"]) == []
            shape = answer["result"]["value"]["shape"]
            assert shape[1:] == ([8, 8] if method == "grad_cam" else [8, 8, 1])
            assert set(answer["result"]["label"]["data"]) <= {0, 9}
            assert shape[0] == answer["result"]["sample"]["shape"][0] > 0
    assert answer["attribution"]["grad_cam_layer"] == "features/conv_1"
