"""Every route of the plugin on the demo logs (trained small), through TensorBoard's own WSGI app."""

import json
import os

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo import text as demo_text
from innspector_tb import resources
from innspector_tb.format import step_files
from innspector_tb.server import openapi, routes_data
from innspector_tb.server.plugin import InnspectorPlugin
from tests.conftest import DEMO_EPOCHS
from tests.support import openapi_check
from tests.support.backend_app import Client

TEXT_RUNS = ("transformer_text", "bilstm_text")


@pytest.fixture(scope="module")
def client(demo_logs):
    return Client(demo_logs[0])


@pytest.fixture(scope="module")
def headers(demo_logs):
    return {h["name"]: h for h in demo_logs[1]}


def _ok(client, route, method="get", body=None, **params):
    status, answer = client.post(route, body) if method == "post" else client.get(route, **params)
    assert status == 200, answer
    schema = openapi.ROUTES[route]["schema"]
    assert openapi_check.validate(answer, schema) == [], openapi_check.validate(answer, schema)
    return answer


def test_openapi_documents_every_route(tmp_path):
    # No trained logs needed: the route table and the served document are the same for any logdir.
    status, document = Client(str(tmp_path)).get("/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    routes = set(InnspectorPlugin.get_plugin_apps(InnspectorPlugin.__new__(InnspectorPlugin)).keys())
    documented = {path[len("/data/plugin/innspector") :] for path in document["paths"]}
    assets = {"/" + name for name in os.listdir(resources.STATIC_DIR)}
    assert {"/index.js", "/elk-worker.js"} <= assets
    assert routes - assets - {"/openapi.json"} == documented


@pytest.mark.slow
def test_models_and_tree(client, headers):
    models = _ok(client, "/models")["models"]
    assert {m["name"] for m in models} == set(headers)
    # The class selector's names come from the probe's samples summary.
    assert all(m["classes"] == [str(c) for c in range(10)] for m in models if m["name"] not in TEXT_RUNS)
    assert all(m["classes"] == demo_text.CLASS_NAMES for m in models if m["name"] in TEXT_RUNS)
    # The glyph of a model's box: its non-input layers in order, with their trainable parameters.
    skip = next(m for m in models if m["name"] == "cnn_skip")
    assert [g["type"] for g in skip["glyph"]][:3] == ["Conv2D", "Conv2D", "Add"]
    assert len(skip["glyph"]) == skip["layer_count"] and skip["glyph"][0]["params"] > 0
    tree = _ok(client, "/tree")
    assert len(tree["experiments"]) == 5
    edge = next(
        e
        for e in tree["edges"]
        if e["from"] == headers["cnn_wide"]["id"] and e["to"] == headers["cnn_rebalanced"]["id"]
    )
    changed = {c["layer"] for c in edge["diff"]["changed"]}
    assert {"conv_1", "conv_2"} <= changed
    assert tree["missing_parents"] == [] and tree["cycles"] == []


def test_models_carry_their_runtime_statistics(client):
    """Runtime Statistics' data: every demo model times its inference on the probe (in the probe pass's
    batches) at the baseline step, and says its parameters and save size."""
    for model in _ok(client, "/models")["models"]:
        runtime = model["runtime"]
        assert runtime is not None, model["name"]
        assert runtime["inference_seconds_per_sample"] > 0, model["name"]
        assert runtime["inference_measured_at_step"] in model["steps"], model["name"]
        assert runtime["save_size_bytes"] > 0 and sum(runtime["params"].values()) > 0, model["name"]


@pytest.mark.slow
def test_lint_of_every_model_matches_each_model_s_lint(client, headers):
    answer = _ok(client, "/lint/all")
    assert [m["run"] for m in answer["models"]] == sorted(headers)
    careless = next(m for m in answer["models"] if m["run"] == "vae_careless")
    assert careless["error"] is None
    assert careless["findings"] == _ok(client, "/lint", run="vae_careless")["findings"]
    assert {f["layer"] for f in careless["findings"] if f["rule"] == "relu-on-distribution-parameter"} == {
        "z_mean",
        "z_log_var",
    }


@pytest.mark.slow
def test_graph_has_inner_operations(client):
    arch = _ok(client, "/graph", run="cnn_small")["architecture"]
    conv = next(layer for layer in arch["layers"] if layer["id"] == "conv_1")
    ops = [n.get("op") for n in conv["inner"]["nodes"] if n["kind"] == "op"]
    assert "conv" in ops and "bias_add" in ops


@pytest.mark.slow
def test_neurons_keeps_the_neurons_asked_for(client):
    default = _ok(client, "/neurons", run="dense_baseline", layer="dense_hidden", k=1)
    shown = {n["index"] for n in default["layer"]["neurons"]}
    hidden = next(i for i in range(default["layer"]["units"]) if i not in shown)
    kept = _ok(client, "/neurons", run="dense_baseline", layer="dense_hidden", k=1, keep=str(hidden))
    assert {n["index"] for n in kept["layer"]["neurons"]} == shown | {hidden}
    for bad in ("x", "-1", "9999"):
        status, answer = client.get("/neurons", run="dense_baseline", layer="dense_hidden", keep=bad)
        assert status == 400 and "keep" in answer["error"]


@pytest.mark.slow
def test_neurons_of_a_dense_layer(client, demo_logs):
    answer = _ok(client, "/neurons", run="dense_baseline", layer="dense_hidden", k=5, classes="3,5")
    assert answer["previous_layer"] == "flatten" and answer["step"] == DEMO_EPOCHS
    assert answer["selected_classes"] == ["3", "5"]
    assert len(answer["weights"]) == 5
    assert len(answer["neurons_by_classes"]["matrix"]) == 10
    # The strongest weight is the largest |kernel| entry of the logged step.
    path = os.path.join(demo_logs[0], "dense_baseline", step_files.step_file(DEMO_EPOCHS))
    with h5py.File(path, "r") as f:
        kernel = f["layers/dense_hidden/weights/kernel"][()]
    i, o = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    assert (answer["weights"][0]["from"], answer["weights"][0]["to"]) == (i, o)
    shares = [n["share"] for n in answer["layer"]["neurons"] if n["share"] is not None]
    assert sum(shares) == pytest.approx(1.0)


@pytest.mark.slow
def test_neurons_of_a_convolution_have_class_maps(client):
    answer = _ok(client, "/neurons", run="cnn_small", layer="conv_1", classes="0")
    assert answer["weights"] and set(answer["class_maps"]) == {"0"}
    some_map = next(iter(answer["class_maps"]["0"].values()))
    assert len(some_map) == 8 and len(some_map[0]) == 8


@pytest.mark.slow
def test_data_route_with_classes_and_transform(client, demo_logs):
    body = {
        "run": "cnn_small",
        "unit": {"kind": "activations", "layer": "dense_hidden"},
        "steps": "last",
        "classes": [1, 2],
        "transform": [{"op": "mean", "axis": 0}],
    }
    answer = _ok(client, "/data", "post", body)
    result = answer["result"]["value"]
    with h5py.File(os.path.join(demo_logs[0], "cnn_small", step_files.SAMPLES_FILE), "r") as f:
        labels = f["data_samples/y_label"][()]
    with h5py.File(os.path.join(demo_logs[0], "cnn_small", step_files.step_file(DEMO_EPOCHS)), "r") as f:
        acts = f["layers/dense_hidden/activations"][()]
    expected = acts[np.isin(labels, [1, 2])].mean(axis=0)
    np.testing.assert_allclose(result["data"], expected, rtol=1e-5)


@pytest.mark.slow
def test_data_route_across_steps_and_statistics(client):
    body = {
        "run": "cnn_small",
        "unit": {"kind": "weights", "layer": "conv_1", "variable": "kernel"},
        "steps": "all",
        "transform": [{"op": "histogram", "bins": 10, "range": [-1, 1]}],
    }
    answer = _ok(client, "/data", "post", body)
    assert answer["steps"] == list(range(DEMO_EPOCHS + 1))
    stats = _ok(client, "/data", "post", {"run": "cnn_small", "unit": {"kind": "statistics", "unit": "conv_1/kernel"}})
    assert stats["fields"][0] == "count" and len(stats["result"]["value"]["data"]) == DEMO_EPOCHS + 1


@pytest.fixture(scope="module")
def careless_client(tmp_path_factory):
    """The demo's use case 3 (careless VAE and its fix) trained as the demo trains it."""
    from demo import train as demo_train

    logdir = str(tmp_path_factory.mktemp("careless"))
    demo_train.train_all(logdir, only=["vae_careless"], verbose=False)
    return Client(logdir)


@pytest.mark.slow
def test_interestingness_ranks_the_careless_vae_latent_layers(client, careless_client):
    measures = _ok(client, "/interestingness/measures")["measures"]
    assert {"zero_fraction", "skew", "divergence_from_init", "structural"} <= {m["id"] for m in measures}
    for measure in ("zero_fraction", "skew"):
        answer = _ok(careless_client, "/interestingness", measure=measure, runs="vae_careless,vae_fixed")
        activations = [
            u
            for u in answer["units"]
            if u["run"] == "vae_careless" and u["unit_type"] == "activations" and u["score"] is not None
        ]
        ranked = [u["layer"] for u in sorted(activations, key=lambda u: -u["score"])]
        assert set(ranked[:2]) == {"z_mean", "z_log_var"}, (measure, ranked)


@pytest.mark.slow
def test_interestingness_scores_every_level(client):
    answer = _ok(client, "/interestingness", measure="divergence_from_init")
    # Each run at its last step: the demo's mitigated child continues its parent's steps.
    last = {m["run"]: m["steps"][-1] for m in _ok(client, "/models")["models"]}
    assert answer["steps"] == last and last["cnn_small"] == DEMO_EPOCHS and last["spurious_mitigated"] > DEMO_EPOCHS
    assert answer["step"] is None
    assert {m["run"] for m in answer["models"]} == {m["name"] for m in _ok(client, "/models")["models"]}
    assert len(answer["experiments"]) == 5
    scores = [u["score"] for u in answer["units"] if u["score"] is not None]
    assert scores and min(scores) >= 0 and max(scores) <= 1
    structural = _ok(client, "/interestingness", measure="structural", runs="cnn_skip")
    assert structural["layers"]


@pytest.mark.slow
def test_structures_and_lint(client):
    skip = _ok(client, "/structures", run="cnn_skip")
    assert [s["kind"] for s in skip["structures"]] == ["skip_connection"]
    # cnn_skip's residual connection and the two of transformer_text's TransformerBlock
    assert _ok(client, "/structures")["propagated"]["total"]["structures"]["skip_connection"] == 3
    block = _ok(client, "/structures", run="transformer_text")["structures"]
    assert [s["kind"] for s in block] == ["skip_connection"] * 2
    assert {s["namespace"] for s in block} == {"transformer_block"}
    careless = _ok(client, "/lint", run="vae_careless")
    flagged = {f["layer"] for f in careless["findings"] if f["rule"] == "relu-on-distribution-parameter"}
    assert flagged == {"z_mean", "z_log_var"}
    fixed = _ok(client, "/lint", run="vae_fixed")
    assert not [f for f in fixed["findings"] if f["rule"] == "relu-on-distribution-parameter"]


@pytest.mark.slow
def test_metrics_with_confusion_matrices(client):
    answer = _ok(client, "/metrics", runs="dense_baseline,vae_50_50")
    dense = answer["runs"]["dense_baseline"]
    assert [p[0] for p in dense["series"]["loss"]] == list(range(1, DEMO_EPOCHS + 1))
    last = dense["classification"][str(DEMO_EPOCHS)]
    assert sum(map(sum, last["matrix"])) == 64 and 0 <= last["accuracy"] <= 1
    assert "kl_loss" in answer["runs"]["vae_50_50"]["series"]


def test_predictions_outside_the_labels_count_as_mistakes(odd_logdir):
    status, answer = Client(odd_logdir).get("/metrics", runs="outside")
    matrix = answer["runs"]["outside"]["classification"]["0"]
    assert status == 200 and matrix["accuracy"] == pytest.approx(0.5)
    assert matrix["classes"] == [0, 1, 2]
    assert {c["class"]: c["support"] for c in matrix["per_class"]} == {0: 4, 1: 2, 2: 0}


@pytest.mark.slow
@pytest.mark.parametrize(
    "route, params, status",
    [
        ("/graph", {"run": "nope"}, 404),
        ("/graph", {}, 404),
        ("/neurons", {"run": "cnn_small", "layer": "nope"}, 404),
        ("/neurons", {"run": "cnn_small", "layer": "conv_1", "step": "999"}, 404),
        ("/neurons", {"run": "cnn_small", "layer": "conv_1", "k": "-3"}, 400),
        ("/neurons", {"run": "cnn_small", "layer": "conv_1", "k": "many"}, 400),
        ("/neurons", {"run": "cnn_small", "layer": "conv_1", "classes": "11"}, 400),
        ("/interestingness", {"measure": "nope"}, 400),
        ("/interestingness", {"measure": "variance", "runs": "nope"}, 404),
        ("/lint", {"run": "../etc"}, 404),
    ],
)
def test_bad_parameters_get_json_errors(client, route, params, status):
    code, answer = client.get(route, **params)
    assert code == status and isinstance(answer.get("error"), str) and answer["error"], answer


@pytest.mark.slow
@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"{not json", "not JSON"),
        (json.dumps([1, 2]).encode(), "JSON object"),
        (json.dumps({"run": "cnn_small"}).encode(), "unit"),
        (json.dumps({"run": "cnn_small", "unit": {"kind": "gradients"}}).encode(), "unit.kind"),
        (
            json.dumps(
                {"run": "cnn_small", "unit": {"kind": "class_means", "layer": "conv_1"}, "classes": []}
            ).encode(),
            "at least one class",
        ),
        (
            json.dumps(
                {
                    "run": "cnn_small",
                    "unit": {"kind": "weights", "layer": "conv_1", "variable": "kernel"},
                    "transform": [{"op": "eval", "code": "1+1"}],
                }
            ).encode(),
            "eval",
        ),
        (
            json.dumps(
                {
                    "run": "cnn_small",
                    "unit": {"kind": "weights", "layer": "conv_1", "variable": "kernel"},
                    "transform": [{"op": "histogram", "bins": 10**9}],
                }
            ).encode(),
            "bins",
        ),
    ],
)
def test_malformed_data_requests_are_400(client, raw, fragment):
    code, answer = client.post("/data", None, raw=raw)
    assert code == 400 and fragment in answer["error"], answer


