"""The iNNspector TensorBoard plugin: a thin layer of routes over the reading modules."""

import json
import logging
import os

import werkzeug
from werkzeug import wrappers

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from innspector_tb import metadata
from innspector_tb import models as models_lib

logger = logging.getLogger("innspector_tb")

_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".map": "application/json"}


class InnspectorLoader(base_plugin.TBLoader):
    """Loads the plugin, and makes every step of its data visible by default.

    TensorBoard keeps only a sample of each third-party plugin's summaries per
    tag (10 with the Python ingester, 100 with the Rust data server). Ours are
    small and every step matters (step 0 is the baseline), so keep all of them
    unless the user chose a number with --samples_per_plugin.
    """

    def fix_flags(self, flags):
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            samples = {}
            setattr(flags, "samples_per_plugin", samples)
        samples.setdefault(metadata.PLUGIN_NAME, 0)  # 0 means "keep every point"

    def load(self, context):
        return InnspectorPlugin(context)


class InnspectorPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = context.data_provider
        self._logdir = context.logdir

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_static,
            "/models": self._serve_models,
        }

    def is_active(self):
        return False  # activity comes from data_plugin_names via the data provider

    def data_plugin_names(self):
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="iNNspector")

    @wrappers.Request.application
    def _serve_static(self, request):
        name = os.path.basename(request.path)
        path = os.path.join(_STATIC_DIR, name)
        extension = os.path.splitext(name)[1]
        if extension not in _STATIC_TYPES or not os.path.isfile(path):
            return _error(request, 404, "no such asset: %s" % name)
        with open(path, "rb") as f:
            return http_util.Respond(request, f.read(), _STATIC_TYPES[extension])

    @wrappers.Request.application
    def _serve_models(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        models = models_lib.list_models(self._data_provider, ctx, experiment)
        return http_util.Respond(request, {"models": models}, "application/json")


def _error(request, code, message):
    return http_util.Respond(request, {"error": message}, "application/json", code=code)
