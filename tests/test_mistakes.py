"""Mistake neurons (innspector_tb.analysis.mistakes), reducing reliance (innspector_tb.capture.reliance) and the
mistakes route.

A real model with a planted spurious feature: demo's spurious_dense, trained on digits whose
training 3s carry a bright corner marker that the clean test (probe) images lack.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py
import keras
import numpy as np
import pytest

from demo import data as demo_data
from demo import train as demo_train
from innspector_tb.analysis import mistakes
from innspector_tb.capture import (
    architecture,
    reliance,
)
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import headers, rounding, step_files
from innspector_tb.server import openapi
from tests.support import openapi_check
from tests.support.backend_app import Client

MARKER = demo_data.MARKER_CLASS


def per_class_accuracy(model, x, y):
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    return np.array([np.mean(predicted[y == c] == c) for c in range(10)]), float(np.mean(predicted == y))


@pytest.fixture(scope="module")
def spurious(tmp_path_factory):
    """The demo's spurious-feature experiment at full size (12 epochs, the whole clean test set as probe)."""
    logdir = str(tmp_path_factory.mktemp("spurious"))
    models = {}
    heads = demo_train.train_all(logdir, epochs=12, only=[demo_train.SPURIOUS], verbose=False, models=models)
    parent, child = models["spurious_dense"], models["spurious_mitigated"]
    read, labels, step = step_files.run_dir_reader(os.path.join(logdir, "spurious_dense"))
    answer = mistakes.analyse(architecture.extract_architecture(parent), read, labels, cls=MARKER)
    with h5py.File(os.path.join(logdir, "spurious_dense", step_files.SAMPLES_FILE), "r") as f:
        probe_x = f["data_samples/x"][()]
    features = np.asarray(read("layers/dense_hidden/activations"), dtype=np.float64)
    return {
        "logdir": logdir,
        "heads": {h["name"]: h for h in heads},
        "parent": parent,
        "child": child,
        "answer": answer,
        "labels": labels,
        "step": step,
        "probe_x": probe_x,
        "features": features,
        "data": demo_data.spurious_digits(),
    }


# ------------------------------------------------------------------ the planted feature is there


@pytest.mark.slow
def test_the_parent_fails_on_clean_threes(spurious):
    _, _, _, _, x_test, y_test = spurious["data"]
    accuracy, overall = per_class_accuracy(spurious["parent"], x_test, y_test)
    assert accuracy[MARKER] < 0.2 and overall > 0.8
    # The finder's mistakes are the probe's misclassified 3s, from the logged predictions.
    predicted = np.argmax(spurious["parent"].predict(spurious["probe_x"], verbose=0), axis=1)
    labels = spurious["labels"]
    assert spurious["answer"]["mistake_samples"] == [
        int(i) for i in np.flatnonzero((labels == MARKER) & (predicted != labels))
    ]
    assert spurious["answer"]["samples"] == int(np.sum(labels == MARKER))


# ------------------------------------------------------------------ the finder


def marker_carriers(model, x_clean, k):
    """Ground truth: the feature neurons whose activation the marker raises most on clean 3s."""
    extractor = keras.Model(model.inputs, model.get_layer("dense_hidden").output)
    marked = extractor.predict(demo_data.add_marker(x_clean), verbose=0)
    clean = extractor.predict(x_clean, verbose=0)
    response = (marked - clean).mean(axis=0)
    return list(np.argsort(-response)[:k]), response


@pytest.mark.slow
def test_finder_names_the_neurons_that_carry_the_marker(spurious):
    answer = spurious["answer"]
    assert answer["decision_layer"] == "classifier" and answer["feature_layer"] == "dense_hidden"
    assert answer["class"] == MARKER and answer["features"] == 32 and answer["classes"] == 10
    _, _, _, _, x_test, y_test = spurious["data"]
    carriers, response = marker_carriers(spurious["parent"], x_test[y_test == MARKER], k=8)
    increase = [n["index"] for n in answer["neurons"] if n["direction"] == "increase"][:5]
    assert len(increase) == 5
    # The counterfactuals ask for more of the marker: the neurons they raise are its carriers.
    assert increase[0] in carriers[:5]
    assert len(set(increase) & set(carriers)) >= 3, (increase, carriers)
    assert response[increase].mean() > 2 * max(response.mean(), 0), (response[increase], response.mean())
    # Shares and votes agree; every listed neuron was voted in more than 3% of the mistakes.
    for neuron in answer["neurons"]:
        assert neuron["share"] == pytest.approx(neuron["votes"] / answer["mistakes"])
        assert neuron["share"] > mistakes.MIN_SHARE
        assert (neuron["mean_edit"] > 0) == (neuron["direction"] == "increase")
    votes = [n["votes"] for n in answer["neurons"]]
    assert votes == sorted(votes, reverse=True)