def test_deeply_nested_bodies_are_400(odd_logdir):
    status, answer = Client(odd_logdir).post("/data", None, raw=b"[" * 100_000)
    assert status == 400 and "nested" in answer["error"]


@pytest.mark.slow
def test_class_mean_requests_are_sized_before_reading(demo_logs, monkeypatch):
    monkeypatch.setattr(routes_data, "MAX_DATA_ELEMENTS", 1000)
    body = {"run": "cnn_small", "unit": {"kind": "class_means", "layer": "conv_1"}, "steps": [0, 0, 0]}
    status, answer = Client(demo_logs[0]).post("/data", body)
    assert status == 400 and "too large" in answer["error"]


_texts = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(
        ["cnn_small", "dense_baseline", "conv_1", "dense_hidden", "last", "0", "-1", "3,5", "z_mean", "variance"]
    ),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["/graph", "/neurons", "/interestingness", "/structures", "/lint", "/metrics"]),
    run=_texts,
    layer=_texts,
    step=_texts,
    classes=_texts,
    k=_texts,
    measure=_texts,
)
def test_route_parameters_never_cause_a_server_error(client, route, run, layer, step, classes, k, measure):
    params = {
        name: value
        for name, value in dict(
            run=run, layer=layer, step=step, classes=classes, k=k, measure=measure, runs=run
        ).items()
        if value is not None
    }
    code, answer = client.get(route, **params)
    assert code in (200, 400, 404), (code, answer)


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["op", "axis", "bins", "in", "out", "k", "q", "range"]), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from([*routes_data.DATA_KINDS, "x"]),
    steps=st.one_of(st.none(), st.sampled_from(["all", "last"]), st.integers(-2, 5), st.lists(st.integers(-1, 4))),
    classes=st.one_of(st.none(), st.lists(st.integers(-1, 11), max_size=3)),
    transform=st.lists(_json_values, max_size=3),
)
def test_data_bodies_never_cause_a_server_error(client, kind, steps, classes, transform):
    body = {
        "run": "cnn_small",
        "unit": {"kind": kind, "layer": "conv_1", "variable": "kernel", "unit": "conv_1/kernel", "method": "grad_cam"},
        "steps": steps,
        "classes": classes,
        "transform": transform,
    }
    code, answer = client.post("/data", body)
    assert code in (200, 400, 404), (code, answer)
