"""Bad input gives a clear message or a documented fallback, never a crash mid-training."""

import logging
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import innspector_tb
from innspector_tb.capture import summary
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.errors import ConfigurationError
from innspector_tb.format import metadata, stats, step_files
from tests.support import tb_readers
from tests.support import trained_models as tm


def _fit(model, log_dir, probe, epochs=2, **kwargs):
    x, y = tm.images()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = InnspectorCallback(log_dir, innspector_tb.header(os.path.basename(log_dir)), probe=probe, **kwargs)
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[callback])
    return history, callback


def _steps_on_disk(run_dir):
    return sorted(step_files.list_step_files(run_dir))


def test_probe_without_labels_logs_activations_but_no_class_means(tmp_path, caplog):
    x, _ = tm.images()
    with caplog.at_level(logging.WARNING, logger="innspector_tb"):
        history, _ = _fit(tm.sequential(), str(tmp_path / "run"), probe=x)
    assert len(history.history["loss"]) == 2
    assert "no labels" in caplog.text
    with step_files.open_file(str(tmp_path / "run" / step_files.step_file(2))) as f:
        assert "layers/conv/activations" in f
        assert "layers/conv/mean_class_activations" not in f


def test_nan_weights_are_logged_with_their_count(tmp_path):
    model = tm.sequential()
    model.build((None, 6, 6, 1))
    kernel = model.get_layer("out").kernel
    broken = kernel.numpy()
    broken[0, :] = np.nan
    kernel.assign(broken)
    history, _ = _fit(model, str(tmp_path / "run"), probe=tm.images())
    assert np.isnan(history.history["loss"][-1])
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        data = tb_readers.read_all(provider, "run", [metadata.STATS_TAG_PREFIX + "out/kernel"])
    first = stats.as_dict(data[metadata.STATS_TAG_PREFIX + "out/kernel"][0].numpy)
    assert first["nan_count"] == broken.shape[1]
    assert _steps_on_disk(str(tmp_path / "run")) == [0, 1, 2]


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(5, activation="relu")
        self.out = keras.layers.Dense(tm.CLASSES, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(self.flatten(x)))


def test_subclassed_model_is_traced_and_logged_like_a_functional_one(tmp_path, caplog):
    # Its call uses layers only: traced on inputs shaped like the probe (capture/tracing.py).
    with caplog.at_level(logging.WARNING, logger="innspector_tb"):
        history, _ = _fit(Subclassed(), str(tmp_path / "run"), probe=tm.images())
    assert len(history.history["loss"]) == 2
    assert "no functional graph" not in caplog.text and "failed" not in caplog.text
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        data = tb_readers.read_all(provider, "run", [metadata.ARCHITECTURE_TAG])
    arch = tb_readers.json_of(data[metadata.ARCHITECTURE_TAG][0])
    assert arch["model"]["functional"] is True and arch["model"]["traced"] is True
    chain = [layer["id"] for layer in arch["layers"]]
    assert chain[0] == "input" and len(chain) == 4
    assert [(e["from"], e["to"]) for e in arch["edges"]] == list(zip(chain, chain[1:], strict=False))
    with step_files.open_file(str(tmp_path / "run" / step_files.step_file(2))) as f:
        kernel_groups = [name for name in f["layers"] if "weights" in f["layers"][name]]
        assert len(kernel_groups) == 2  # both Dense layers' weights
        assert f["layers"][chain[2]]["activations"].shape == (96, 5)  # the hidden layer's, on the probe
        assert f["data_samples/y_prediction"].shape == (96, tm.CLASSES)  # probe_size > data: all


def test_probe_larger_than_the_data_uses_all_samples(tmp_path):
    x, y = tm.images(n=30)
    _fit(tm.sequential(), str(tmp_path / "run"), probe=(x, y), probe_size=10_000)
    with step_files.open_file(str(tmp_path / "run" / step_files.SAMPLES_FILE)) as f:
        assert f["data_samples/x"].shape[0] == 30


