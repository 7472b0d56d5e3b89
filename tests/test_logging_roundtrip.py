"""Real models trained with the callback, read back through TensorBoard's own data providers.

Each check compares what TensorBoard (Python ingester and Rust data server)
and the HDF5 checkpoints return with values computed independently from the
trained Keras model.
"""

import os

import keras
import numpy as np
import pytest

import innspector_tb
from demo import data as demo_data
from demo import models as demo_models
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import metadata, rounding, stats, step_files
from tests.support import tb_readers
from tests.support import trained_models as tm

RUNS = ("seq", "skip_model", "nested_model", "vae")
# Step files store float32 rounded to 10 mantissa bits by default (samples.h5 exactly).
STORED_RTOL = rounding.relative_error_bound(step_files.MANTISSA_BITS) + 1e-5


def _stored(values):
    """What the default (rounded) step file holds for logged values."""
    values = np.asarray(values)
    return rounding.round_mantissa(values) if values.dtype == np.float32 else values


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("roundtrip"))
    trained = {
        "seq": tm.train(logdir, "seq", tm.sequential()),
        "skip_model": tm.train(logdir, "skip_model", tm.functional_skip()),
        "nested_model": tm.train(logdir, "nested_model", tm.nested()),
    }
    # A VAE with a custom train_step that returns extra losses.
    x_train, y_train, _, _ = demo_data.digits()
    head = tm.innspector_tb.header("vae", hparams={"kl_weight": 0.5})
    vae = demo_models.vae("vae", 0.5, 0.5)
    callback = tm.InnspectorCallback(
        os.path.join(logdir, "vae"),
        head,
        probe=(x_train[:64], y_train[:64]),
        time_budget=None,  # every epoch
    )
    vae.fit(x_train[:256], epochs=tm.EPOCHS, batch_size=32, verbose=0, callbacks=[callback])
    trained["vae"] = {"model": vae, "header": head, "x": x_train[:64], "y": y_train[:64]}
    return logdir, trained


def _layer_output(model, layer_name, x):
    """A forward pass to one layer through Keras' public API, independent of our walker."""
    return keras.Model(model.inputs, model.get_layer(layer_name).output).predict(x, verbose=0)


def _step_file(logdir, run, step):
    return os.path.join(logdir, run, step_files.step_file(step))


