"""Whole-server limits (issue 12, items 6-7): heavy work bounded (503 with Retry-After, light routes
still answered), bodies refused by type and size before they are buffered, 500 answers that show an
incident id and nothing of the exception, error answers without the server's paths."""

import gc
import io
import json
import logging
import sys
import threading

import pytest
from werkzeug import test as werkzeug_test

from innspector_tb.server import http, interpreter_tuning, openapi, routes_data
from tests.support import reduced_run
from tests.support.backend_app import Client, check_answer

DATA = openapi.PREFIX + "/data"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    reduced_run.write_full_run(str(root / "toy"), name="toy")
    return str(root)


def _raw_client(client):
    return client._client  # werkzeug's test client over TensorBoard's app


def _samples_body():
    return {"run": "toy", "unit": {"kind": "samples"}}


def test_a_cross_site_form_post_is_refused_unread(logdir):
    raw = _raw_client(Client(logdir))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = raw.post(DATA, data=json.dumps(_samples_body()), content_type=content_type)
        body = json.loads(response.get_data())
        check_answer("/data", "post", response.status_code, body)
        assert response.status_code == 415 and "application/json" in body["error"]


class _CountingStream(io.RawIOBase):
    """An endless chunked body that counts what the server reads of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = len(buffer)
        buffer[:n] = b" " * n
        self.read_bytes += n
        return n


def test_a_chunked_body_over_the_limit_is_refused_before_it_is_buffered(logdir):
    raw = _raw_client(Client(logdir))
    stream = _CountingStream()
    environ = werkzeug_test.create_environ(DATA, method="POST", content_type="application/json")
    environ.pop("CONTENT_LENGTH", None)  # chunked: no length, the server must stop reading by itself
    environ.update({"wsgi.input": io.BufferedReader(stream), "wsgi.input_terminated": True})
    app_iter, status, _ = werkzeug_test.run_wsgi_app(raw.application, environ, buffered=True)
    body = json.loads(b"".join(app_iter))
    code = int(status.split()[0])
    check_answer("/data", "post", code, body)
    assert code == 413 and "too large" in body["error"], body
    assert stream.read_bytes < 2 * http.MAX_BODY_BYTES  # read up to the limit, not the endless rest


def test_a_declared_length_over_the_limit_is_413(logdir):
    status, body = Client(logdir).post("/data", None, raw=b" " * (http.MAX_BODY_BYTES + 1))
    assert status == 413


def test_heavy_requests_beyond_the_slots_get_503_and_light_routes_still_answer(logdir, monkeypatch):
    monkeypatch.setattr(http, "HEAVY_SLOTS", 1)
    monkeypatch.setattr(http, "HEAVY_WAIT_SECONDS", 0.2)
    client = Client(logdir)  # the plugin takes its slots when TensorBoard's app is built
    entered, release = threading.Event(), threading.Event()
    real_data = routes_data.data

    def slow_data(store, body):
        entered.set()
        release.wait(30)
        return real_data(store, body)

    monkeypatch.setattr(routes_data, "data", slow_data)
    first: dict = {}
    holder = threading.Thread(target=lambda: first.update(answer=client.post("/data", _samples_body())))
    holder.start()
    try:
        assert entered.wait(30)
        response = _raw_client(client).post(DATA, data=json.dumps(_samples_body()), content_type="application/json")
        body = json.loads(response.get_data())
        check_answer("/data", "post", response.status_code, body)
        assert response.status_code == 503 and response.headers["Retry-After"] == str(http.RETRY_AFTER_SECONDS)
        status, models = client.get("/models")  # light: not bounded by the heavy slots
        assert status == 200 and [m["run"] for m in models["models"]] == ["toy"]
    finally:
        release.set()
        holder.join(30)
    assert first["answer"][0] == 200
    assert client.post("/data", _samples_body())[0] == 200  # the slot was given back


def test_a_500_shows_an_incident_id_not_the_exception(logdir, monkeypatch, caplog):
    def broken(store, body):
        raise RuntimeError("boom at /srv/secret/logs/run")

    monkeypatch.setattr(routes_data, "data", broken)
    with caplog.at_level(logging.ERROR, logger="innspector_tb"):
        status, body = Client(logdir).post("/data", _samples_body())
    assert status == 500
    assert "boom" not in body["error"] and "/srv" not in body["error"]
    incident = body["error"].split()[2]
    assert incident in caplog.text and "boom at /srv/secret/logs/run" in caplog.text


@pytest.mark.parametrize(
    "message, shown",
    [
        ("cannot read /tmp/a/b/innspector/samples.h5: gone", "cannot read samples.h5: gone"),
        ("no dataset layers/conv/activations in run 'a/b'", "no dataset layers/conv/activations in run 'a/b'"),
        ("s3://bucket/logs/run/step_1.h5 unreadable", "step_1.h5 unreadable"),
        ("linked to (/home/u/.ssh/id_rsa)", "linked to (id_rsa)"),
    ],
)
def test_error_texts_lose_absolute_paths(message, shown):
    assert http.without_paths(message) == shown


def test_work_slots_wait_then_refuse():
    slots = http.WorkSlots(slots=1, wait_seconds=0.05)
    inside = []
    with pytest.raises(Exception) as refused:
        slots.run(lambda: inside.append(slots.run(lambda: "never")))
    assert type(refused.value).__name__ == "Busy" and inside == []
    assert slots.run(lambda: "free again") == "free again"


def test_the_plugin_freezes_the_heap_it_starts_with_once(logdir, monkeypatch):
    """Full garbage collections skip what TensorBoard imported before the plugin (bench/load.py)."""
    monkeypatch.setenv(interpreter_tuning.GC_FREEZE_ENV, "0")
    frozen_before = gc.get_freeze_count()
    Client(logdir)
    assert gc.get_freeze_count() == frozen_before  # turned off: the collector is left as it is
    monkeypatch.delenv(interpreter_tuning.GC_FREEZE_ENV)
    Client(logdir)
    frozen = gc.get_freeze_count()
    assert frozen > 0 and frozen >= frozen_before
    made_after = [[i] for i in range(1000)]  # tracked containers, alive now
    # Once per process: the 1,000 lists are not frozen (a frozen object can still be freed, so the
    # count may only go down).
    assert interpreter_tuning.freeze_startup_heap() <= frozen
    assert len(made_after) == 1000 and gc.get_freeze_count() <= frozen


def test_the_plugin_shortens_the_thread_switch_interval_but_never_lengthens_it(logdir):
    """Light requests get the interpreter lock back from heavy ones within 1 ms (bench/load.py)."""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # Python's default
        Client(logdir)  # TensorBoard's app loads the plugin
        assert sys.getswitchinterval() == pytest.approx(interpreter_tuning.SWITCH_INTERVAL_SECONDS)
        sys.setswitchinterval(0.0002)
        assert interpreter_tuning.shorten_switch_interval() == pytest.approx(0.0002)
    finally:
        sys.setswitchinterval(before)
