"""A logdir is input from strangers: crafted files get a clear 4xx or their own run's error entry, never
a byte from outside the logdir, never a 500, and never break the answers about the other runs.

Each run here is the same small model logged by the summary ops (tests/support/reduced_run.py), then
tampered with as an attacker would: HDF5 indirections to a secret file outside the logdir (external
storage, an external link, a virtual dataset), a decompression bomb, a symlink out of the run, a FIFO,
and poisoned JSON summaries.
"""

import json
import os
import secrets
import shutil

import h5py
import numpy as np
import pytest
import tensorflow as tf

from innspector_tb.format import metadata, step_files
from tests.support import reduced_run
from tests.support.backend_app import Client

pytestmark = pytest.mark.slow

TOKEN = "SECRET-" + secrets.token_hex(8)
BOMB_ELEMENTS = 5_000_000_000
TAMPERED_SAMPLES = ("external_storage", "external_link", "virtual", "bomb", "symlink", "fifo")
POISONED = ("arch_not_a_list", "infinite_parameters", "deep_json")


def _rewrite_samples(path, make_x):
    """samples.h5 with its labels kept and data_samples/x made by make_x(group)."""
    with h5py.File(path, "r") as f:
        labels = f["data_samples/y_label"][()]
    os.remove(path)
    with h5py.File(path, "w") as f:
        group = f.create_group("data_samples")
        group.create_dataset("y_label", data=labels)
        make_x(group)


def _write_json_summary(run_dir, tag, kind, text):
    with tf.summary.create_file_writer(run_dir).as_default():
        tf.summary.write(tag, tf.constant(text), step=0, metadata=metadata.create_summary_metadata(kind))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    outside = root / "outside"
    outside.mkdir()
    secret_raw = outside / "id_rsa"
    secret_raw.write_bytes((TOKEN + "\n").encode() * 64)
    secret_h5 = outside / "secret.h5"
    with h5py.File(secret_h5, "w") as f:
        f.create_dataset("x", data=np.frombuffer(secret_raw.read_bytes(), dtype=np.uint8))
    logdir = root / "logdir"
    template = root / "template"
    reduced_run.write_full_run(str(template), name="sound")
    for run in ("sound",) + TAMPERED_SAMPLES + POISONED:
        shutil.copytree(template, logdir / run)
    samples = {run: str(logdir / run / step_files.SAMPLES_FILE) for run in TAMPERED_SAMPLES}
    nbytes = secret_raw.stat().st_size

    _rewrite_samples(
        samples["external_storage"],
        lambda g: g.create_dataset("x", shape=(nbytes,), dtype="u1", external=[(str(secret_raw), 0, nbytes)]),
    )

    def external_link(group):
        group["x"] = h5py.ExternalLink(str(secret_h5), "x")

    _rewrite_samples(samples["external_link"], external_link)

    def virtual(group):
        layout = h5py.VirtualLayout(shape=(nbytes,), dtype="u1")
        layout[:] = h5py.VirtualSource(str(secret_h5), "x", shape=(nbytes,))
        group.create_virtual_dataset("x", layout)

    _rewrite_samples(samples["virtual"], virtual)

    # 5e9 float32 of nothing but the fill value: a few KB on disk, 20 GB if read whole. Labels are read by
    # every data, metrics and mistakes request; activations by the data route.
    with h5py.File(samples["bomb"], "a") as f:
        del f["data_samples/y_label"]
        f.create_dataset(
            "data_samples/y_label", shape=(BOMB_ELEMENTS,), dtype="i8", chunks=(1 << 20,), compression="gzip"
        )
    bomb_step = str(logdir / "bomb" / step_files.step_file(reduced_run.STEPS[-1]))
    with h5py.File(bomb_step, "a") as f:
        del f["layers/head/activations"]
        f.create_dataset(
            "layers/head/activations", shape=(BOMB_ELEMENTS,), dtype="f4", chunks=(1 << 20,), compression="gzip"
        )
    assert os.path.getsize(bomb_step) < 10 * 2**20

    # A symlink out of the run to a valid samples file holding the secret.
    os.remove(samples["symlink"])
    with h5py.File(outside / "samples.h5", "w") as f:
        f.create_dataset("data_samples/x", data=np.frombuffer(secret_raw.read_bytes(), dtype=np.uint8))
        f.create_dataset("data_samples/y_label", data=np.zeros(reduced_run.PROBE, dtype=np.int64))
    os.symlink(outside / "samples.h5", samples["symlink"])

    os.remove(samples["fifo"])
    os.mkfifo(samples["fifo"])

    arch = metadata.ARCHITECTURE_TAG
    _write_json_summary(str(logdir / "arch_not_a_list"), arch, metadata.Kind.ARCHITECTURE, '{"layers": 5}')
    header = json.dumps({"format_version": 1, "name": "infinite", "parameters": 1}).replace("1}", "Infinity}")
    _write_json_summary(str(logdir / "infinite_parameters"), metadata.HEADER_TAG, metadata.Kind.HEADER, header)
    deep = '{"layers": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    _write_json_summary(str(logdir / "deep_json"), arch, metadata.Kind.ARCHITECTURE, deep)
    return Client(str(logdir)), str(root)


