"""The callback under Keras' JAX backend logs what it logs under TensorFlow (issue 11, item 5).

The same small CNN (tests/support/backend_training.py) is trained in two subprocesses, KERAS_BACKEND=
tensorflow and KERAS_BACKEND=jax, from the same initial weights on the same batches. Both logs are read back
through the plugin's store and TensorBoard's data provider and compared: the same layers, units and
datasets, the same values at step 0 (same weights: only float rounding differs) and close values after
training (two backends' training steps differ in the last bits). A CNN and a text classifier (token
attributions through the Embedding, attention scores). What JAX cannot compute yet (relevance
propagation, modified gradients, feature visualisations) must be named with a reason, never just missing.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from innspector_tb.format import gradients as gradients_format
from innspector_tb.format import metadata, rounding, stats, step_files
from innspector_tb.store import run_store
from innspector_tb.store.cache import ByteBudgetCache
from tests.support import backend_training, tb_readers

BACKENDS = ("tensorflow", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Both logs hold float32 rounded to 10 mantissa bits: a last-bit difference before rounding can move a
# value by one rounding step.
STEP0_RTOL = 2 * rounding.relative_error_bound(step_files.MANTISSA_BITS)
JAX_REASON = "not available under the JAX backend"
RUNNING_METHODS = {
    backend_training.RUN: (
        "saliency",
        "gradient_x_input",
        "smoothgrad",
        "integrated_gradients",
        "grad_cam",
        "occlusion",
    ),
    backend_training.TEXT_RUN: ("gradient_x_embedding", "integrated_gradients"),
}


def _run(backend, model=backend_training.RUN):
    return "%s/%s" % (backend, model)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("backends"))
    initial = str(tmp_path_factory.mktemp("initial_weights"))
    output = {}
    for backend in BACKENDS:  # tensorflow first: it writes the initial weights the JAX run loads
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
        done = subprocess.run(
            [sys.executable, "-m", "tests.support.backend_training", os.path.join(logdir, backend), initial],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        for model in backend_training.RUNS:
            assert "trained %s under %s" % (model, backend) in done.stdout
        output[backend] = done.stdout + done.stderr
    with tb_readers.data_provider(logdir, "python") as provider:
        store = run_store.RunStore(provider, logdir, ByteBudgetCache(1 << 26)).bind(tb_readers.CTX, "")
        tb_readers.wait_for(
            provider,
            lambda p: all(
                sorted(store.manifests(_run(b, m))) == list(range(backend_training.EPOCHS + 1))
                for b in BACKENDS
                for m in backend_training.RUNS
            ),
        )
        yield store, provider, output


def _datasets(store, backend, step, model):
    return set(store.manifests(_run(backend, model))[step]["datasets"])


def _skipped(store, backend, step, model):
    """{method: reason} of the attribution methods the step's file says were skipped."""
    path = store.step_file_path(_run(backend, model), step)
    with step_files.open_file(path) as f:
        return json.loads(f["attributions"].attrs["skipped"]) if "attributions" in f else {}


def _explained(name, skipped):
    """Whether a dataset only the TensorFlow log has is one of the skipped methods' (maps or deletion curves)."""
    parts = name.split("/")
    if parts[0] == "attributions":
        method = parts[2] if parts[1] == "deletion" else parts[1]
        return JAX_REASON in skipped.get(method, "")
    return False


@pytest.mark.slow
@pytest.mark.parametrize("model", backend_training.RUNS)
def test_same_layers_units_and_architecture(logs, model):
    store, _, _ = logs
    tf_arch, jax_arch = (store.architecture(_run(b, model)) for b in BACKENDS)
    assert [layer["id"] for layer in tf_arch["layers"]] == [layer["id"] for layer in jax_arch["layers"]]
    assert [layer.get("output_shapes") for layer in tf_arch["layers"]] == [
        layer.get("output_shapes") for layer in jax_arch["layers"]
    ]
    tf_stats, jax_stats = (store.unit_stats(_run(b, model)) for b in BACKENDS)
    assert sorted(tf_stats) == sorted(jax_stats) and any(u.endswith("/activations") for u in tf_stats)


