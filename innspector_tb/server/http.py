"""HTTP for the plugin's routes: JSON answers, JSON error answers, request bodies, the bound on
concurrent heavy work.

Owns the mapping from the `errors` hierarchy to HTTP statuses; every route answers through it:

    errors.NotFound        404  {"error": message}
    errors.LimitExceeded   400  {"error": message, "limit": name} (+ "field" when known)
    errors.RequestRefused  413 (body too large) or 415 (body not application/json)
    errors.BadRequest      400  {"error": message} (+ "field" when known)
    errors.Busy            503  {"error": message}, header Retry-After
    anything else          500  {"error": "internal error <id> ..."}, logged with its traceback under that id

A 500 is a bug: nothing a request contains should cause one. Error answers never show the server's
absolute paths nor, for a 500, the exception's text (the log has it).
"""

import json
import logging
import re
import secrets
import threading
import time

from tensorboard.backend import http_util, json_util
from werkzeug import exceptions as werkzeug_exceptions

from innspector_tb import errors

logger = logging.getLogger("innspector_tb")

MAX_BODY_BYTES = 1 * 2**20
# Heavy requests (reading and transforming arrays) at once. Each may hold a few hundred MB, and holds
# Python's interpreter lock for much of its time (numpy's tolist, serialising a large answer), which light
# requests then wait for: bench/load.py measured light p95 520 ms with 1 slot against 1,320 ms with 2 and
# the same answers per second (on 2 cores the lock serialises heavy work anyway). Above it a request waits
# up to HEAVY_WAIT_SECONDS for the slot, then is answered 503.
HEAVY_SLOTS = 1
HEAVY_WAIT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 2
# An absolute path (or URL) in an error text: from the start, a space, a quote or a parenthesis.
_ABSOLUTE_PATH = re.compile(r"""(?<![\w.:/])(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"/]*)?(?:/[^\s'"/)]+)+/?""")


class WorkSlots:
    """A bound on concurrent heavy work: `run(compute)` waits for a slot, or raises errors.Busy."""

    def __init__(self, slots: int | None = None, wait_seconds: float | None = None) -> None:
        self._slots = threading.BoundedSemaphore(HEAVY_SLOTS if slots is None else slots)
        self._wait = HEAVY_WAIT_SECONDS if wait_seconds is None else wait_seconds

    def run(self, compute):
        if not self._slots.acquire(timeout=self._wait):
            raise errors.Busy("the server is busy with other heavy requests; retry shortly", RETRY_AFTER_SECONDS)
        try:
            return compute()
        finally:
            self._slots.release()


def answer(request, compute):
    """The JSON answer of compute(), or the error answer of what it raised."""
    try:
        return respond_json(request, compute())
    except Exception as e:  # each error class has its status; anything else is a bug: say so, keep serving
        return error_for(request, e)


def answer_cached(request, store, compute):
    """answer(), with the serialised text of a successful answer cached until any run changes (keyed by
    the request's path and query): light routes then cost a lookup, and stay fast while heavy requests
    hold the CPU."""
    key = ("answer", request.path, tuple(sorted(request.args.items(multi=True))))
    try:
        text = store.cached(key, lambda: serialize(compute()))
    except Exception as e:  # errors are not cached: each is answered as answer() would
        return error_for(request, e)
    return http_util.Respond(request, text, "application/json")


def answer_heavy(request, slots, compute):
    """answer() for heavy work: computing and serialising both happen in one of `slots`, and the answer is
    serialised in slices (serialize_in_slices), so one big answer never holds the interpreter lock long
    while light requests wait for it."""
    try:
        text = slots.run(lambda: serialize_in_slices(compute()))
    except Exception as e:
        return error_for(request, e)
    return http_util.Respond(request, text, "application/json")


# Leaf values (numbers, strings) serialised at once by the C encoder between two chances for other threads.
SLICE_VALUES = 8192
_YIELD_SECONDS = 0.002


