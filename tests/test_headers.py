"""Unit tests of model headers."""

import json
import uuid

import numpy as np
import pytest

import innspector_tb
from innspector_tb.format import headers


def test_header_defaults_and_fresh_ids():
    a = innspector_tb.header("cnn")
    b = innspector_tb.header("cnn")
    assert a["name"] == a["label"] == "cnn"
    assert a["parents"] == [] and a["hparams"] == {}
    uuid.UUID(a["id"])
    assert a["id"] != b["id"]


def test_several_parents_given_as_ids_or_headers():
    p1, p2 = innspector_tb.header("a"), innspector_tb.header("b")
    child = innspector_tb.header("merged", parents=[p1, p2["id"], p1])
    assert child["parents"] == [p1["id"], p2["id"]]


def test_branch_inherits_and_updates_hparams():
    parent = innspector_tb.header("vae", hparams={"kl_weight": 0.5, "batch_size": 32})
    child = innspector_tb.branch(parent, "vae_kl", label="more KL", kl_weight=0.75)
    assert child["parents"] == [parent["id"]]
    assert child["hparams"] == {"kl_weight": 0.75, "batch_size": 32}
    assert child["id"] != parent["id"] and child["label"] == "more KL"
    assert parent["hparams"]["kl_weight"] == 0.5


def test_hparams_become_strict_json():
    head = innspector_tb.header(
        "m", hparams={"lr": np.float32(0.5), "shape": (2, 3), "bad": float("nan"), "obj": object()}
    )
    text = headers.to_json(head)
    back = json.loads(text)
    assert back["hparams"]["lr"] == 0.5 and back["hparams"]["shape"] == [2, 3]
    assert back["hparams"]["bad"] == "nan"
    assert back["hparams"]["obj"].startswith("<object")


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"name": ""}, "non-empty string"),
        ({"name": "m", "extra": 1}, "unknown keys"),
        ({"name": "m", "hparams": [1]}, "hparams must be an object"),
        ({"name": "m", "id": "x", "parents": ["x"]}, "own parent"),
        ({"name": "m", "parents": [3]}, "parent must be"),
        ([], "JSON object"),
    ],
)
def test_validate_rejects_bad_headers(bad, message):
    with pytest.raises(headers.HeaderError, match=message):
        headers.validate(bad)


def test_merge_hparams_keeps_the_users_values():
    head = innspector_tb.header("m", hparams={"learning_rate": 0.1})
    merged = headers.merge_hparams(head, {"learning_rate": 0.001, "optimizer": "Adam"})
    assert merged["hparams"] == {"learning_rate": 0.1, "optimizer": "Adam"}