@pytest.mark.slow
def test_counterfactual_edits_flip_most_mistakes(spurious):
    answer = spurious["answer"]
    assert answer["mistakes"] >= 10 and answer["solved"] >= 0.9 * answer["mistakes"]
    wrong = np.array(answer["mistake_samples"])
    assert np.all(spurious["labels"][wrong] == MARKER)
    f = spurious["features"][wrong]
    layer = spurious["parent"].get_layer("classifier")
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    edits, solved, iterations = mistakes.counterfactual_edits(f, kernel, bias, np.full(len(wrong), MARKER))
    assert int(solved.sum()) == answer["solved"]
    # The model's own decision layer, on the edited features, now says 3; before, it did not.
    before = np.argmax(np.asarray(layer(f.astype(np.float32))), axis=1)
    after = np.argmax(np.asarray(layer((f + edits).astype(np.float32))), axis=1)
    assert np.all(before != MARKER)
    assert np.mean(after == MARKER) >= 0.9
    # Edits are small next to the features and stop as soon as the class wins.
    assert np.abs(edits).sum(axis=1).mean() < np.abs(f).sum(axis=1).mean()
    assert iterations.max() < mistakes.DEFAULT_MAX_ITERATIONS
    # Deterministic.
    again = mistakes.counterfactual_edits(f, kernel, bias, np.full(len(wrong), MARKER))[0]
    assert np.array_equal(edits, again)


@pytest.mark.slow
def test_importance_ratio_matches_a_direct_computation(spurious):
    answer = spurious["answer"]
    model = spurious["parent"]
    extractor = keras.Model(model.inputs, model.get_layer("dense_hidden").output)
    mean = extractor.predict(spurious["probe_x"][spurious["labels"] == MARKER], verbose=0).mean(axis=0)
    decide = model.get_layer("classifier")
    p_full = float(np.asarray(decide(mean[None]))[0, MARKER])
    direct = {}
    for i in range(mean.size):
        zeroed = mean.copy()
        zeroed[i] = 0.0
        direct[i] = p_full / float(np.asarray(decide(zeroed[None]))[0, MARKER])
    assert len(answer["importance"]) == mistakes.TOP_IMPORTANCE
    for entry in answer["importance"]:
        assert entry["ratio"] == pytest.approx(direct[entry["index"]], rel=1e-3)
    assert [e["index"] for e in answer["importance"]] == sorted(direct, key=lambda i: -direct[i])[:10]
    for neuron in answer["neurons"]:
        assert neuron["importance_ratio"] == pytest.approx(direct[neuron["index"]], rel=1e-3)


# ------------------------------------------------------------------ the finder on hand-made arrays


def test_vote_counts_the_largest_and_most_negative_entries():
    edits = np.zeros((40, 12))
    edits[:, 0] = 3.0  # every edit increases neuron 0
    edits[:20, 1] = -2.0  # half decrease neuron 1
    edits[0, 2] = 1.0  # one edit of 40 (2.5% <= 3%): not reported
    edits[:2, 3] = 0.5  # two of 40 (5%): reported
    found = {(n["index"], n["direction"]): n for n in mistakes.vote(edits)}
    assert set(found) == {(0, "increase"), (1, "decrease"), (3, "increase")}
    assert found[(0, "increase")]["share"] == 1.0 and found[(1, "decrease")]["votes"] == 20
    assert found[(3, "increase")]["share"] == 0.05
    # Only the 5 largest per direction vote.
    many = np.tile(np.arange(1.0, 13.0), (10, 1))
    assert sorted(n["index"] for n in mistakes.vote(many)) == [7, 8, 9, 10, 11]


