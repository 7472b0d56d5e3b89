"""A real `tensorboard` process over the demo logs (trained small): plugin active, every model listed."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from innspector_tb.format import step_files
from tests.conftest import DEMO_EPOCHS

# A real tensorboard process (two: Python ingester and Rust data server) over the demo logs.
pytestmark = pytest.mark.slow


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


@pytest.fixture(scope="module")
def demo_headers(demo_logs):
    return demo_logs


@pytest.fixture(scope="module", params=["false", "true"], ids=["python-ingester", "rust-data-server"])
def server(request, demo_headers):
    logdir, _ = demo_headers
    port = _free_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    process = subprocess.Popen(
        [
            tensorboard,
            "--logdir",
            logdir,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--load_fast",
            request.param,
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 90
    while True:
        try:
            _get(base + "/data/plugins_listing")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError("tensorboard did not start: %s" % process.stderr.read().decode()[-2000:]) from None
            time.sleep(0.5)
    yield base
    process.terminate()
    process.wait(timeout=30)


def _logged_steps(logdir, run):
    # Every demo model logs steps 0..DEMO_EPOCHS, except the mitigated child: 0, then its epochs after its parent's.
    return sorted(step_files.list_step_files(os.path.join(logdir, run)))


def _models_when_loaded(base, expected_count, logdir):
    deadline = time.monotonic() + 90
    while True:
        status, content_type, body = _get(base + "/data/plugin/innspector/models")
        models = json.loads(body)["models"]
        if len(models) >= expected_count and all(m["steps"] == _logged_steps(logdir, m["run"]) for m in models):
            return status, content_type, models
        if time.monotonic() > deadline:
            raise AssertionError("models route did not list every demo model: %s" % [m["run"] for m in models])
        time.sleep(1)


def test_plugin_is_active_in_the_listing(server):
    deadline = time.monotonic() + 60
    while True:
        listing = json.loads(_get(server + "/data/plugins_listing")[2])
        if listing.get("innspector", {}).get("enabled"):
            break
        assert time.monotonic() < deadline, listing.get("innspector")
        time.sleep(1)
    entry = listing["innspector"]
    assert entry["tab_name"] == "iNNspector"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/innspector/index.js"}
    status, content_type, body = _get(server + "/data/plugin/innspector/index.js")
    assert status == 200 and content_type.startswith("text/javascript")
    assert re.search(rb"export\s*\{[^}]*\brender\b", body), "the bundle does not export render()"
    # The layout worker the bundle loads from beside itself.
    status, content_type, body = _get(server + "/data/plugin/innspector/elk-worker.js")
    assert status == 200 and content_type.startswith("text/javascript") and len(body) > 100_000


def test_every_demo_model_is_listed_with_its_lineage(server, demo_headers):
    _, headers = demo_headers
    status, content_type, models = _models_when_loaded(server, len(headers), demo_headers[0])
    assert status == 200 and content_type.startswith("application/json")
    assert all(m["steps"] == list(range(DEMO_EPOCHS + 1)) for m in models if m["run"] != "spurious_mitigated")
    by_id = {m["id"]: m for m in models}
    assert set(by_id) == {h["id"] for h in headers}
    for head in headers:
        model = by_id[head["id"]]
        assert model["run"] == head["name"]
        assert model["parents"] == head["parents"]
        assert model["label"] == head["label"]
        assert model["errors"] == []
        assert model["params"]["trainable"] > 0
        assert "loss" in model["latest_metrics"]
    careless = next(m for m in models if m["name"] == "vae_careless")
    fixed = next(m for m in models if m["name"] == "vae_fixed")
    assert fixed["parents"] == [careless["id"]]
    assert careless["hparams"]["output_activations"][1:] == ["relu", "relu"]
    assert fixed["hparams"]["output_activations"][1:] == ["linear", "linear"]


def test_backend_routes_answer_through_the_real_server(server, demo_headers):
    _, headers = demo_headers
    _models_when_loaded(server, len(headers), demo_headers[0])
    base = server + "/data/plugin/innspector"
    tree = json.loads(_get(base + "/tree")[2])
    assert len(tree["experiments"]) == 5 and len(tree["nodes"]) == len(headers)
    graph = json.loads(_get(base + "/graph?run=cnn_skip")[2])["architecture"]
    assert any(edge["to"] == "skip_add" for edge in graph["edges"])
    neurons = json.loads(_get(base + "/neurons?run=cnn_small&layer=dense_hidden&k=3")[2])
    assert len(neurons["weights"]) == 3
    lint = json.loads(_get(base + "/lint?run=vae_careless")[2])
    assert {f["layer"] for f in lint["findings"] if f["rule"] == "relu-on-distribution-parameter"} == {
        "z_mean",
        "z_log_var",
    }
    scores = json.loads(_get(base + "/interestingness?measure=zero_fraction")[2])
    assert len(scores["models"]) == len(headers)
    try:
        _get(base + "/graph?run=missing")
        raise AssertionError("an unknown run must be a 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404 and "missing" in json.loads(e.read())["error"]
