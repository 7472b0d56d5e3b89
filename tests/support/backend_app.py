"""TensorBoard's own WSGI app over a logdir, with our plugin, for werkzeug's test client.

Every answer of a route the OpenAPI document describes is checked against it (2xx against the
operation's answer schema, errors against ErrorAnswer), so every route test checks the shapes too.
"""

import json

from tensorboard.backend import application
from werkzeug import test as werkzeug_test

from innspector_tb.server import openapi
from tests.support import openapi_check, tb_readers

BASE = openapi.PREFIX


class Client:
    def __init__(self, logdir, ingester="python"):
        tb = tb_readers.configured_tensorboard(logdir, ingester)
        provider, multiplexer = tb._make_data_provider()
        app = application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, provider, tb.assets_zip_provider, multiplexer)
        self._client = werkzeug_test.Client(app)

    def get(self, route, **params):
        response = self._client.get(BASE + route, query_string=params)
        return check_answer(route, "get", response.status_code, _json(response))

    def post(self, route, body, raw=None):
        data = raw if raw is not None else json.dumps(body)
        response = self._client.post(BASE + route, data=data, content_type="application/json")
        return check_answer(route, "post", response.status_code, _json(response))

    def get_raw(self, route, **params):
        """The werkzeug response itself (status, headers, bytes): for answers that are not JSON (/image)."""
        return self._client.get(BASE + route, query_string=params)


def check_answer(route, method, status, answer):
    """(status, answer), once the answer is checked against the OpenAPI document (AssertionError if off)."""
    problems = openapi_check.answer_problems(route, method, status, answer)
    assert not problems, "%s %s answered %d off the OpenAPI document:\n  %s\nanswer: %.500s" % (
        method.upper(),
        route,
        status,
        "\n  ".join(problems),
        json.dumps(answer, default=repr),
    )
    return status, answer


def _json(response):
    try:
        return json.loads(response.get_data())
    except ValueError:
        return {"_raw": response.get_data()[:200]}