def test_l1_weight_makes_edits_sparser():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(50, 4))
    features = np.abs(rng.normal(size=(30, 50)))
    targets = np.argmin(features @ kernel, axis=1)  # the least likely class: hard flips
    dense, solved_dense, _ = mistakes.counterfactual_edits(features, kernel, np.zeros(4), targets, alpha=0.0)
    sparse, solved_sparse, _ = mistakes.counterfactual_edits(features, kernel, np.zeros(4), targets, alpha=20.0)
    assert solved_dense.all() and solved_sparse.mean() > 0.9
    assert np.mean(sparse == 0) > np.mean(dense == 0) + 0.2


def test_no_mistakes_is_an_answer_not_an_error():
    features = np.eye(3)
    labels = np.array([0, 1, 2])
    answer = mistakes.find_mistake_neurons(features, labels, labels, np.eye(3), np.zeros(3), cls=1)
    assert answer["mistakes"] == 0 and answer["neurons"] == [] and "no misclassified" in answer["note"]
    with pytest.raises(mistakes.MistakeError, match="not one of"):
        mistakes.find_mistake_neurons(features, labels, labels, np.eye(3), np.zeros(3), cls=3)


def test_decision_layer_of_architectures():
    image = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(6, activation="relu", name="hidden")(image)
    logits = keras.layers.Dense(3, name="logits")(hidden)
    out = keras.layers.Softmax(name="probabilities")(logits)
    arch = architecture.extract_architecture(keras.Model(image, out))
    assert mistakes.decision_layers(arch) == ("logits", "hidden")
    direct = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax", name="d")])
    with pytest.raises(mistakes.MistakeError, match="reads the model's input"):
        mistakes.decision_layers(architecture.extract_architecture(direct))
    regression = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, name="h"), keras.layers.Dense(1, activation="sigmoid", name="out")]
    )
    with pytest.raises(mistakes.MistakeError, match="sigmoid"):
        mistakes.decision_layers(architecture.extract_architecture(regression))


# ------------------------------------------------------------------ reducing reliance


@pytest.mark.slow
def test_reducing_reliance_improves_the_worst_class(spurious):
    x_train, y_train, x_val, y_val, x_test, y_test = spurious["data"]
    parent_accuracy, parent_overall = per_class_accuracy(spurious["parent"], x_test, y_test)
    child_accuracy, child_overall = per_class_accuracy(spurious["child"], x_test, y_test)
    assert np.argmin(parent_accuracy) == MARKER
    assert child_accuracy.min() >= parent_accuracy.min() + 0.3, (parent_accuracy, child_accuracy)
    assert child_accuracy[MARKER] >= parent_accuracy[MARKER] + 0.5
    assert child_overall >= parent_overall - 0.01
    # The reliance term does it: retraining the same decision layer on crossentropy alone does not.
    chosen = demo_train.Mitigation("spurious_dense", MARKER).neurons(spurious["answer"])
    control = reliance.reduce_reliance(
        spurious["parent"], "classifier", chosen, MARKER, (x_train, y_train), (x_val, y_val), lam=0.0
    )
    control_accuracy, _ = per_class_accuracy(control, x_test, y_test)
    assert control_accuracy[MARKER] < child_accuracy[MARKER] - 0.3, (control_accuracy, child_accuracy)
    assert spurious["heads"]["spurious_mitigated"]["parents"] == [spurious["heads"]["spurious_dense"]["id"]]


@pytest.mark.slow
def test_only_the_decision_layer_changes_and_the_parent_is_untouched(spurious):
    parent, child = spurious["parent"], spurious["child"]
    for p_layer, c_layer in zip(parent.layers, child.layers, strict=True):
        same = all(np.array_equal(a, b) for a, b in zip(p_layer.get_weights(), c_layer.get_weights(), strict=True))
        assert same == (p_layer.name != "classifier"), p_layer.name
    # The parent still is what its last logged step says.
    read, _, _ = step_files.run_dir_reader(os.path.join(spurious["logdir"], "spurious_dense"))
    stored = read("layers/classifier/weights/kernel")  # rounded to 10 mantissa bits, the default precision
    assert np.array_equal(stored, rounding.round_mantissa(parent.get_layer("classifier").kernel.numpy()))


