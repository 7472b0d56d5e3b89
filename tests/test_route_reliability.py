"""A damaged run or step affects only itself; concurrent requests are safe."""

import os
import shutil
import threading

import pytest
import tensorflow as tf
from tensorboard.compat.proto import summary_pb2

from innspector_tb.format import metadata, step_files
from innspector_tb.format.proto import plugin_data_pb2
from tests.conftest import DEMO_EPOCHS
from tests.support.backend_app import Client


@pytest.fixture(scope="module")
def damaged(demo_logs, tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("damaged"))
    for run in ("cnn_small", "dense_baseline"):
        shutil.copytree(os.path.join(demo_logs[0], run), os.path.join(logdir, run))
    # Half a checkpoint file, as a crash in the middle of a copy would leave.
    step_path = os.path.join(logdir, "cnn_small", step_files.step_file(1))
    with open(step_path, "rb") as f:
        data = f.read()
    with open(step_path, "wb") as f:
        f.write(data[: len(data) // 2])
    # A run whose header is not JSON, and one written by a future version of the format.
    with tf.summary.create_file_writer(os.path.join(logdir, "bad_header")).as_default():
        tf.summary.write(
            metadata.HEADER_TAG,
            tf.constant("{not json"),
            step=0,
            metadata=metadata.create_summary_metadata(metadata.Kind.HEADER),
        )
    future = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME,
            content=plugin_data_pb2.InnspectorPluginData(version=99, kind=1).SerializeToString(),
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )
    with tf.summary.create_file_writer(os.path.join(logdir, "future")).as_default():
        tf.summary.write(metadata.HEADER_TAG, tf.constant("{}"), step=0, metadata=future)
    return Client(logdir)


@pytest.mark.slow
def test_broken_runs_are_listed_with_their_errors(damaged):
    status, answer = damaged.get("/models")
    assert status == 200
    models = {m["run"]: m for m in answer["models"]}
    assert set(models) == {"cnn_small", "dense_baseline", "bad_header", "future"}
    assert any("unreadable header" in e for e in models["bad_header"]["errors"])
    assert any("version 99" in e for e in models["future"]["errors"])
    assert models["cnn_small"]["errors"] == [] and models["dense_baseline"]["errors"] == []
    status, tree = damaged.get("/tree")
    assert status == 200 and {n["run"] for n in tree["nodes"]} >= {"cnn_small", "dense_baseline"}


def test_a_header_that_is_not_an_object_is_a_listed_error(odd_logdir):
    client = Client(odd_logdir)
    status, answer = client.get("/models")
    assert status == 200
    oops = next(m for m in answer["models"] if m["run"] == "oops")
    assert any("JSON object" in e for e in oops["errors"])
    assert client.get("/tree")[0] == 200
    assert client.get("/lint", run="oops")[0] in (400, 404)


def test_a_run_without_samples_still_answers(odd_logdir):
    client = Client(odd_logdir)
    status, answer = client.post(
        "/data", {"run": "no_samples", "unit": {"kind": "weights", "layer": "d", "variable": "kernel"}}
    )
    assert status == 200 and answer["result"]["value"]["data"] == [[1, 1], [1, 1], [1, 1]]
    assert client.get("/metrics")[0] == 200
    assert client.post("/data", {"run": "no_samples", "unit": {"kind": "labels"}})[0] == 404


@pytest.mark.slow
def test_a_half_written_checkpoint_affects_only_its_step(damaged):
    body = {"run": "cnn_small", "unit": {"kind": "weights", "layer": "conv_1", "variable": "kernel"}}
    status, answer = damaged.post("/data", dict(body, steps=1))
    assert status == 400 and "step 1" in answer["error"]
    status, answer = damaged.post("/data", dict(body, steps=DEMO_EPOCHS))
    assert status == 200 and answer["result"]["value"]["shape"] == [3, 3, 1, 8]
    status, answer = damaged.get("/neurons", run="cnn_small", layer="dense_hidden", step=1)
    assert status == 400
    assert damaged.get("/neurons", run="dense_baseline", layer="dense_hidden", step=1)[0] == 200
    assert damaged.get("/graph", run="bad_header")[0] == 404  # no architecture logged: said so
    assert damaged.get("/lint", run="future")[0] in (400, 404)
    # Linting every model at once: the damaged runs say why, the sound ones are linted.
    status, answer = damaged.get("/lint/all")
    assert status == 200
    by_run = {m["run"]: m for m in answer["models"]}
    assert by_run["future"]["error"] and by_run["bad_header"]["error"]
    assert by_run["cnn_small"]["error"] is None and by_run["dense_baseline"]["error"] is None


@pytest.mark.slow
def test_concurrent_requests_give_the_sequential_answers(demo_logs):
    client = Client(demo_logs[0])
    requests = [
        ("/graph", {"run": "cnn_skip"}),
        ("/neurons", {"run": "cnn_small", "layer": "dense_hidden", "classes": "1,2"}),
        ("/interestingness", {"measure": "variance"}),
        ("/lint", {"run": "vae_careless"}),
        ("/structures", {}),
        ("/tree", {}),
    ]
    expected = [client.get(route, **params) for route, params in requests]
    fresh = Client(demo_logs[0])  # cold caches, filled by the threads at once
    results, errors = {}, []

    def worker(index):
        try:
            for j in range(len(requests)):
                k = (index + j) % len(requests)
                results.setdefault(k, []).append(fresh.get(requests[k][0], **requests[k][1]))
        except Exception as e:  # collected, so the test fails with it
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    for k, answers in results.items():
        assert len(answers) == 8
        for answer in answers:
            assert answer == expected[k], requests[k]
