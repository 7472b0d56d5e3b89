"""The frontend end to end: headless Chromium on a real TensorBoard serving the demo logs.

Runs the node:test files frontend/e2e/*.e2e.mjs (browser helpers in frontend/e2e/browser.mjs)
against one `tensorboard` process over the demo experiments (trained small). Screenshots land in
test-output/screenshots/. Needs `node` (with frontend/node_modules installed) and Debian's
`chromium` at /usr/bin/chromium; the browser is never downloaded.
"""

import glob
import os
import shutil
import signal
import subprocess

import pytest

from tests.support.tensorboard_server import TensorBoardServer, wait_for_models

# Drives chromium against a real tensorboard over the demo logs (trained at the session's start).
pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
E2E_DIR = os.path.join(REPO, "frontend", "e2e")
SCREENSHOT_DIR = os.path.join(REPO, "test-output", "screenshots")
NODE_TIMEOUT = 600


@pytest.fixture(scope="module")
def tensorboard(demo_logs):
    logdir, headers = demo_logs
    with TensorBoardServer(logdir) as server:
        wait_for_models(server.url, len(headers), server=server)
        yield server


def _e2e_files():
    # Named explicitly: node 20's `--test DIR` only picks *.test.mjs-like names, and would run
    # nothing (and pass) for *.e2e.mjs.
    return sorted(glob.glob(os.path.join(E2E_DIR, "*.e2e.mjs")))


@pytest.fixture(scope="module")
def reduced_tensorboard(tmp_path_factory):
    """A tensorboard over a ResNet-style toy logged with reduced data and the same toy logged in full
    (tests/support/reduced_run.py: written directly, no training)."""
    from tests.support import reduced_run

    logdir = str(tmp_path_factory.mktemp("reduced_e2e"))
    reduced_run.write_logdir(logdir)
    with TensorBoardServer(logdir) as server:
        wait_for_models(server.url, 2, server=server)
        yield server


@pytest.fixture(scope="module")
def planted_tensorboard(tmp_path_factory):
    """A tensorboard over two small models with one planted pathology each (a saturated sigmoid layer, a
    frozen layer), trained briefly with the callback (tests/support/pathology_models.py)."""
    import keras

    from tests.support import pathology_models as pm

    logdir = str(tmp_path_factory.mktemp("abnormal_e2e"))
    x, y = pm.features()
    validation = pm.features(128, seed=1)
    keras.utils.set_random_seed(0)
    saturated = keras.layers.Dense(
        32, activation="sigmoid", bias_initializer=keras.initializers.Constant(8.0), name="culprit"
    )
    pm.train(logdir, "sigmoid", pm.dense_model(saturated), x, y, validation=validation)
    frozen = keras.layers.Dense(32, activation="relu", trainable=False, name="culprit")
    pm.train(logdir, "frozen", pm.dense_model(frozen), x, y, validation=validation)
    with TensorBoardServer(logdir) as server:
        wait_for_models(server.url, 2, server=server)
        yield server


@pytest.fixture(scope="module")
def traced_tensorboard(tmp_path_factory):
    """A tensorboard over the keras.io VAE and transformer (tests/support/keras_io_models.py), trained
    briefly with the callback: a subclassed model and custom layers, read through their traced views."""
    from tests.support import keras_io_models

    logdir = str(tmp_path_factory.mktemp("traced_e2e"))
    keras_io_models.train(logdir)
    with TensorBoardServer(logdir) as server:
        wait_for_models(server.url, 2, server=server)
        yield server


def test_frontend_end_to_end(tensorboard):
    _run_node(_e2e_files(), tensorboard)


def test_reduced_data_end_to_end(reduced_tensorboard):
    """Widgets on layers the logging plan reduced show their note (frontend/e2e/reduced/, kept out of
    the demo's files: it needs its own logdir)."""
    _run_node(sorted(glob.glob(os.path.join(E2E_DIR, "reduced", "*.e2e.mjs"))), reduced_tensorboard)


def test_anything_abnormal_end_to_end(planted_tensorboard):
    """The default interestingness panel lists a planted culprit; a click opens the evidence widget
    (frontend/e2e/abnormal/, its own logdir)."""
    _run_node(sorted(glob.glob(os.path.join(E2E_DIR, "abnormal", "*.e2e.mjs"))), planted_tensorboard)


def test_traced_models_end_to_end(traced_tensorboard):
    """A traced TransformerBlock opens at L2 and a tool draws its attention's activations
    (frontend/e2e/traced/, its own logdir)."""
    _run_node(sorted(glob.glob(os.path.join(E2E_DIR, "traced", "*.e2e.mjs"))), traced_tensorboard)


def _run_node(files, tensorboard):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the browser tests of frontend/e2e/ need Node.js (CI installs it)")
    assert files, "no end-to-end test files (*.e2e.mjs) in %s" % E2E_DIR
    os.makedirs(SCREENSHOT_DIR, exist_ok=True)
    env = dict(os.environ, TENSORBOARD_URL=tensorboard.url, SCREENSHOT_DIR=SCREENSHOT_DIR)
    command = [node, "--test", "--test-reporter=spec"] + [os.path.relpath(f, REPO) for f in files]
    # A session of its own, so a timeout ends node's test processes and their browsers too.
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        stdout, _ = process.communicate(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()
        pytest.fail(
            "node --test did not finish within %d s:\n%s\n--- tensorboard stderr ---\n%s"
            % (NODE_TIMEOUT, stdout.decode("utf-8", "replace")[-20000:], tensorboard.stderr_tail())
        )
    output = stdout.decode("utf-8", "replace")
    assert process.returncode == 0, "%s exited with %d:\n%s\n--- tensorboard stderr ---\n%s" % (
        " ".join(command[1:]),
        process.returncode,
        output[-20000:],
        tensorboard.stderr_tail(),
    )
    assert "ℹ pass " in output and "ℹ pass 0\n" not in output, "no end-to-end test passed:\n%s" % output


@pytest.fixture(scope="module")
def plain_tensorboard(tmp_path_factory):
    """A tensorboard over a run of Keras' own TensorBoard callback, a custom loop's tf.summary run and one
    of ours, the two plain runs linked under ours (innspector-tb link) so the three form one experiment."""
    from innspector_tb import link
    from tests.test_plain_runs import write_mixed_logdir

    logdir = str(tmp_path_factory.mktemp("plain_e2e"))
    write_mixed_logdir(logdir)
    link.link(logdir, "stock_keras", "ours")
    link.link(logdir, "custom_loop", "ours")
    with TensorBoardServer(logdir) as server:
        wait_for_models(server.url, 3, server=server)
        yield server


def test_plain_runs_end_to_end(plain_tensorboard):
    """Plain runs beside ours: Performance Metrics side by side and merged, a plain run's logged histogram
    on a common scale with ours (frontend/e2e/plain/, its own logdir)."""
    _run_node(sorted(glob.glob(os.path.join(E2E_DIR, "plain", "*.e2e.mjs"))), plain_tensorboard)