@pytest.mark.slow
@pytest.mark.parametrize("model", backend_training.RUNS)
def test_jax_drops_nothing_without_a_reason(logs, model):
    store, provider, output = logs
    for step in range(backend_training.EPOCHS + 1):
        tf_names, jax_names = _datasets(store, "tensorflow", step, model), _datasets(store, "jax", step, model)
        assert jax_names <= tf_names, (step, sorted(jax_names - tf_names))
        skipped = _skipped(store, "jax", step, model)
        unexplained = sorted(
            n
            for n in tf_names - jax_names
            if not _explained(n, skipped) and not n.startswith("feature_visualisations/")
        )
        assert not unexplained, (step, unexplained)
        # The gradient attribution methods and occlusion (token methods for the text model) run under JAX.
        for method in RUNNING_METHODS[model]:
            assert "attributions/%s/predicted" % method in jax_names, (step, method)
    if model == backend_training.RUN:
        # Feature visualisations are the one kind not in a step's attrs: the log says why, once.
        last = _datasets(store, "tensorflow", backend_training.EPOCHS, model)
        assert any(n.startswith("feature_visualisations/") for n in last)
        assert "feature visualisation is not available under the JAX backend" in output["jax"]
    else:
        assert any(n.endswith("/attention_scores") for n in _datasets(store, "jax", 0, model))
    tags = {
        b: set(tb_readers.read_all(provider, _run(b, model))) - {metadata.RUNTIME_TAG}  # timings of each machine
        for b in BACKENDS
    }
    assert tags["tensorflow"] == tags["jax"]
    assert any(t.startswith("innspector/gradients/") for t in tags["jax"])


@pytest.mark.slow
@pytest.mark.parametrize("model", backend_training.RUNS)
def test_step0_values_equal_and_trained_values_close(logs, model):
    store, _, _ = logs
    for step in range(backend_training.EPOCHS + 1):
        compared = 0
        for name in sorted(_datasets(store, "jax", step, model)):
            tf_value = store.read(_run("tensorflow", model), step, name)
            jax_value = store.read(_run("jax", model), step, name)
            assert tf_value.shape == jax_value.shape, name
            if tf_value.dtype.kind != "f":
                np.testing.assert_array_equal(tf_value, jax_value, err_msg=name)
                continue
            # Step 0: the same weights. Later: two backends' training, a few float32 steps apart.
            rtol, atol = (STEP0_RTOL, 1e-5) if step == 0 else (1e-3, 1e-4)
            np.testing.assert_allclose(jax_value, tf_value, rtol=rtol, atol=atol, err_msg="%s at %d" % (name, step))
            compared += 1
        assert compared > 20, step


def _rounding_noise(tag, value):
    """Statistics or a histogram of values that are all float rounding noise around 0 (an attention key's
    bias: the softmax ignores it, its gradient is 0 up to rounding): their shape says nothing to compare."""
    if tag.startswith(metadata.STATS_TAG_PREFIX):
        fields = stats.as_dict(value)
        return max(abs(fields["min"]), abs(fields["max"])) < 1e-9
    if tag.startswith(metadata.HISTOGRAM_TAG_PREFIX):
        return float(np.max(np.abs(value[:, :2]))) < 1e-9
    if tag.startswith(gradients_format.GRADIENT_TAG_PREFIX):  # weight norm and update ratio of such a variable
        return dict(zip(gradients_format.GRADIENT_FIELDS, value, strict=False))["weight_norm"] < 1e-9
    return False


@pytest.mark.slow
@pytest.mark.parametrize("model", backend_training.RUNS)
def test_event_file_summaries_agree(logs, model):
    """Unit statistics, histograms, class means and gradient norms as TensorBoard reads them."""
    _, provider, _ = logs
    data = {b: tb_readers.read_all(provider, _run(b, model)) for b in BACKENDS}
    prefixes = (
        metadata.STATS_TAG_PREFIX,
        metadata.HISTOGRAM_TAG_PREFIX,
        metadata.CLASS_MEANS_TAG_PREFIX,
        "innspector/gradients/",
    )
    checked = 0
    for tag, series in data["tensorflow"].items():
        if not tag.startswith(prefixes):
            continue
        other = data["jax"][tag]
        assert [d.step for d in series] == [d.step for d in other], tag
        for a, b in zip(series, other, strict=True):
            if a.step > 0 and _rounding_noise(tag, a.numpy):
                continue
            # Step 0 too is loose for the shape statistics: the skewness of near-constant units (an untrained
            # softmax: std 1e-3 around 1/3) comes from float32 sums with cancellation, in either backend.
            tol = (1e-3, 1e-5) if a.step == 0 else (2e-3, 1e-4)
            np.testing.assert_allclose(b.numpy, a.numpy, rtol=tol[0], atol=tol[1], err_msg="%s at %d" % (tag, a.step))
            checked += 1
    assert checked > 30
