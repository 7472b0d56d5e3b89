"""Token attributions of text classifiers (capture/token_attribution.py) and the probe's vocabulary.

The maps are checked against the models' own layers called here (the embedding, the rest of the model,
the last Dense without its softmax), the deletion baseline against a zero embedding, and a BiLSTM trained
on the demo's token task (demo/text.py) against what it must look at: the cue and the answer after it.
"""

import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from demo import text as text_lib
from innspector_tb import errors
from innspector_tb.capture import token_attribution
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import metadata, rounding, step_files
from innspector_tb.format import vocabulary as vocabulary_lib
from tests.support.backend_app import Client

STORED_RTOL = rounding.relative_error_bound(step_files.MANTISSA_BITS) + 1e-5


def _bilstm_logits(model, embedded):
    """The BiLSTM's class logits from its token embeddings: its layers called here, no softmax."""
    hidden = model.get_layer("bilstm")(embedded)
    dense = model.get_layer("classifier")
    return tf.matmul(hidden, dense.kernel) + dense.bias


def _gradient_x_embedding(model, tokens, classes):
    embedded = model.get_layer("embedding")(tokens)
    with tf.GradientTape() as tape:
        tape.watch(embedded)
        logits = _bilstm_logits(model, embedded)
        picked = tf.reduce_sum(tf.gather(logits, classes[:, None], batch_dims=1))
    return np.asarray(tf.reduce_sum(embedded * tape.gradient(picked, embedded), axis=-1))


@pytest.fixture(scope="module")
def bilstm():
    keras.utils.set_random_seed(1)
    model = text_lib.bilstm_text()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.slow
def test_gradient_x_embedding_and_completeness_against_the_layers(bilstm):
    tokens, _ = text_lib.token_task(12, seed=3)
    attributor = token_attribution.TokenAttributor(bilstm)
    result = attributor(tokens, methods=token_attribution.TOKEN_METHODS, targets="predicted", ig_steps=64)
    classes = result.classes["predicted"]
    expected = _gradient_x_embedding(bilstm, tokens, classes)
    np.testing.assert_allclose(result["gradient_x_embedding"]["predicted"], expected, rtol=1e-4, atol=1e-5)
    # Integrated gradients add up to the logit's change from no tokens (a zero embedding) to the sequence.
    embedded = bilstm.get_layer("embedding")(tokens)
    rows = np.arange(len(tokens))
    full = np.asarray(_bilstm_logits(bilstm, embedded))[rows, classes]
    empty = np.asarray(_bilstm_logits(bilstm, tf.zeros_like(embedded)))[rows, classes]
    np.testing.assert_allclose(result["integrated_gradients"]["predicted"].sum(axis=1), full - empty, atol=2e-3)
    assert not np.allclose(full, empty)
    # DELETED tokens embed to zero: a sequence of them scores as the empty one, and deleting some tokens
    # scores as zeroing their embeddings.
    np.testing.assert_allclose(
        attributor.scores(np.full_like(tokens, token_attribution.DELETED))[rows, classes], empty, atol=1e-5
    )
    partly = tokens.copy()
    partly[:, ::2] = token_attribution.DELETED
    mask = np.ones(embedded.shape[:2] + (1,), np.float32)
    mask[:, ::2] = 0
    expected_partly = np.asarray(_bilstm_logits(bilstm, embedded * mask))[rows, classes]
    np.testing.assert_allclose(attributor.scores(partly)[rows, classes], expected_partly, atol=1e-5)


@pytest.mark.slow
def test_image_methods_are_skipped_and_other_models_refused(bilstm):
    tokens, labels = text_lib.token_task(4, seed=4)
    result = token_attribution.TokenAttributor(bilstm)(tokens, labels, methods=("saliency", "integrated_gradients"))
    assert "through their embedding" in result.skipped["saliency"] and "saliency" not in result
    assert set(result["integrated_gradients"]) == {"predicted", "true"}
    assert result["integrated_gradients"]["true"].shape == tokens.shape
    assert token_attribution.token_classifier_reason(bilstm, labels) is None
    assert "no class labels" in token_attribution.token_classifier_reason(bilstm)
    images = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")])
    assert "not a batch of token sequences" in token_attribution.token_classifier_reason(images, labels)
    assert not token_attribution.takes_tokens(images)
    no_embedding = keras.Sequential([keras.Input((16,)), keras.layers.Dense(3, activation="softmax")])
    assert "no Embedding" in token_attribution.token_classifier_reason(no_embedding, labels)
    with pytest.raises(token_attribution.AttributionError, match="Embedding"):
        token_attribution.TokenAttributor(no_embedding)
    # an Embedding that does not take the input itself (a column of it) is named at construction
    inputs = keras.Input((16,))
    column = keras.layers.Lambda(lambda t: t[:, :4])(inputs)
    embedded = keras.layers.Flatten()(keras.layers.Embedding(40, 4)(column))
    sliced = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(embedded))
    with pytest.raises(token_attribution.AttributionError, match="takes the token input itself"):
        token_attribution.TokenAttributor(sliced)


