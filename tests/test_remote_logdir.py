"""Remote logdirs (issue 13, item 4): the callback writes and the plugin reads only through `fs`.

- `ram://`, TensorFlow's in-memory filesystem: a model trained with the callback into it and served by
  TensorBoard's app in the same process answers as the same files copied to a local directory.
- S3 protocol: a local S3 server (moto, on a free port in a thread of this process) filled with s3fs
  from a locally trained run, served in a process without TensorFlow (TensorBoard's stub gfile reads
  s3:// with boto3 and S3_ENDPOINT, as does the plugin), answers as the local run; reading one small
  dataset of a step file fetches a part of the file, not all of it.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import pytest
import tensorflow as tf
from keras import layers

from innspector_tb import block_cache, fs
from innspector_tb.format import step_files
from tests.support import trained_models as tm
from tests.support.backend_app import Client

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _answers(client, run, layer):
    """The answers a user's first clicks ask for: models, the graph, the neurons and the activations."""
    return {
        "models": client.get("/models"),
        "graph": client.get("/graph", run=run),
        "neurons": client.get("/neurons", run=run, layer=layer, k=3),
        "data": client.post("/data", {"run": run, "unit": {"kind": "activations", "layer": layer}, "steps": "last"}),
    }


def _copy_tree(source, target):
    """Copies a directory tree file by file through TensorFlow's gfile (any scheme to any scheme)."""
    tf.io.gfile.makedirs(target)
    for name in tf.io.gfile.listdir(source):
        name = name.rstrip("/")
        if tf.io.gfile.isdir(fs.join(source, name)):
            _copy_tree(fs.join(source, name), os.path.join(target, name))
        else:
            tf.io.gfile.copy(fs.join(source, name), os.path.join(target, name), overwrite=True)


def _files(directory):
    found = []
    for root, _, names in os.walk(directory):
        found += [os.path.relpath(os.path.join(root, n), directory) for n in names]
    return sorted(found)


@pytest.mark.slow
def test_a_run_trained_into_ram_is_served_like_the_same_run_on_disk(tmp_path):
    logdir = "ram://innspector-test-%s" % os.getpid()
    tm.train(logdir, "seq", tm.sequential(), epochs=2)
    local = str(tmp_path / "local")
    _copy_tree(logdir, local)
    files = _files(local)
    # Everything the callback writes, through the filesystem layer: no lock, no temporary file left.
    assert [f for f in files if f.startswith("seq/events.out.tfevents.")]
    assert {"seq/" + step_files.step_file(s) for s in range(3)} | {"seq/" + step_files.SAMPLES_FILE} <= set(files)
    assert not [f for f in files if step_files.TEMP_MARK in f or f.endswith(os.path.basename(step_files.LOCK_FILE))]

    remote = _answers(Client(logdir), "seq", "conv")
    assert all(status == 200 for status, _ in remote.values()), remote
    assert remote["models"][1]["models"][0]["name"] == "seq"
    assert remote["data"][1]["steps"] == [2]
    assert remote == _answers(Client(local), "seq", "conv")


# The S3 protocol.


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server(monkeypatch):
    """(endpoint URL, environment of a client) of a local S3 server with a bucket `logs`."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % port
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    try:
        yield endpoint, dict(os.environ, S3_ENDPOINT=endpoint, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    finally:
        server.stop()


def _served(logdir, run, layer, env):
    """What tests/support/remote_reads.py answers over logdir, in a process without TensorFlow."""
    process = subprocess.run(
        [sys.executable, "-m", "tests.support.remote_reads", logdir, run, layer, "--no-tensorflow"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result["tensorflow"] is False
    return result


def wide():
    """A step file of a few MB (a wide hidden layer), so that reading its small output layer is a part of it."""
    return keras.Sequential(
        [
            keras.Input((6, 6, 1), name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(4096, activation="relu", name="wide"),
            layers.Dense(tm.CLASSES, activation="softmax", name="out"),
        ],
        name="wide",
    )


@pytest.mark.slow
def test_a_run_in_an_s3_bucket_is_served_like_the_same_run_on_disk(tmp_path, s3_server):
    import s3fs

    endpoint, env = s3_server
    local = str(tmp_path / "local")
    tm.train(local, "wide", wide(), epochs=1, precision="exact")
    bucket = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    bucket.mkdir("logs")
    bucket.put(os.path.join(local, "wide"), "logs/experiment/wide", recursive=True)

    remote, on_disk = _served("s3://logs/experiment", "wide", "out", env), _served(local, "wide", "out", env)
    assert all(status == 200 for status, _ in remote["answers"].values()), remote["answers"]
    assert remote["answers"] == on_disk["answers"]
    # The last step file is read lazily: its small output kernel fetches a part of the file.
    read = remote["read"]
    print(
        "reading layers/out/weights/kernel of a %d-byte step file over S3: %d bytes in %d requests"
        % (read["length"], read["bytes_fetched"], read["requests"])
    )
    assert read["length"] > 4 * block_cache.DEFAULT_BLOCK_SIZE
    assert 0 < read["bytes_fetched"] <= read["length"] // 4


def test_block_cached_reads_fetch_each_block_once(tmp_path):
    data = bytes(range(256)) * 4096  # 1 MiB
    fetched = []

    def read_range(offset, size):
        fetched.append((offset, size))
        return data[offset : offset + size]

    handle = block_cache.BlockCachedFile(read_range, len(data), block_size=1000, max_blocks=3)
    handle.seek(1500)
    assert handle.read(1000) == data[1500:2500]  # blocks 1 and 2, fetched in one request
    assert fetched == [(1000, 2000)]
    handle.seek(1990)
    assert handle.read(20) == data[1990:2010]  # cached
    assert len(fetched) == 1
    handle.seek(-10, os.SEEK_END)
    assert handle.read(100) == data[-10:] and handle.read(1) == b""
    handle.seek(0)
    assert handle.read(5000) == data[:5000]  # blocks 0..4: 0, 3, 4 fetched (1 and 2 cached)
    assert fetched == [(1000, 2000), (1048000, 576), (0, 1000), (3000, 2000)]
    assert (handle.requests, handle.bytes_fetched) == (4, 5576)
    with pytest.raises(OSError):
        handle.seek(-1)
