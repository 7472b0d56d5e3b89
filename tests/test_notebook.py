"""The notebook habit (issue 13, item 6): `%tensorboard --logdir DIR` in Jupyter runs
tensorboard.notebook.start, which launches TensorBoard through tensorboard.manager and frames
http://localhost:<port>/. Jupyter is not installed here, so the test calls the same function outside a
notebook, then loads the frame's URL and our tab's module from the instance it launched."""

import json
import os
import signal
import sys
import time
import urllib.request

import pytest
from tensorboard import manager, notebook

from tests.support import reduced_run

pytestmark = pytest.mark.slow


def _get(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, response.read()


def test_the_notebook_launch_serves_our_tab(tmp_path, monkeypatch, capsys):
    logdir = str(tmp_path / "logs")
    reduced_run.write_full_run(os.path.join(logdir, "toy"), name="toy")
    monkeypatch.setenv("TENSORBOARD_BINARY", os.path.join(os.path.dirname(sys.executable), "tensorboard"))
    notebook.start("--logdir %s --port 0 --reload_interval 1" % logdir)
    infos = [info for info in manager.get_all() if info.logdir == logdir]
    assert infos, "tensorboard.notebook.start launched nothing:\n%s" % capsys.readouterr().out
    info = infos[0]
    try:
        frame = "http://localhost:%d/" % info.port  # the iframe's URL (tensorboard.notebook._display_ipython)
        status, page = _get(frame)
        assert status == 200 and b"tensorboard" in page.lower()
        deadline = time.monotonic() + 60
        while True:  # the tab is enabled once TensorBoard has read the run
            tab = json.loads(_get(frame + "data/plugins_listing")[1])["innspector"]
            if tab["enabled"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert tab["enabled"] and tab["tab_name"] == "iNNspector"
        status, script = _get(frame.rstrip("/") + tab["loading_mechanism"]["module_path"])
        assert status == 200 and len(script) > 10_000
        status, models = _get(frame + "data/plugin/innspector/models")
        assert [m["run"] for m in json.loads(models)["models"]] == ["toy"]
    finally:
        os.kill(info.pid, signal.SIGTERM)