def test_vocabulary_is_checked_on_both_sides():
    assert vocabulary_lib.check(("a", "b")) == ["a", "b"]
    for bad, reason in (
        ("abc", "a list of token strings"),
        ([1, 2], "token 0 is a int"),
        (["x" * 300], "300 characters"),
        ([""] * (vocabulary_lib.MAX_TOKENS + 1), "at most"),
    ):
        with pytest.raises(vocabulary_lib.VocabularyError, match=reason):
            vocabulary_lib.check(bad)
    with pytest.raises(errors.ConfigurationError, match="token 1 is a"):
        InnspectorCallback("/tmp/unused-innspector-log", vocabulary=["a", None])


@pytest.fixture(scope="module")
def trained_bilstm(tmp_path_factory):
    """The demo's BiLSTM trained on its token task with the callback, the vocabulary logged."""
    logdir = str(tmp_path_factory.mktemp("text"))
    keras.utils.set_random_seed(0)
    x, y, x_test, y_test = text_lib.split()
    model = text_lib.bilstm_text()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = InnspectorCallback(
        os.path.join(logdir, "bilstm"),
        probe=(x_test, y_test),
        probe_size=128,
        class_names=text_lib.CLASS_NAMES,
        vocabulary=text_lib.VOCABULARY,
        time_budget=None,
    )
    history = model.fit(
        x, y, validation_data=(x_test, y_test), epochs=10, batch_size=32, verbose=0, callbacks=[callback]
    )
    return logdir, model, history.history["val_accuracy"][-1]


def _served(client, method):
    body = {"run": "bilstm", "unit": {"kind": "attributions", "method": method, "target": "predicted"}}
    status, answer = client.post("/data", {**body, "steps": "last"})
    assert status == 200, answer
    value = answer["result"]["value"]
    maps = np.asarray(value["data"], dtype=np.float32).reshape(value["shape"])
    return answer, maps, np.asarray(answer["result"]["sample"]["data"]), np.asarray(answer["result"]["target"]["data"])


def _probe(logdir):
    with step_files.open_file(os.path.join(logdir, "bilstm", step_files.SAMPLES_FILE)) as f:
        return f["data_samples/x"][()], f["data_samples/y_label"][()]


@pytest.mark.slow
def test_a_trained_text_classifier_attributes_the_cue_and_its_answer(trained_bilstm):
    logdir, model, accuracy = trained_bilstm
    assert accuracy > 0.9, "the BiLSTM solves the task (as in the demo)"
    client = Client(logdir)
    (entry,) = client.get("/models")[1]["models"]
    assert entry["attributions"]["methods"] == ["integrated_gradients", "gradient_x_embedding"]
    assert entry["vocabulary_size"] == len(text_lib.VOCABULARY)
    status, vocabulary = client.get("/vocabulary", run="bilstm")
    assert status == 200 and vocabulary["tokens"] == text_lib.VOCABULARY

    x, labels = _probe(logdir)
    answer, ig, sample, target = _served(client, "integrated_gradients")
    assert ig.shape == (32, text_lib.MAXLEN)
    tokens = x[sample]
    # The served gradient x embedding is the one the layers give (stored rounded).
    _, gxe, gxe_sample, gxe_target = _served(client, "gradient_x_embedding")
    assert (gxe_sample == sample).all() and (gxe_target == target).all()
    expected = _gradient_x_embedding(model, tokens, target.astype(np.int32))
    np.testing.assert_allclose(gxe, expected, rtol=STORED_RTOL, atol=1e-4 * np.abs(expected).max())
    # The model must look at the cue and the token after it: the strongest token of a sample is one of them.
    right = target == labels[sample]
    cue = np.argmax(tokens == text_lib.CUE, axis=1)
    strongest = np.argmax(np.abs(ig), axis=1)
    at_cue = (strongest == cue) | (strongest == cue + 1)
    assert right.sum() >= 24 and at_cue[right].mean() >= 0.8, (strongest, cue)
    # Deleting tokens by integrated gradients' ranking takes the score away faster than a random order.
    curves = {c["method"]: c["model_auc"] for c in answer["attribution"]["deletion"]["curves"]}
    assert curves["integrated_gradients"] < curves["random"] - 0.3, curves


@pytest.mark.slow
def test_a_corrupted_vocabulary_stays_with_its_run(trained_bilstm, tmp_path):
    logdir = str(tmp_path / "logdir")
    shutil.copytree(trained_bilstm[0], logdir)
    bad = os.path.join(logdir, "bad")
    with tf.summary.create_file_writer(bad).as_default():
        manifest = '{"count": 2, "classes": [0], "class_names": ["a"], "vocabulary": [1, "b"]}'
        tf.summary.write(
            metadata.SAMPLES_TAG,
            tf.constant(manifest),
            step=0,
            metadata=metadata.create_summary_metadata(metadata.Kind.SAMPLES),
        )
    client = Client(logdir)
    status, answer = client.get("/vocabulary", run="bad")
    assert status == 400 and "unreadable vocabulary: vocabulary token 0 is a int" in answer["error"]
    assert client.get("/vocabulary", run="bilstm")[0] == 200
    status, models = client.get("/models")
    assert status == 200 and {m["run"] for m in models["models"]} >= {"bilstm", "bad"}
    status, answer = client.get("/vocabulary", run="missing")
    assert status == 404