@pytest.mark.slow
def test_the_child_is_logged_as_a_branch_ending_at_the_returned_weights(spurious):
    run_dir = os.path.join(spurious["logdir"], "spurious_mitigated")
    # Step 0 is the start (the parent's weights); the kept epochs continue the parent's steps.
    parent_last = spurious["step"]
    steps = sorted(step_files.list_step_files(run_dir))
    assert steps[0] == 0 and len(steps) >= 2
    assert steps[1:] == list(range(parent_last + 1, parent_last + len(steps)))
    read, labels, last = step_files.run_dir_reader(run_dir)
    kernel = spurious["child"].get_layer("classifier").kernel.numpy()
    assert np.array_equal(read("layers/classifier/weights/kernel"), rounding.round_mantissa(kernel))
    first, _, _ = step_files.run_dir_reader(run_dir, step=0)
    assert np.array_equal(
        first("layers/classifier/weights/kernel"),
        rounding.round_mantissa(spurious["parent"].get_layer("classifier").kernel.numpy()),
    )
    # The child's probe mistakes of class 3 are far fewer than the parent's.
    child_answer = mistakes.analyse(architecture.extract_architecture(spurious["child"]), read, labels, cls=MARKER)
    assert child_answer["mistakes"] <= spurious["answer"]["mistakes"] // 2


@pytest.mark.slow
def test_reduce_reliance_refuses_what_it_cannot_do(spurious):
    x_train, y_train, x_val, y_val, _, _ = spurious["data"]
    parent = spurious["parent"]
    with pytest.raises(reliance.RelianceError, match="no layer"):
        reliance.reduce_reliance(parent, "nope", [1], MARKER, (x_train, y_train), (x_val, y_val))
    with pytest.raises(reliance.RelianceError, match="must be Dense"):
        reliance.reduce_reliance(parent, "flatten", [1], MARKER, (x_train, y_train), (x_val, y_val))
    with pytest.raises(reliance.RelianceError, match="relu activation"):
        reliance.reduce_reliance(parent, "dense_hidden", [1], MARKER, (x_train, y_train), (x_val, y_val))
    with pytest.raises(reliance.RelianceError, match="no neurons"):
        reliance.reduce_reliance(parent, "classifier", [], MARKER, (x_train, y_train), (x_val, y_val))
    with pytest.raises(reliance.RelianceError, match="not one of the 32"):
        reliance.reduce_reliance(parent, "classifier", [32], MARKER, (x_train, y_train), (x_val, y_val))
    with pytest.raises(reliance.RelianceError, match="header"):
        reliance.reduce_reliance(
            parent,
            "classifier",
            [1],
            MARKER,
            (x_train, y_train),
            (x_val, y_val),
            epochs=1,
            log_dir=os.path.join(spurious["logdir"], "unnamed"),
        )


# ------------------------------------------------------------------ the route, on the demo logs


@pytest.fixture(scope="module")
def client(demo_logs):
    return Client(demo_logs[0])


def _ok(client, **params):
    status, answer = client.get("/mistakes", **params)
    assert status == 200, answer
    problems = openapi_check.validate(answer, openapi.ROUTES["/mistakes"]["schema"])
    assert problems == [], problems
    return answer


@pytest.mark.slow
def test_route_answers_what_the_demo_computed(client, demo_logs):
    answer = _ok(client, run="spurious_dense", **{"class": str(MARKER)})
    assert answer["run"] == "spurious_dense" and answer["class"] == MARKER
    assert answer["decision_layer"] == "classifier" and answer["feature_layer"] == "dense_hidden"
    assert answer["mistakes"] >= 1 and answer["solved"] == answer["mistakes"]
    assert answer["parameters"]["alpha"] == mistakes.DEFAULT_ALPHA
    assert answer["parameters"]["beta"] == mistakes.DEFAULT_BETA
    # The same function over the run directory (as the demo calls it) gives the same answer.
    run_dir = os.path.join(demo_logs[0], "spurious_dense")
    read, labels, step = step_files.run_dir_reader(run_dir)
    arch = client.get("/graph", run="spurious_dense")[1]["architecture"]
    direct = mistakes.analyse(arch, read, labels, cls=MARKER)
    assert answer["step"] == step
    assert answer["neurons"] == direct["neurons"] and answer["mistake_samples"] == direct["mistake_samples"]
    # All classes: every misclassified probe sample.
    everything = _ok(client, run="spurious_dense")
    with h5py.File(os.path.join(run_dir, step_files.step_file(step)), "r") as f:
        predicted = np.argmax(f["data_samples/y_prediction"][()], axis=1)
    assert everything["class"] is None
    assert everything["mistake_samples"] == [int(i) for i in np.flatnonzero(predicted != labels)]
    # Parameters change the answer (a huge L1 weight stops most flips).
    strict = _ok(client, run="spurious_dense", alpha="1000", iterations="50")
    assert strict["parameters"]["alpha"] == 1000.0 and strict["solved"] < everything["solved"]


