"""Regression tests for bugs found in review: each failed before its fix."""


import numpy as np
import pytest
import tensorflow as tf

import innspector_tb
from innspector_tb.capture import step_writer
from innspector_tb.format import step_files
from innspector_tb.format import metadata
from innspector_tb.server import routes as queries
from innspector_tb.capture import summary
from tests.support.backend_app import Client


@pytest.fixture(scope="module")
def odd_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("odd")
    # A run logged without probe samples, whose predictions include a class no label has.
    writer = summary.create_file_writer(str(logdir / "no_samples"))
    with writer.as_default():
        summary.header(innspector_tb.header("no_samples"))
        summary.weights({"d/kernel": np.ones((3, 2), np.float32)}, step=0)
    writer.close()
    writer = summary.create_file_writer(str(logdir / "outside"))
    with writer.as_default():
        summary.header(innspector_tb.header("outside"))
        summary.samples(np.zeros((6, 2), np.float32), np.array([0, 0, 0, 0, 1, 1]))
        summary.predictions(np.eye(3, dtype=np.float32)[[2, 2, 2, 0, 1, 1]], step=0)
    writer.close()
    # A header that is valid JSON but not an object.
    with tf.summary.create_file_writer(str(logdir / "oops")).as_default():
        tf.summary.write(metadata.HEADER_TAG, tf.constant('"oops"'), step=0,
                         metadata=metadata.create_summary_metadata(metadata.Kind.HEADER))
    return str(logdir)


def test_a_run_without_samples_still_answers(odd_logdir):
    client = Client(odd_logdir)
    status, answer = client.post("/data", {"run": "no_samples", "unit": {"kind": "weights", "layer": "d",
                                                                       "variable": "kernel"}})
    assert status == 200 and answer["result"]["value"]["data"] == [[1, 1], [1, 1], [1, 1]]
    assert client.get("/metrics")[0] == 200
    assert client.post("/data", {"run": "no_samples", "unit": {"kind": "labels"}})[0] == 404


def test_predictions_outside_the_labels_count_as_mistakes(odd_logdir):
    status, answer = Client(odd_logdir).get("/metrics", runs="outside")
    matrix = answer["runs"]["outside"]["classification"]["0"]
    assert status == 200 and matrix["accuracy"] == pytest.approx(0.5)
    assert matrix["classes"] == [0, 1, 2]
    assert {c["class"]: c["support"] for c in matrix["per_class"]} == {0: 4, 1: 2, 2: 0}


def test_a_header_that_is_not_an_object_is_a_listed_error(odd_logdir):
    client = Client(odd_logdir)
    status, answer = client.get("/models")
    assert status == 200
    oops = next(m for m in answer["models"] if m["run"] == "oops")
    assert any("JSON object" in e for e in oops["errors"])
    assert client.get("/tree")[0] == 200
    assert client.get("/lint", run="oops")[0] in (400, 404)


def test_deeply_nested_bodies_are_400(odd_logdir):
    status, answer = Client(odd_logdir).post("/data", None, raw=b"[" * 100_000)
    assert status == 400 and "nested" in answer["error"]


def test_class_mean_requests_are_sized_before_reading(demo_logs, monkeypatch):
    monkeypatch.setattr(queries, "MAX_DATA_ELEMENTS", 1000)
    body = {"run": "cnn_small", "unit": {"kind": "class_means", "layer": "conv_1"}, "steps": [0, 0, 0]}
    status, answer = Client(demo_logs[0]).post("/data", body)
    assert status == 400 and "too large" in answer["error"]


def test_merging_a_step_keeps_linked_duplicates(tmp_path):
    pooled = np.random.default_rng(0).random((50, 2, 2, 4)).astype(np.float32)
    writer = step_writer.StepFileWriter(str(tmp_path))
    writer.write("innspector/s.h5", {"layers/pool/activations": pooled,
                                     "layers/flatten/activations": pooled.reshape(50, -1)})
    writer.write("innspector/s.h5", {"layers/dense/weights/kernel": np.ones((16, 3), np.float32)})
    with step_files.open_file(str(tmp_path / "innspector/s.h5")) as f:
        np.testing.assert_array_equal(step_files.read_array(f, "layers/pool/activations"), pooled)
        np.testing.assert_array_equal(step_files.read_array(f, "layers/flatten/activations"), pooled.reshape(50, -1))
        assert f["layers/dense/weights/kernel"].shape == (16, 3)
    # Replacing the link by a plain array drops the reshape note that described the link.
    writer.write("innspector/s.h5", {"layers/flatten/activations": np.zeros((50, 16), np.float32)})
    with step_files.open_file(str(tmp_path / "innspector/s.h5")) as f:
        assert step_files.logical_shape(f, "layers/flatten/activations") == (50, 16)
        assert not step_files.read_array(f, "layers/flatten/activations").any()


def test_a_step_that_cannot_be_written_does_not_block_later_steps(tmp_path):
    writer = summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        with pytest.raises(summary.SummaryError, match="numeric"):
            summary.weights({"d/kernel": np.ones((2, 2), np.complex64)}, step=1)
        summary.weights({"d/kernel": np.ones((2, 2), np.float32)}, step=2)
        summary.weights({"d/kernel": np.ones((2, 2), np.float32)}, step=3)
    writer.close()
    assert sorted(step_files.list_step_files(str(tmp_path / "run"))) == [2, 3]


def test_batch_steps_keep_epoch_metrics_apart(tmp_path):
    from innspector_tb.capture.callback import InnspectorCallback
    from tests.support import tb_readers
    from tests.support import trained_models as tm

    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = InnspectorCallback(str(tmp_path / "run"), innspector_tb.header("run"), probe=(x, y),
                                  freq=3, freq_unit="batch")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])  # 6 batches per epoch
    with tb_readers.data_provider(str(tmp_path), "python") as provider:
        scalars = tb_readers.scalars(provider, "run")
    assert sorted(scalars["metrics/loss"]) == [3, 6, 9, 12]
    assert sorted(scalars["metrics/epoch_loss"]) == [6, 12]
    assert sorted(step_files.list_step_files(str(tmp_path / "run"))) == [0, 3, 6, 9, 12]