def _no_secret(answer):
    text = json.dumps(answer)
    assert TOKEN not in text, "an answer holds bytes from outside the logdir"
    assert TOKEN.encode().hex()[:16] not in text
    # The secret's bytes as a list of numbers (a uint8 dataset answered as JSON).
    assert json.dumps(list(TOKEN.encode()[:8]))[1:-1] not in text.replace(" ", "").replace(",", ", ")


@pytest.mark.parametrize("run", TAMPERED_SAMPLES)
def test_samples_through_indirections_are_refused(hostile, run):
    client, root = hostile
    status, answer = client.post("/data", {"run": run, "unit": {"kind": "samples"}})
    assert 400 <= status < 500, answer
    _no_secret(answer)
    assert root not in answer["error"], "an error answer shows a server path"


def test_the_sound_run_still_answers(hostile):
    client, _ = hostile
    status, answer = client.post("/data", {"run": "sound", "unit": {"kind": "samples"}})
    assert status == 200 and answer["result"]["value"]["shape"][0] == reduced_run.PROBE


@pytest.mark.parametrize(
    "body",
    [
        {"run": "bomb", "unit": {"kind": "labels"}},
        {"run": "bomb", "unit": {"kind": "activations", "layer": "gap"}},
        {"run": "bomb", "unit": {"kind": "activations", "layer": "head"}, "steps": "last"},
    ],
)
def test_a_decompression_bomb_is_refused_before_it_is_read(hostile, body):
    client, _ = hostile
    status, answer = client.post("/data", body)
    assert status == 400 and answer.get("limit") == "read_bytes", answer


def test_a_bomb_in_labels_does_not_reach_metrics_or_mistakes(hostile):
    client, _ = hostile
    status, answer = client.get("/metrics", runs="bomb")
    assert status in (200, 400), answer
    status, answer = client.get("/mistakes", run="bomb", layer="gap")
    assert status in (400, 404), answer


@pytest.mark.parametrize("variable", ["./kernel", ".", "kernel/.", "../head/kernel", "", "kernel//"])
def test_variable_aliases_are_refused(hostile, variable):
    client, _ = hostile
    status, answer = client.post(
        "/data", {"run": "sound", "unit": {"kind": "weights", "layer": "head", "variable": variable}}
    )
    assert status in (400, 404), answer


def test_a_variable_the_architecture_lists_is_read(hostile):
    client, _ = hostile
    body = {"run": "sound", "unit": {"kind": "weights", "layer": "head", "variable": "kernel"}}
    status, answer = client.post("/data", body)
    assert status == 200, answer


@pytest.mark.parametrize("route", ["/models", "/tree", "/structures", "/interestingness"])
def test_poisoned_summaries_stay_with_their_run(hostile, route):
    client, _ = hostile
    params = {"measure": "variance"} if route == "/interestingness" else {}
    status, answer = client.get(route, **params)
    assert status == 200, answer
    if route == "/models":
        models = {m["run"]: m for m in answer["models"]}
        assert models["sound"]["errors"] == []
        for run in POISONED:
            assert models[run]["errors"], "run %s lists no error" % run


def test_every_route_answers_without_5xx_or_secrets(hostile):
    client, root = hostile
    runs = ("sound",) + TAMPERED_SAMPLES + POISONED
    for run in runs:
        for route, params in [
            ("/graph", {"run": run}),
            ("/lint", {"run": run}),
            ("/neurons", {"run": run, "layer": "head"}),
            ("/metrics", {"runs": run}),
            ("/mistakes", {"run": run, "layer": "gap"}),
        ]:
            status, answer = client.get(route, **params)
            assert status < 500, (route, run, answer)
            _no_secret(answer)
            assert root not in json.dumps(answer), (route, run, "a server path in the answer")