def serialize_in_slices(body):
    """serialize()'s text, made in slices of about SLICE_VALUES leaf values.

    json.dumps of a 50 MB answer runs in C for half a second without letting any other thread run; light
    routes then wait that long. Between slices this lets others run (at most every 2 ms).
    """
    parts: list[str] = []
    last_yield = [time.perf_counter()]

    def pause():
        now = time.perf_counter()
        if now - last_yield[0] >= _YIELD_SECONDS:
            time.sleep(0)  # gives the interpreter lock to a waiting thread
            last_yield[0] = time.perf_counter()

    def encode(value):
        if isinstance(value, dict) and value and all(isinstance(key, str) for key in value):
            parts.append("{")
            for i, (key, item) in enumerate(value.items()):
                parts.append(("," if i else "") + serialize(key) + ":")
                encode(item)
            parts.append("}")
        elif isinstance(value, list) and _leaves(value) > SLICE_VALUES and len(value) > 1:
            per_item = max(1, _leaves(value) // len(value))
            step = max(1, SLICE_VALUES // per_item)
            parts.append("[")
            for start in range(0, len(value), step):
                if start:
                    parts.append(",")
                if step == 1:
                    encode(value[start])
                else:
                    parts.append(serialize(value[start : start + step])[1:-1])
                    pause()
            parts.append("]")
        else:
            parts.append(serialize(value))
            pause()

    encode(body)
    return "".join(parts)


def _leaves(value):
    """About how many leaf values a nested list holds (from its first items: arrays are regular)."""
    count = 1
    while isinstance(value, list) and value:
        count *= len(value)
        value = value[0]
    return count


def serialize(body):
    """The answer's JSON text, strict (no NaN; TensorBoard's cleaning is the fallback for one that slips)."""
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(json_util.Cleanse(body), allow_nan=False, separators=(",", ":"))


def error_for(request, exc):
    """The error answer of an exception raised while answering `request`."""
    if isinstance(exc, errors.NotFound):
        return error(request, 404, without_paths(str(exc)))
    if isinstance(exc, errors.RequestRefused):
        return error(request, exc.status, without_paths(str(exc)))
    if isinstance(exc, errors.BadRequest):
        extra = {"limit": exc.limit} if isinstance(exc, errors.LimitExceeded) else {}
        if exc.field is not None:
            extra["field"] = exc.field
        return error(request, 400, without_paths(str(exc)), **extra)
    if isinstance(exc, errors.Busy):
        response = error(request, 503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    incident = secrets.token_hex(4)
    logger.error("iNNspector route %s failed (incident %s)", request.path, incident, exc_info=exc)
    return error(
        request, 500, "internal error %s (%s); the server log has the details" % (incident, type(exc).__name__)
    )


def without_paths(message):
    """The message with each absolute path or URL cut to its last part: a file's name says enough, its
    directories would tell a stranger how the server is laid out."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/", message)


def respond_json(request, body):
    """Serialises once, strictly; TensorBoard's Respond would walk the whole answer again to clean it."""
    return http_util.Respond(request, serialize(body), "application/json")


def error(request, code, message, **extra):
    body = {"error": message}
    body.update(extra)
    return http_util.Respond(request, body, "application/json", code=code)


def json_body(request, max_bytes=MAX_BODY_BYTES):
    """The request's body parsed as JSON; errors.RequestRefused when not sent as JSON (415) or too large
    (413), errors.BadRequest when not JSON or nested too deeply."""
    # Only application/json: a cross-site form post (text/plain, no preflight) cannot start work.
    if request.mimetype != "application/json":
        raise errors.RequestRefused(
            "send the body as application/json (got %s)" % (request.mimetype or "no content type"), 415
        )
    too_large = errors.RequestRefused("body too large (over %d bytes)" % max_bytes, 413)
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    # werkzeug stops reading at this limit, so a chunked body (no Content-Length) is never buffered past
    # it; one byte over tells a body that goes on from one that ends at the limit.
    request.max_content_length = max_bytes + 1
    try:
        raw = request.get_data(cache=False)
    except werkzeug_exceptions.RequestEntityTooLarge:
        raise too_large from None
    if len(raw) > max_bytes:
        raise too_large
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise errors.BadRequest("the body is not JSON: %s" % e) from e
    except RecursionError:
        raise errors.BadRequest("the body is nested too deeply") from None