@pytest.fixture(scope="module", params=tb_readers.INGESTERS)
def provider(request, logs):
    logdir, _ = logs
    with tb_readers.data_provider(logdir, request.param) as p:
        expected_last = metadata.STATS_TAG_PREFIX + "out/kernel"

        def loaded(prov):
            runs = prov.list_tensors(tb_readers.CTX, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
            return set(RUNS) <= set(runs) and runs["seq"][expected_last].max_step == tm.EPOCHS

        tb_readers.wait_for(p, loaded)
        yield p


@pytest.mark.slow
def test_every_step_is_visible_without_samples_per_plugin(provider):
    for run in RUNS:
        data = tb_readers.read_all(provider, run)
        manifest_steps = [d.step for d in data[metadata.CHECKPOINT_TAG]]
        assert manifest_steps == list(range(tm.EPOCHS + 1)), run
        stats_tags = [t for t in data if t.startswith(metadata.STATS_TAG_PREFIX)]
        assert stats_tags, run
        for tag in stats_tags:
            assert [d.step for d in data[tag]] == list(range(tm.EPOCHS + 1)), (run, tag)


@pytest.mark.slow
def test_header_and_architecture_round_trip(provider, logs):
    _, trained = logs
    for run in RUNS:
        data = tb_readers.read_all(provider, run, [metadata.HEADER_TAG, metadata.ARCHITECTURE_TAG])
        head = tb_readers.json_of(data[metadata.HEADER_TAG][0])
        assert head["id"] == trained[run]["header"]["id"]
        assert head["name"] == run
        arch = tb_readers.json_of(data[metadata.ARCHITECTURE_TAG][0])
        assert arch["params"]["trainable"] == sum(
            int(np.prod(v.shape)) for v in trained[run]["model"].trainable_weights
        )
    nested = tb_readers.json_of(
        tb_readers.read_all(provider, "nested_model", [metadata.ARCHITECTURE_TAG])[metadata.ARCHITECTURE_TAG][0]
    )
    ids = {layer["id"] for layer in nested["layers"]}
    assert {"block/hidden", "block/scale", "flatten", "out"} <= ids
    assert [ns["id"] for ns in nested["namespaces"]] == ["block"]


@pytest.mark.slow
def test_hparams_read_from_the_compiled_model(provider):
    head = tb_readers.json_of(tb_readers.read_all(provider, "seq", [metadata.HEADER_TAG])[metadata.HEADER_TAG][0])
    hparams = head["hparams"]
    assert hparams["batch_size"] == 16  # given by the user
    assert hparams["optimizer"] == "Adam"
    assert hparams["learning_rate"] == pytest.approx(1e-2)
    assert hparams["loss"]["name"] == "sparse_categorical_crossentropy"
    assert hparams["output_activations"] == ["softmax"]
    assert hparams["epochs"] == tm.EPOCHS


@pytest.mark.slow
def test_weight_statistics_match_the_model(provider, logs):
    _, trained = logs
    model = trained["seq"]["model"]
    kernel = model.get_layer("out").kernel.numpy()
    data = tb_readers.read_all(
        provider, "seq", [metadata.STATS_TAG_PREFIX + "out/kernel", metadata.HISTOGRAM_TAG_PREFIX + "out/kernel"]
    )
    last = data[metadata.STATS_TAG_PREFIX + "out/kernel"][-1]
    np.testing.assert_allclose(last.numpy, stats.describe(kernel), rtol=1e-6)
    assert stats.as_dict(last.numpy)["count"] == kernel.size
    hist = data[metadata.HISTOGRAM_TAG_PREFIX + "out/kernel"][-1].numpy
    assert hist[:, 2].sum() == kernel.size
    assert hist[0, 0] == pytest.approx(kernel.min()) and hist[-1, 1] == pytest.approx(kernel.max())


@pytest.mark.slow
def test_scalars_include_custom_train_step_losses(provider):
    vae = tb_readers.scalars(provider, "vae")
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        assert sorted(vae["metrics/" + name]) == list(range(1, tm.EPOCHS + 1)), name
    seq = tb_readers.scalars(provider, "seq")
    assert sorted(seq["metrics/accuracy"]) == list(range(1, tm.EPOCHS + 1))


@pytest.mark.slow
def test_class_mean_summaries_match_per_label_means(provider, logs):
    _, trained = logs
    run = trained["skip_model"]
    with step_files.open_file(os.path.join(logs[0], "skip_model", step_files.SAMPLES_FILE)) as f:
        x = f["data_samples/x"][()]
        y = f["data_samples/y_label"][()]
    acts = _layer_output(run["model"], "conv_b", x)
    # A convolution's neuron is a channel: its mean over the class's samples and all positions.
    expected = np.stack([acts[y == c].mean(axis=(0, 1, 2)) for c in range(tm.CLASSES)])
    datum = tb_readers.read_all(provider, "skip_model", [metadata.CLASS_MEANS_TAG_PREFIX + "conv_b/activations"])
    matrix = datum[metadata.CLASS_MEANS_TAG_PREFIX + "conv_b/activations"][-1].numpy
    np.testing.assert_allclose(matrix, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_checkpoint_weights_equal_model_variables(logs):
    logdir, trained = logs
    for run in ("seq", "skip_model", "nested_model"):
        model = trained[run]["model"]
        final = _step_file(logdir, run, tm.EPOCHS)
        first = _step_file(logdir, run, 0)
        with step_files.open_file(final) as f_last, step_files.open_file(first) as f_first:
            for variable in model.weights:
                name = variable.path.rpartition("/")[2]
                layer_id = _layer_id(trained[run]["model"], variable)
                dataset = "layers/%s/weights/%s" % (layer_id.replace("/", ":"), name)
                np.testing.assert_array_equal(f_last[dataset][()], _stored(variable.numpy()), err_msg=dataset)
                np.testing.assert_array_equal(
                    f_first[dataset][()], _stored(trained[run]["initial"][variable.path]), err_msg=dataset
                )


def _layer_id(model, variable):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                if any(v is variable for v in inner.weights):
                    return "%s/%s" % (layer.name, inner.name)
        elif any(v is variable for v in layer.weights):
            return layer.name
    raise AssertionError("variable %s not found" % variable.path)


@pytest.mark.slow
def test_checkpoint_activations_equal_a_forward_pass(logs):
    logdir, trained = logs
    for run, layer_names in (
        ("seq", ("conv", "bn", "pool", "flatten", "dropout", "out")),
        ("skip_model", ("conv_a", "conv_b", "skip", "flatten", "out")),
    ):
        model = trained[run]["model"]
        with step_files.open_file(os.path.join(logdir, run, step_files.SAMPLES_FILE)) as f:
            x = f["data_samples/x"][()]
            y = f["data_samples/y_label"][()]
            index = f["data_samples/index"][()]
        # The probe is the balanced subset the callback chose, and it really is balanced.
        np.testing.assert_array_equal(x, trained[run]["x"][index])
        assert np.bincount(y).tolist() == [16, 16, 16]
        with step_files.open_file(_step_file(logdir, run, tm.EPOCHS)) as f:
            for name in layer_names:
                expected = _layer_output(model, name, x)
                got = step_files.read_array(f, "layers/%s/activations" % name)
                np.testing.assert_allclose(got, expected, rtol=STORED_RTOL, atol=1e-5, err_msg=name)
                for c in range(tm.CLASSES):
                    np.testing.assert_allclose(
                        step_files.read_array(f, "layers/%s/mean_class_activations/class_%d" % (name, c)),
                        expected[y == c].mean(axis=0),
                        rtol=STORED_RTOL,
                        atol=1e-5,
                    )
            np.testing.assert_allclose(
                f["data_samples/y_prediction"][()], model.predict(x, verbose=0), rtol=STORED_RTOL, atol=1e-6
            )


@pytest.mark.slow
def test_nested_model_activations_use_namespaced_ids(logs):
    logdir, trained = logs
    model = trained["nested_model"]["model"]
    block = model.get_layer("block")
    with step_files.open_file(os.path.join(logdir, "nested_model", step_files.SAMPLES_FILE)) as f:
        x = f["data_samples/x"][()]
    flat = x.reshape(len(x), -1)
    expected = keras.Model(block.inputs, block.get_layer("scale").output).predict(flat, verbose=0)
    with step_files.open_file(_step_file(logdir, "nested_model", tm.EPOCHS)) as f:
        np.testing.assert_allclose(f["layers/block:scale/activations"][()], expected, rtol=STORED_RTOL, atol=1e-5)
        assert f["layers/block:scale"].attrs["unit"] == "block/scale"
        np.testing.assert_array_equal(
            f["layers/block:scale/weights/factor"][()], _stored(block.get_layer("scale").factor.numpy())
        )


@pytest.mark.slow
def test_vae_latent_mean_matches_the_encoder(logs):
    logdir, trained = logs
    vae = trained["vae"]["model"]
    with step_files.open_file(os.path.join(logdir, "vae", step_files.SAMPLES_FILE)) as f:
        x = f["data_samples/x"][()]
    expected = _layer_output(vae, "z_mean", x)
    with step_files.open_file(_step_file(logdir, "vae", tm.EPOCHS)) as f:
        np.testing.assert_allclose(f["layers/z_mean/activations"][()], expected, rtol=STORED_RTOL, atol=1e-5)
        # Multi-output model: every output is stored.
        assert f["data_samples/y_prediction_1"].shape == expected.shape


def test_batch_steps_keep_epoch_metrics_apart(tmp_path):
    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = InnspectorCallback(
        str(tmp_path / "run"),
        innspector_tb.header("run"),
        probe=(x, y),
        freq=3,
        freq_unit="batch",
        time_budget=None,  # batches of milliseconds: the default would pace them (test_step_pacing.py)
    )
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])  # 6 batches per epoch
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        scalars = tb_readers.scalars(provider, "run")
    assert sorted(scalars["metrics/loss"]) == [3, 6, 9, 12]
    assert sorted(scalars["metrics/epoch_loss"]) == [6, 12]
    assert sorted(step_files.list_step_files(str(tmp_path / "run"))) == [0, 3, 6, 9, 12]
