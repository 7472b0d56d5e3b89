"""TensorBoard's own WSGI app over a logdir, with our plugin, for werkzeug's test client."""

import json

from tensorboard.backend import application
from werkzeug import test as werkzeug_test

from tests.support import tb_readers

BASE = "/data/plugin/innspector"


class Client:
    def __init__(self, logdir, ingester="python"):
        tb = tb_readers.configured_tensorboard(logdir, ingester)
        provider, multiplexer = tb._make_data_provider()
        app = application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, provider, tb.assets_zip_provider,
                                             multiplexer)
        self._client = werkzeug_test.Client(app)

    def get(self, route, **params):
        response = self._client.get(BASE + route, query_string=params)
        return response.status_code, _json(response)

    def post(self, route, body, raw=None):
        data = raw if raw is not None else json.dumps(body)
        response = self._client.post(BASE + route, data=data, content_type="application/json")
        return response.status_code, _json(response)


def _json(response):
    try:
        return json.loads(response.get_data())
    except ValueError:
        return {"_raw": response.get_data()[:200]}
