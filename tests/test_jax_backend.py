"""The callback under Keras' JAX backend logs what it logs under TensorFlow (issue 11, item 5).

The same small CNN (tests/support/backend_training.py) is trained in two subprocesses, KERAS_BACKEND=
tensorflow and KERAS_BACKEND=jax, from the same initial weights on the same batches. Both logs are read back
through the plugin's store and TensorBoard's data provider and compared: the same layers, units and
datasets, the same values at step 0 (same weights: only float rounding differs) and close values after
training (two backends' training steps differ in the last bits). What JAX cannot compute yet (relevance
propagation, modified gradients, feature visualisations) must be named with a reason, never just missing.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from innspector_tb.format import metadata, rounding, step_files
from innspector_tb.store import run_store
from innspector_tb.store.cache import ByteBudgetCache
from tests.support import backend_training, tb_readers

BACKENDS = ("tensorflow", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Both logs hold float32 rounded to 10 mantissa bits: a last-bit difference before rounding can move a
# value by one rounding step.
STEP0_RTOL = 2 * rounding.relative_error_bound(step_files.MANTISSA_BITS)
JAX_REASON = "not available under the JAX backend"


def _run(backend):
    return "%s/%s" % (backend, backend_training.RUN)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("backends"))
    initial = os.path.join(logdir, "initial.weights.h5")
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
        assert "trained under %s" % backend in done.stdout
        output[backend] = done.stdout + done.stderr
    with tb_readers.data_provider(logdir, "python") as provider:
        store = run_store.RunStore(provider, logdir, ByteBudgetCache(1 << 26)).bind(tb_readers.CTX, "")
        tb_readers.wait_for(
            provider,
            lambda p: all(
                sorted(store.manifests(_run(b))) == list(range(backend_training.EPOCHS + 1)) for b in BACKENDS
            ),
        )
        yield store, provider, output


def _datasets(store, backend, step):
    return set(store.manifests(_run(backend))[step]["datasets"])


def _skipped(store, backend, step):
    """{method: reason} of the attribution methods the step's file says were skipped."""
    path = store.step_file_path(_run(backend), step)
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
def test_same_layers_units_and_architecture(logs):
    store, _, _ = logs
    tf_arch, jax_arch = (store.architecture(_run(b)) for b in BACKENDS)
    assert [layer["id"] for layer in tf_arch["layers"]] == [layer["id"] for layer in jax_arch["layers"]]
    assert [layer.get("output_shapes") for layer in tf_arch["layers"]] == [
        layer.get("output_shapes") for layer in jax_arch["layers"]
    ]
    tf_stats, jax_stats = (store.unit_stats(_run(b)) for b in BACKENDS)
    assert sorted(tf_stats) == sorted(jax_stats) and any(u.endswith("/activations") for u in tf_stats)


@pytest.mark.slow
def test_jax_drops_nothing_without_a_reason(logs):
    store, provider, output = logs
    for step in range(backend_training.EPOCHS + 1):
        tf_names, jax_names = _datasets(store, "tensorflow", step), _datasets(store, "jax", step)
        assert jax_names <= tf_names, (step, sorted(jax_names - tf_names))
        skipped = _skipped(store, "jax", step)
        unexplained = sorted(
            n
            for n in tf_names - jax_names
            if not _explained(n, skipped) and not n.startswith("feature_visualisations/")
        )
        assert not unexplained, (step, unexplained)
        # The gradient attribution methods and occlusion run under JAX.
        for method in ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion"):
            assert "attributions/%s/predicted" % method in jax_names, (step, method)
    # Feature visualisations are the one kind not in a step's attrs: the log says why, once.
    assert any(n.startswith("feature_visualisations/") for n in _datasets(store, "tensorflow", backend_training.EPOCHS))
    assert "feature visualisation is not available under the JAX backend" in output["jax"]
    tags = {
        b: set(tb_readers.read_all(provider, _run(b))) - {metadata.RUNTIME_TAG}  # runtime: timings of each machine
        for b in BACKENDS
    }
    assert tags["tensorflow"] == tags["jax"]
    assert any(t.startswith("innspector/gradients/") for t in tags["jax"])


@pytest.mark.slow
def test_step0_values_equal_and_trained_values_close(logs):
    store, _, _ = logs
    for step in range(backend_training.EPOCHS + 1):
        compared = 0
        for name in sorted(_datasets(store, "jax", step)):
            tf_value = store.read(_run("tensorflow"), step, name)
            jax_value = store.read(_run("jax"), step, name)
            assert tf_value.shape == jax_value.shape, name
            if tf_value.dtype.kind != "f":
                np.testing.assert_array_equal(tf_value, jax_value, err_msg=name)
                continue
            # Step 0: the same weights. Later: two backends' training, a few float32 steps apart.
            rtol, atol = (STEP0_RTOL, 1e-5) if step == 0 else (1e-3, 1e-4)
            np.testing.assert_allclose(jax_value, tf_value, rtol=rtol, atol=atol, err_msg="%s at %d" % (name, step))
            compared += 1
        assert compared > 30, step


@pytest.mark.slow
def test_event_file_summaries_agree(logs):
    """Unit statistics, histograms, class means and gradient norms as TensorBoard reads them."""
    _, provider, _ = logs
    data = {b: tb_readers.read_all(provider, _run(b)) for b in BACKENDS}
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
            tol = (1e-4, 1e-5) if a.step == 0 else (2e-3, 1e-4)
            np.testing.assert_allclose(b.numpy, a.numpy, rtol=tol[0], atol=tol[1], err_msg="%s at %d" % (tag, a.step))
            checked += 1
    assert checked > 50
