"""Plain runs beside ours (issue 13, items 1-2): a run of Keras' own TensorBoard callback (train and
validation sub-runs), a custom loop's tf.summary run and one of ours are all models, with their metrics
side by side; `innspector-tb link` gives a plain run a parent without touching its event files."""

import hashlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from innspector_tb.format import links
from tests.support import trained_models as tm
from tests.support.backend_app import Client

pytestmark = pytest.mark.slow


def _stock_keras_run(logdir):
    x, y = tm.images()
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(3, activation="softmax", name="dense"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = keras.callbacks.TensorBoard(
        log_dir=os.path.join(logdir, "stock_keras"), histogram_freq=1, write_images=True
    )
    model.fit(x, y, validation_split=0.25, epochs=3, batch_size=16, verbose=0, callbacks=[callback])


def _custom_loop_run(logdir):
    with tf.summary.create_file_writer(os.path.join(logdir, "custom_loop")).as_default():
        hp.hparams({"learning_rate": 0.1, "optimizer": "sgd"}, trial_id="custom")
        for step in range(4):
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
            tf.summary.histogram("dense/kernel", np.random.default_rng(step).normal(size=100), step=step)
            tf.summary.image("samples", logged_samples(step), step=step, max_outputs=2)


def logged_samples(step):
    """The two 8x6 RGB images the custom loop logs at a step (uint8: written to PNG as they are)."""
    images = np.zeros((2, 8, 6, 3), np.uint8)
    images[0, :, :, 0] = 40 * step + 10  # red grows with the step
    images[1, :4, :, 2] = 255  # blue top half
    images[1, :, :, 1] = np.arange(6, dtype=np.uint8) * 40 + step
    return images


def write_mixed_logdir(logdir):
    """A Keras callback's run, a custom loop's run and one of ours; returns our header."""
    _stock_keras_run(logdir)
    _custom_loop_run(logdir)
    return tm.train(logdir, "ours", tm.sequential(), epochs=2)["header"]


@pytest.fixture(scope="module")
def mixed_logdir(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("mixed"))
    return logdir, write_mixed_logdir(logdir)


def _models(client):
    status, answer = client.get("/models")
    assert status == 200, answer
    return {m["run"]: m for m in answer["models"]}


def test_every_run_is_a_model_keras_sub_runs_folded(mixed_logdir):
    logdir, head = mixed_logdir
    models = _models(Client(logdir))
    assert set(models) == {"stock_keras", "custom_loop", "ours"}
    stock, custom, ours = models["stock_keras"], models["custom_loop"], models["ours"]
    assert stock["plain"] and stock["series_runs"] == ["stock_keras/train", "stock_keras/validation"]
    assert stock["id"] == "plain:stock_keras" and stock["name"] == "stock_keras" and stock["errors"] == []
    assert custom["plain"] and custom["hparams"] == {"learning_rate": pytest.approx(0.1), "optimizer": "sgd"}
    assert not ours["plain"] and ours["id"] == head["id"] and ours["series_runs"] == ["ours"]
    # Latest metrics under Keras' own names: epoch_loss of the validation sub-run is val_loss.
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(stock["latest_metrics"])
    assert stock["latest_metrics"]["loss"]["step"] == 2
    assert set(custom["latest_metrics"]) == {"loss"} and custom["latest_metrics"]["loss"]["value"] == pytest.approx(
        0.25
    )


def test_metrics_of_the_three_side_by_side(mixed_logdir):
    logdir, _ = mixed_logdir
    client = Client(logdir)
    status, answer = client.get("/metrics")
    assert status == 200, answer
    runs = answer["runs"]
    assert set(runs) == {"stock_keras", "custom_loop", "ours"}
    assert [p[0] for p in runs["stock_keras"]["series"]["val_loss"]] == [0, 1, 2]
    assert [p[1] for p in runs["custom_loop"]["series"]["loss"]] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert "loss" in runs["ours"]["series"] and runs["ours"]["classification"]
    assert runs["stock_keras"]["classification"] == {}
    status, one = client.get("/metrics", runs="stock_keras")
    assert status == 200 and set(one["runs"]) == {"stock_keras"}
    status, missing = client.get("/metrics", runs="nope")
    assert status == 404


def test_plain_models_are_in_the_tree_and_other_routes_keep_answering(mixed_logdir):
    logdir, _ = mixed_logdir
    client = Client(logdir)
    status, tree = client.get("/tree")
    assert status == 200 and {n["run"] for n in tree["nodes"]} == {"stock_keras", "custom_loop", "ours"}
    for route, params in [("/interestingness", {"measure": "variance"}), ("/structures", {}), ("/lint/all", {})]:
        status, answer = client.get(route, **params)
        assert status == 200, (route, answer)
    status, answer = client.get("/neurons", run="stock_keras", layer="dense")
    assert status == 404 and "stock_keras" in answer["error"]


def _event_file_digests(logdir):
    digests = {}
    for root, _, files in os.walk(logdir):
        for name in files:
            if "tfevents" in name:
                with open(os.path.join(root, name), "rb") as f:
                    digests[os.path.join(root, name)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def _link(logdir, child, parent):
    return subprocess.run(
        [sys.executable, "-m", "innspector_tb.cli", "link", "--logdir", logdir, child, parent],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_link_gives_a_plain_run_a_parent_at_once_and_is_idempotent(mixed_logdir):
    logdir, head = mixed_logdir
    client = Client(logdir)
    assert _models(client)["stock_keras"]["parents"] == []  # listed (and cached) before the link
    before = _event_file_digests(logdir)
    result = _link(logdir, "stock_keras/train", "ours")
    assert result.returncode == 0, result.stderr
    assert "linked %s as a parent of stock_keras" % head["id"] in result.stdout
    link_file = os.path.join(logdir, "stock_keras", links.LINK_FILE)
    with open(link_file, "rb") as f:
        written = f.read()
    models = _models(client)  # the same server: the link shows without a restart
    assert models["stock_keras"]["parents"] == [head["id"]]
    status, tree = client.get("/tree")
    assert {"from": head["id"], "to": "plain:stock_keras"}.items() <= next(
        e for e in tree["edges"] if e["to"] == "plain:stock_keras"
    ).items()
    again = _link(logdir, "stock_keras", "ours")
    assert again.returncode == 0 and "already linked" in again.stdout
    with open(link_file, "rb") as f:
        assert f.read() == written
    assert _event_file_digests(logdir) == before  # no event file written or changed
    # A plain parent: the custom loop's run becomes the parent of ours too.
    assert _link(logdir, "ours", "custom_loop").returncode == 0
    assert _models(client)["ours"]["parents"] == [*head["parents"], "plain:custom_loop"]


@pytest.mark.parametrize(
    "child, parent, fragment",
    [("nope", "ours", "no run 'nope'"), ("ours", "ours", "its own parent"), ("../x", "ours", "inside the logdir")],
)
def test_link_refuses_what_it_cannot_do(mixed_logdir, child, parent, fragment):
    logdir, _ = mixed_logdir
    result = _link(logdir, child, parent)
    assert result.returncode == 2 and fragment in result.stderr, result.stderr


def test_a_keras_callback_run_opens_as_a_graph_from_its_logged_config(mixed_logdir):
    logdir, _ = mixed_logdir
    client = Client(logdir)
    stock = _models(client)["stock_keras"]
    assert stock["layer_count"] == 2 and [g["type"] for g in stock["glyph"]] == ["Flatten", "Dense"]
    status, answer = client.get("/graph", run="stock_keras")
    assert status == 200, answer
    layers = {layer["id"]: layer for layer in answer["architecture"]["layers"]}
    assert layers["dense"]["type"] == "Dense" and [v["name"] for v in layers["dense"]["variables"]] == [
        "kernel",
        "bias",
    ]
    assert [(e["from"], e["to"]) for e in answer["architecture"]["edges"]][-1] == ("flatten", "dense")
    status, answer = client.get("/graph", run="custom_loop")
    assert status == 404 and "no Keras model config" in answer["error"]


def test_a_plain_variable_s_histograms_are_its_logged_ones(mixed_logdir):
    logdir, _ = mixed_logdir
    client = Client(logdir)
    body = {"run": "stock_keras", "unit": {"kind": "histogram", "unit": "dense/kernel"}, "steps": "all"}
    status, answer = client.post("/data", body)
    assert status == 200, answer
    assert answer["steps"] == [0, 1, 2]
    bins = np.asarray(answer["result"]["value_2"]["data"])
    assert bins.shape[1] == 3 and bins[:, 2].sum() == pytest.approx(int(np.prod((36, 3))))  # every weight counted
    status, one = client.post("/data", {**body, "steps": 1})
    assert status == 200 and one["steps"] == [1]
    status, answer = client.post("/data", {"run": "stock_keras", "unit": {"kind": "activations", "layer": "dense"}})
    assert status == 404 and "only its scalars and logged histograms" in answer["error"]


def test_a_plain_run_s_logged_images_are_listed_and_served_as_logged(mixed_logdir):
    logdir, _ = mixed_logdir
    client = Client(logdir)
    models = _models(client)
    assert models["custom_loop"]["image_tags"] == ["samples"]
    assert models["stock_keras"]["image_tags"]  # Keras' write_images: the kernel drawn as an image
    assert "image_tags" not in models["ours"]
    status, listing = client.get("/images", run="custom_loop")
    assert status == 200, listing
    assert listing["images"] == [{"tag": "samples", "series_run": "custom_loop", "steps": [0, 1, 2, 3], "samples": 2}]
    for step, sample in ((1, 0), (3, 1)):
        response = client.get_raw("/image", run="custom_loop", tag="samples", step=step, sample=sample)
        assert response.status_code == 200, response.get_data()[:200]
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        decoded = tf.io.decode_png(response.get_data()).numpy()
        np.testing.assert_array_equal(decoded, logged_samples(step)[sample])
    # The last step by default; Keras' kernel image from its train sub-run, found without naming it.
    last = client.get_raw("/image", run="custom_loop", tag="samples")
    np.testing.assert_array_equal(tf.io.decode_png(last.get_data()).numpy(), logged_samples(3)[0])
    status, stock = client.get("/images", run="stock_keras")
    assert status == 200 and [s["series_run"] for s in stock["images"]] == ["stock_keras/train"] * len(stock["images"])
    kernel_tag = next(s["tag"] for s in stock["images"] if "kernel" in s["tag"])
    kernel = client.get_raw("/image", run="stock_keras", tag=kernel_tag)
    assert kernel.status_code == 200 and kernel.headers["Content-Type"] == "image/png"
    assert tf.io.decode_png(kernel.get_data()).shape[:2] in ((36, 3), (3, 36))  # the dense kernel's shape
    # What is not there: a clear 404 or 400 in JSON, never bytes.
    for params, status_code, fragment in (
        ({"run": "custom_loop", "tag": "nope"}, 404, "no images with tag"),
        ({"run": "custom_loop", "tag": "samples", "step": 7}, 404, "steps: 0, 1, 2, 3"),
        ({"run": "custom_loop", "tag": "samples", "sample": 2}, 404, "has 2 image(s)"),
        ({"run": "custom_loop", "tag": "samples", "sample": -1}, 400, "sample"),
        ({"run": "nobody", "tag": "samples"}, 404, "no model"),
        ({"run": "custom_loop"}, 400, "'tag' is required"),
        ({"run": "custom_loop", "tag": "samples", "series_run": "ours"}, 404, "not one of"),
    ):
        response = client.get_raw("/image", **params)
        assert response.status_code == status_code and response.mimetype == "application/json", params
        assert fragment in response.get_json()["error"], (params, response.get_json())
    status, answer = client.get("/images", run="ours")
    assert status == 200 and answer == {"run": "ours", "images": []}
