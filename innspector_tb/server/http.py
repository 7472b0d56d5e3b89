"""HTTP for the plugin's routes: JSON answers, JSON error answers, request bodies.

Owns the mapping from the `errors` hierarchy to HTTP statuses; every route answers through it:

    errors.NotFound       404  {"error": message}
    errors.LimitExceeded  400  {"error": message, "limit": name} (+ "field" when known)
    errors.BadRequest     400  {"error": message} (+ "field" when known)
    anything else         500  {"error": "internal error: <type>: <message>"}, logged with its traceback

A 500 is a bug: nothing a request contains should cause one.
"""

import json
import logging

from tensorboard.backend import http_util

from innspector_tb import errors

logger = logging.getLogger("innspector_tb")

MAX_BODY_BYTES = 1 * 2**20


def answer(request, compute):
    """The JSON answer of compute(), or the error answer of what it raised."""
    try:
        return respond_json(request, compute())
    except Exception as e:  # each error class has its status; anything else is a bug: say so, keep serving
        return error_for(request, e)


def error_for(request, exc):
    """The error answer of an exception raised while answering `request`."""
    if isinstance(exc, errors.NotFound):
        return error(request, 404, str(exc))
    if isinstance(exc, errors.BadRequest):
        extra = {"limit": exc.limit} if isinstance(exc, errors.LimitExceeded) else {}
        if exc.field is not None:
            extra["field"] = exc.field
        return error(request, 400, str(exc), **extra)
    logger.error("iNNspector route %s failed", request.path, exc_info=exc)
    return error(request, 500, "internal error: %s: %s" % (type(exc).__name__, exc))


def respond_json(request, body):
    """Serialises once, strictly; TensorBoard's Respond would walk the whole answer again to clean it."""
    try:
        text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN slipped through: let TensorBoard's cleaning handle it
        return http_util.Respond(request, body, "application/json")
    return http_util.Respond(request, text, "application/json")


def error(request, code, message, **extra):
    body = {"error": message}
    body.update(extra)
    return http_util.Respond(request, body, "application/json", code=code)


def json_body(request, max_bytes=MAX_BODY_BYTES):
    """The request's body parsed as JSON; errors.BadRequest when too large, not JSON or nested too deeply."""
    # Content-Length first, then the bytes read: a client may send no length, or a wrong one.
    if request.content_length is not None and request.content_length > max_bytes:
        raise errors.BadRequest("body too large (over %d bytes)" % max_bytes)
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise errors.BadRequest("body too large (over %d bytes)" % max_bytes)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise errors.BadRequest("the body is not JSON: %s" % e) from e
    except RecursionError:
        raise errors.BadRequest("the body is nested too deeply") from None