@pytest.mark.slow
def test_route_class_without_mistakes_is_an_empty_answer(client):
    counts = {c: _ok(client, run="spurious_dense", **{"class": str(c)})["mistakes"] for c in range(10)}
    clean = [c for c, n in counts.items() if n == 0]
    assert clean, counts
    answer = _ok(client, run="spurious_dense", **{"class": str(clean[0])})
    assert answer["neurons"] == [] and answer["importance"] == [] and answer["solved"] == 0
    assert "no misclassified" in answer["note"]


@pytest.mark.slow
def test_tree_shows_the_mitigated_child_beside_its_parent(client, demo_logs):
    heads = {h["name"]: h for h in demo_logs[1]}
    status, tree = client.get("/tree")
    assert status == 200
    [edge] = [e for e in tree["edges"] if e["to"] == heads["spurious_mitigated"]["id"]]
    assert edge["from"] == heads["spurious_dense"]["id"]
    assert edge["diff"]["changed"] == [] and edge["param_change"] == 0.0  # the same architecture
    [experiment] = [e for e in tree["experiments"] if heads["spurious_dense"]["id"] in e["models"]]
    assert sorted(experiment["runs"]) == ["spurious_dense", "spurious_mitigated"]
    status, metrics = client.get("/metrics", runs="spurious_dense,spurious_mitigated")
    assert status == 200
    child = metrics["runs"]["spurious_mitigated"]["series"]
    assert {"loss", "accuracy", "val_accuracy", "val_loss", "reliance_ratio"} <= set(child)
    status, graph = client.get("/graph", run="spurious_mitigated")
    assert status == 200
    status, models = client.get("/models")
    child_model = next(m for m in models["models"] if m["run"] == "spurious_mitigated")
    settings = child_model["hparams"]["reduce_reliance"]
    assert settings["class"] == MARKER and settings["neurons"] and settings["lambda"] == reliance.DEFAULT_LAMBDA


@pytest.mark.slow
@pytest.mark.parametrize(
    "params, status, words",
    [
        ({"run": "nope"}, 404, "no run"),
        ({"run": "spurious_dense", "step": "999"}, 404, "no step"),
        ({"run": "spurious_dense", "class": "10"}, 400, "not one of"),
        ({"run": "spurious_dense", "class": "three"}, 400, "'class' must be an integer"),
        ({"run": "spurious_dense", "alpha": "-1"}, 400, "'alpha'"),
        ({"run": "spurious_dense", "beta": "nan"}, 400, "'beta'"),
        ({"run": "spurious_dense", "iterations": "0"}, 400, "'iterations'"),
        ({"run": "vae_fixed"}, 400, "not Dense"),
        ({"run": "vae_careless", "class": "1"}, 400, "classifier"),
    ],
)
def test_route_bad_requests(client, params, status, words):
    got, answer = client.get("/mistakes", **params)
    assert got == status, answer
    assert words in answer["error"], answer


@pytest.fixture(scope="module")
def incomplete_logs(tmp_path_factory):
    """A classifier logged without predictions, and one whose probe has no labels."""
    logdir = str(tmp_path_factory.mktemp("incomplete"))
    x, y, _, _ = demo_data.digits()
    x, y = x[:64], y[:64]
    for name, kwargs in (
        ("no_predictions", {"probe": (x, y), "log": ("weights", "activations", "samples")}),
        ("no_labels", {"probe": x}),
    ):
        model = demo_train.models.compile_classifier(demo_train.models.dense_baseline())
        callback = InnspectorCallback(os.path.join(logdir, name), headers.header(name), **kwargs)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    return logdir


def test_route_without_predictions_or_labels_is_404(incomplete_logs):
    client = Client(incomplete_logs)
    status, answer = client.get("/mistakes", run="no_predictions")
    assert status == 404 and "no predictions" in answer["error"], answer
    status, answer = client.get("/mistakes", run="no_labels")
    assert status == 404 and "no class labels" in answer["error"], answer
