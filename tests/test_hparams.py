"""Our headers' hyper-parameters reach TensorBoard's own HParams tab (issue 13, item 3): its routes list
our models with their hyper-parameters and final metrics, beside a run written with TensorBoard's hparams
API by hand."""

import json
import os

import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

import innspector_tb
from innspector_tb.format import headers
from tests.support import tb_readers
from tests.support import trained_models as tm

HPARAMS_ROUTE = "/data/plugin/hparams/"


def test_nested_and_odd_hparams_are_flattened_for_tensorboard():
    head = innspector_tb.header(
        "m", hparams={"batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}, "layers": [32, 64], "seed": None}
    )
    assert headers.tensorboard_hparams(head) == {
        "model": "m",
        "batch_size": 16,
        "optimizer.name": "adam",
        "optimizer.lr": 0.01,
        "layers": "[32, 64]",
    }


@pytest.fixture(scope="module")
def hparams_logdir(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("hparams"))
    tm.train(logdir, "ours", tm.sequential(), epochs=2)
    # A run of the user's own, logged with TensorBoard's hparams API.
    with tf.summary.create_file_writer(os.path.join(logdir, "theirs")).as_default():
        hp.hparams({"batch_size": 64, "model": "theirs"}, trial_id="theirs")
        tf.summary.scalar("epoch_loss", 0.5, step=1)
    return logdir


def _post(app_client, route, body):
    response = app_client.post(HPARAMS_ROUTE + route, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.get_data()[:500]
    return json.loads(response.get_data())


@pytest.mark.slow
def test_the_hparams_tab_lists_our_models_with_hparams_and_metrics(hparams_logdir):
    from tests.support.backend_app import Client

    raw = Client(hparams_logdir)._client
    listing = json.loads(raw.get("/data/plugins_listing").get_data())
    assert listing["hparams"]["enabled"], "the HParams tab is inactive"
    experiment = _post(raw, "experiment", {"experimentName": ""})
    names = {h["name"] for h in experiment["hparamInfos"]}
    assert {"model", "batch_size"} <= names
    metric_tags = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert "metrics/loss" in metric_tags
    groups = _post(
        raw,
        "session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [
                {"hparam": "model"},
                {"hparam": "batch_size"},
                {"metric": {"tag": "metrics/loss", "group": ""}},
            ],
            "startIndex": 0,
            "sliceSize": 100,
        },
    )
    by_model = {g["hparams"]["model"]: g for g in groups["sessionGroups"]}
    assert set(by_model) == {"ours", "theirs"}
    assert by_model["ours"]["hparams"]["batch_size"] == 16 and by_model["theirs"]["hparams"]["batch_size"] == 64
    with tb_readers.data_provider(hparams_logdir, "python") as provider:
        losses = tb_readers.scalars(provider, "ours")["metrics/loss"]
    final = [m for m in by_model["ours"]["metricValues"] if m["name"]["tag"] == "metrics/loss"]
    assert final and final[0]["value"] == pytest.approx(losses[max(losses)], rel=1e-6)
