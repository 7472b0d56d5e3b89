"""A real `tensorboard` process for end-to-end tests and benchmarks.

    with TensorBoardServer(logdir) as tb:
        wait_for_models(tb.url, 3)
        ... requests to tb.url ...

The process is the `tensorboard` executable beside the running Python (the
virtual environment's), bound to a free port on 127.0.0.1, reloading every
second (`--reload_interval 1`), so runs written after the start show up too.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

START_TIMEOUT = 90.0
MODELS_ROUTE = "/data/plugin/innspector/models"


class TensorBoardError(RuntimeError):
    """TensorBoard did not start, or did not serve what was awaited in time."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class TensorBoardServer:
    """Starts `tensorboard --logdir logdir` and waits until it answers `/data/plugins_listing`.

    Args:
      logdir: the log directory to serve.
      load_fast: TensorBoard's --load_fast: "false" (Python ingester), "true" (Rust data server)
        or "auto".
      extra_args: more command-line arguments for tensorboard.
      start_timeout: seconds to wait for the first answer.

    Attributes:
      url: "http://127.0.0.1:<port>", without a trailing slash.
      start_seconds: seconds from starting the process to its first answer.
    """

    def __init__(self, logdir, load_fast="false", extra_args=(), start_timeout=START_TIMEOUT):
        self.logdir = logdir
        if isinstance(load_fast, bool):
            load_fast = "true" if load_fast else "false"
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        executable = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        if not os.path.exists(executable):
            raise TensorBoardError("no tensorboard executable beside %s (pip install tensorboard)" % sys.executable)
        self.command = [
            executable,
            "--logdir",
            logdir,
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--load_fast",
            str(load_fast),
            "--reload_interval",
            "1",
            *extra_args,
        ]
        # stderr goes to a file, not a pipe: a pipe nobody reads fills up and blocks TensorBoard.
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        start = time.monotonic()
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env)
        try:
            self._wait_until_serving(start + start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - start

    def _wait_until_serving(self, deadline):
        while True:
            try:
                _get_json(self.url + "/data/plugins_listing", timeout=10)
                return
            except (OSError, ValueError):
                if self.process.poll() is not None:
                    raise TensorBoardError(
                        "tensorboard exited with code %s before serving:\n%s"
                        % (self.process.returncode, self.stderr_tail())
                    ) from None
                if time.monotonic() > deadline:
                    raise TensorBoardError(
                        "tensorboard did not answer %s/data/plugins_listing in time:\n%s"
                        % (self.url, self.stderr_tail())
                    ) from None
                time.sleep(0.25)

    def stderr_tail(self, chars=3000):
        """The end of TensorBoard's stderr so far (for error messages)."""
        try:
            self._stderr.flush()
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - chars))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return "(stderr unavailable)"

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        """Terminates the process (kills it after 30 s); safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._stderr.closed:
            self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def wait_for_models(url, count, timeout=90, server=None):
    """Polls the plugin's models route until at least `count` models are listed; returns them.

    `server` (a TensorBoardServer), when given, makes a dead process fail at once with its stderr.
    """
    deadline = time.monotonic() + timeout
    models, last_error = [], None
    while True:
        try:
            models = _get_json(url + MODELS_ROUTE)["models"]
            last_error = None
            if len(models) >= count:
                return models
        except (OSError, ValueError, KeyError) as e:
            last_error = e
        if server is not None and not server.alive():
            raise TensorBoardError("tensorboard exited while loading:\n%s" % server.stderr_tail())
        if time.monotonic() > deadline:
            raise TensorBoardError(
                "%d of %d models listed at %s after %ds%s"
                % (
                    len(models),
                    count,
                    url + MODELS_ROUTE,
                    timeout,
                    "" if last_error is None else " (last error: %s)" % last_error,
                )
            )
        time.sleep(0.5)