def test_unwritable_log_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigurationError, match="cannot write to log_dir"):
        InnspectorCallback(str(blocker / "run"), innspector_tb.header("m"))


def test_mismatched_probe_is_refused_before_training(tmp_path):
    x, y = tm.images()
    with pytest.raises(ConfigurationError, match="48 samples but y has|96 samples but y has"):
        InnspectorCallback(str(tmp_path / "run"), probe=(x, y[:10]))


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="freq_unit"):
        InnspectorCallback(str(tmp_path), freq_unit="week")
    with pytest.raises(ConfigurationError, match="unknown data kinds"):
        InnspectorCallback(str(tmp_path), log=("weights", "gradients"))
    with pytest.raises(ConfigurationError, match="dtype"):
        InnspectorCallback(str(tmp_path), dtype="int8")
    with pytest.raises(innspector_tb.format.headers.HeaderError, match="unknown keys"):
        InnspectorCallback(str(tmp_path), header={"name": "m", "colour": "red"})


def test_bulk_ops_without_an_innspector_writer_say_what_to_do():
    with pytest.raises(summary.SummaryError, match="create_file_writer"):
        summary.weights({"dense/kernel": np.zeros((2, 2))}, step=0)


def test_a_step_that_cannot_be_written_does_not_block_later_steps(tmp_path):
    writer = summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        with pytest.raises(summary.SummaryError, match="numeric"):
            summary.weights({"d/kernel": np.ones((2, 2), np.complex64)}, step=1)
        summary.weights({"d/kernel": np.ones((2, 2), np.float32)}, step=2)
        summary.weights({"d/kernel": np.ones((2, 2), np.float32)}, step=3)
    writer.close()
    assert sorted(step_files.list_step_files(str(tmp_path / "run"))) == [2, 3]


def test_a_failing_step_is_skipped_and_training_goes_on(tmp_path, caplog, monkeypatch):
    calls = []

    def broken_activations(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("simulated failure")

    monkeypatch.setattr("innspector_tb.capture.probe_pass.ProbePass.__call__", broken_activations)
    with caplog.at_level(logging.WARNING, logger="innspector_tb"):
        history, _ = _fit(tm.sequential(), str(tmp_path / "run"), probe=tm.images())
    assert len(history.history["loss"]) == 2
    assert calls and "simulated failure" in caplog.text


KILLED_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    import keras
    from tests.support import trained_models as tm
    from innspector_tb.capture.callback import InnspectorCallback
    import innspector_tb

    class KillMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 3 and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = tm.images()
    callback = InnspectorCallback({run!r}, innspector_tb.header("killed"), probe=(x, y))
    model.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=[callback, KillMidEpoch()])
    """
)


@pytest.mark.slow
def test_killed_training_leaves_readable_logs(tmp_path):
    run = str(tmp_path / "killed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.run(
        [sys.executable, "-c", KILLED_SCRIPT.format(root=root, run=run)], capture_output=True, timeout=300
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    # Epochs 1..3 completed before the kill in the 4th. The last steps may still
    # have been in the writer's bounded queue (at most max_pending + 1 are in
    # flight): what is on disk is every step from 0 up to some k, each whole.
    steps = _steps_on_disk(run)
    assert steps == list(range(len(steps))) and 1 <= len(steps) <= 4
    for step in steps:
        with step_files.open_file(os.path.join(run, step_files.step_file(step))) as f:
            assert f["layers/out/weights/kernel"].shape == (16, tm.CLASSES)  # flatten of 2x2x4
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        data = tb_readers.read_all(provider, "killed", [metadata.CHECKPOINT_TAG, metadata.HEADER_TAG])
    # A manifest is written after its file: TensorBoard sees only complete steps
    # (a file renamed just before the kill may lack its manifest).
    announced = [d.step for d in data[metadata.CHECKPOINT_TAG]]
    assert announced == steps[: len(announced)] and len(announced) >= len(steps) - 1
    assert tb_readers.json_of(data[metadata.HEADER_TAG][0])["name"] == "killed"
