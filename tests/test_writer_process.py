"""The optional writer process: same logs as the thread, and a dead writer loses no training."""

import logging
import os

import keras
import numpy as np
import pytest

import innspector_tb
from innspector_tb.capture import writer_process
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import metadata, rounding, step_files
from tests.support import tb_readers
from tests.support import trained_models as tm


def test_pack_and_unpack_round_trip_every_array_shape():
    arrays = {
        "f": np.random.rand(7, 3).astype(np.float32),
        "i": np.arange(5, dtype=np.int64),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 4), dtype=np.float16),
        "b": np.array([True, False]),
    }
    meta = {"step": 3, "names": ["a/b", "c"]}
    block, layout = writer_process._pack(meta, arrays)
    try:
        back = writer_process._unpack(block.name, layout, owned_elsewhere=False)
    finally:
        writer_process._release(block)
    assert back.pop(writer_process._META_KEY).tobytes().decode() == '{"step": 3, "names": ["a/b", "c"]}'
    for key, value in arrays.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape
        np.testing.assert_array_equal(back[key], value)


@pytest.mark.slow
def test_process_writer_logs_what_the_thread_logs(tmp_path):
    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    run = str(tmp_path / "proc")
    callback = InnspectorCallback(run, innspector_tb.header("proc"), probe=(x, y), probe_size=48, writer="process")
    sink = callback._sink
    assert isinstance(sink, writer_process.ProcessSink)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    assert sorted(step_files.list_step_files(run)) == [0, 1, 2]
    # The process's CPU seconds per job came back with its replies: logged steps' costs count them.
    assert sink.busy_seconds > 0
    with step_files.open_file(os.path.join(run, step_files.step_file(2))) as f:
        kernel = model.get_layer("out").kernel.numpy()
        np.testing.assert_array_equal(f["layers/out/weights/kernel"][()], rounding.round_mantissa(kernel))  # rounded
        with step_files.open_file(os.path.join(run, step_files.SAMPLES_FILE)) as s:
            probe_x, probe_y = s["data_samples/x"][()], s["data_samples/y_label"][()]
        expected = keras.Model(model.inputs, model.get_layer("conv").output).predict(probe_x, verbose=0)
        np.testing.assert_allclose(f["layers/conv/activations"][()], expected, rtol=5e-4, atol=1e-5)
        np.testing.assert_allclose(
            f["layers/conv/mean_class_activations/class_1"][()],
            expected[probe_y == 1].mean(axis=0),
            rtol=5e-4,
            atol=1e-5,
        )
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        data = tb_readers.read_all(provider, "proc", [metadata.CHECKPOINT_TAG, metadata.HEADER_TAG])
        assert [d.step for d in data[metadata.CHECKPOINT_TAG]] == [0, 1, 2]
        assert tb_readers.json_of(data[metadata.HEADER_TAG][0])["name"] == "proc"
        assert sorted(tb_readers.scalars(provider, "proc")["metrics/accuracy"]) == [1, 2]


class KillWriter(keras.callbacks.Callback):
    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.target._sink.flush()
            self.target._sink._process.kill()
            self.target._sink._process.wait()


@pytest.mark.slow
def test_a_dead_writer_process_falls_back_to_a_thread(tmp_path, caplog):
    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    run = str(tmp_path / "proc")
    # No time budget: every epoch is logged, whichever writer wrote it and however busy the machine is.
    callback = InnspectorCallback(run, innspector_tb.header("proc"), probe=(x, y), writer="process", time_budget=None)
    with caplog.at_level(logging.WARNING, logger="innspector_tb"):
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[KillWriter(callback), callback])
    assert len(history.history["loss"]) == 3
    assert "writing from a thread" in caplog.text
    # Step 0 and 1 were written by the process, 2 and 3 by the thread that took over.
    assert sorted(step_files.list_step_files(run)) == [0, 1, 2, 3]
    with step_files.open_file(os.path.join(run, step_files.step_file(3))) as f:
        assert "layers/conv/mean_class_activations/class_0" in f  # the labels carried over


def test_bad_writer_argument_is_refused(tmp_path):
    with pytest.raises(innspector_tb.errors.ConfigurationError, match="writer"):
        InnspectorCallback(str(tmp_path), writer="gpu")


@pytest.mark.slow
def test_a_second_fit_with_the_writer_process_keeps_class_means(tmp_path):
    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    run = str(tmp_path / "twice")
    callback = InnspectorCallback(run, innspector_tb.header("twice"), probe=(x, y), writer="process")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    assert sorted(step_files.list_step_files(run)) == [0, 1, 2]
    with step_files.open_file(os.path.join(run, step_files.step_file(2))) as f:
        assert "layers/conv/mean_class_activations/class_0" in f
