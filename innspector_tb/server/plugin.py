"""The iNNspector TensorBoard plugin: its loader, its route table and the wiring of each request to a
route function.

Each route's answer is a plain function in a `routes_*` module (over a BoundRunStore); request values
are parsed by `params`; `http` turns answers and errors into JSON responses: 404 for an unknown run,
layer, unit or step, 400 for a malformed request (saying what is wrong), never a 500 for anything a
request can contain.
"""

import functools
import os
from collections.abc import Callable
from typing import Any

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from innspector_tb import resources
from innspector_tb.format import metadata
from innspector_tb.server import (
    http,
    interpreter_tuning,
    json_tools,
    openapi,
    params,
    routes_data,
    routes_gradients,
    routes_graph,
    routes_images,
    routes_metrics,
    routes_mistakes,
    routes_models,
    routes_plain,
    routes_visualisations,
    routes_vocabulary,
)
from innspector_tb.store import models as models_lib
from innspector_tb.store import plain_runs, run_store
from innspector_tb.store.cache import ByteBudgetCache

_STATIC_DIR = resources.STATIC_DIR
_STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
CACHE_BYTES = 256 * 2**20


class InnspectorLoader(base_plugin.TBLoader):
    """Loads the plugin, and makes every step of its data visible by default.

    TensorBoard keeps only a sample of each third-party plugin's summaries per
    tag (10 with the Python ingester, 100 with the Rust data server). Ours are
    small and every step matters (step 0 is the baseline), so keep all of them
    unless the user chose a number with --samples_per_plugin.
    """

    def define_flags(self, parser):
        parser.add_argument(
            "--innspector_tools",
            metavar="DIRS",
            type=str,
            default="",
            help="Folders (separated by %r) of iNNspector tools declared in JSON (docs/backend.md, "
            "'JSON tools'); the environment variable %s adds more. <logdir>/%s/ is always read."
            % (os.pathsep, json_tools.ENV_VAR, json_tools.LOGDIR_FOLDER),
        )

    def fix_flags(self, flags):
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            samples = {}
            flags.samples_per_plugin = samples
        samples.setdefault(metadata.PLUGIN_NAME, 0)  # 0 means "keep every point"

    def load(self, context):
        return InnspectorPlugin(context)


# werkzeug's Request.application serves methods too (the request is the last argument), but its
# annotation only accepts a function of the request alone.
_application: Callable[..., Any] = wrappers.Request.application


def _json_route(method="GET", heavy=False, cached=False):
    """Wraps a handler(self, request, store) -> dict into a werkzeug app answering JSON (errors too).

    A heavy handler (it reads and computes on arrays) runs in one of the plugin's bounded work slots
    (http.WorkSlots): many at once wait, then get 503, instead of each taking its memory. A cached
    handler's answer text is kept until any run changes (http.answer_cached): for light routes that
    depend on nothing but the runs' data and the query.
    """

    def decorate(handler):
        @_application
        @functools.wraps(handler)
        def app(self, request):
            if request.method != method:
                return http.error(request, 405, "use %s for this route" % method)
            ctx = plugin_util.context(request.environ)
            store = self._store.bind(ctx, plugin_util.experiment_id(request.environ))
            if heavy:
                return http.answer_heavy(request, self._heavy, lambda: handler(self, request, store))
            if cached:
                return http.answer_cached(request, store, lambda: handler(self, request, store))
            return http.answer(request, lambda: handler(self, request, store))

        return app

    return decorate


class InnspectorPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = context.data_provider
        self._logdir = getattr(context, "logdir", None)
        self._tools_flag = getattr(getattr(context, "flags", None), "innspector_tools", "") or ""
        self._store = run_store.RunStore(context.data_provider, context.logdir, ByteBudgetCache(CACHE_BYTES))
        self._heavy = http.WorkSlots()
        interpreter_tuning.shorten_switch_interval()
        interpreter_tuning.freeze_startup_heap()

    def get_plugin_apps(self):
        # The bundle and what it loads beside itself (the layout worker): every file of static/.
        assets = {
            "/" + name: self._serve_static
            for name in sorted(os.listdir(_STATIC_DIR))
            if os.path.splitext(name)[1] in _STATIC_TYPES
        }
        return {
            **assets,
            "/openapi.json": self._serve_openapi,
            "/models": self._serve_models,
            "/tree": self._serve_tree,
            "/graph": self._serve_graph,
            "/neurons": self._serve_neurons,
            "/data": self._serve_data,
            "/interestingness": self._serve_interestingness,
            "/interestingness/measures": self._serve_measures,
            "/structures": self._serve_structures,
            "/lint": self._serve_lint,
            "/lint/all": self._serve_lint_all,
            "/gradients": self._serve_gradients,
            "/vocabulary": self._serve_vocabulary,
            "/metrics": self._serve_metrics,
            "/tools": self._serve_tools,
            "/mistakes": self._serve_mistakes,
            "/feature_visualisations": self._serve_feature_visualisations,
            "/images": self._serve_images,
            "/image": self._serve_image,
        }

    def is_active(self):
        return False  # activity comes from data_plugin_names via the data provider

    def data_plugin_names(self):
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="iNNspector")

    @_application
    def _serve_static(self, request):
        name = os.path.basename(request.path)
        path = os.path.join(_STATIC_DIR, name)
        extension = os.path.splitext(name)[1]
        if extension not in _STATIC_TYPES or not os.path.isfile(path):
            return http.error(request, 404, "no such asset: %s" % name)
        with open(path, "rb") as f:
            return http_util.Respond(request, f.read(), _STATIC_TYPES[extension])

    @_application
    def _serve_openapi(self, request):
        return http_util.Respond(request, openapi.document(), "application/json")

    @_json_route()
    def _serve_models(self, request, store):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return routes_models.listed_models(
            self._models(request, store),
            functools.partial(models_lib.latest_metrics, self._data_provider, ctx, experiment),
            store.runs(),
        )

    @_json_route()
    def _serve_tree(self, request, store):
        return routes_models.tree(store, self._models(request, store))

    @_json_route(cached=True)
    def _serve_graph(self, request, store):
        run = request.args.get("run")
        plain = routes_plain.plain_model(self._models(request, store), run)
        if plain is not None:
            ctx = plugin_util.context(request.environ)
            return routes_plain.graph(self._data_provider, ctx, plugin_util.experiment_id(request.environ), plain)
        return routes_graph.graph(store, run)

    @_json_route(heavy=True)
    def _serve_neurons(self, request, store):
        args = request.args
        return routes_graph.neurons(
            store,
            args.get("run"),
            args.get("layer"),
            step=params.step_param(args.get("step")),
            classes=args.get("classes"),
            k=params.int_param(args.get("k"), "k", default=20, minimum=0, maximum=routes_graph.MAX_K),
            keep=args.get("keep"),
        )

    @_json_route(method="POST", heavy=True)
    def _serve_data(self, request, store):
        body = http.json_body(request)
        plain = (
            routes_plain.plain_model(self._models(request, store), body.get("run")) if isinstance(body, dict) else None
        )
        if plain is not None:
            ctx = plugin_util.context(request.environ)
            return routes_plain.data(self._data_provider, ctx, plugin_util.experiment_id(request.environ), plain, body)
        return routes_data.data(store, body)

    @_json_route(heavy=True)
    def _serve_interestingness(self, request, store):
        args = request.args
        return routes_models.interestingness_scores(
            store,
            self._models(request, store),
            args.get("measure"),
            step=params.step_param(args.get("step")),
            runs=params.list_param(args.get("runs"), "runs"),
        )

    @_json_route(cached=True)
    def _serve_measures(self, request, store):
        return routes_models.measures()

    @_json_route(cached=True)
    def _serve_structures(self, request, store):
        return routes_models.structures(store, self._models(request, store), request.args.get("run"))

    @_json_route(cached=True)
    def _serve_lint(self, request, store):
        return routes_models.lint(store, request.args.get("run"))

    @_json_route(cached=True)
    def _serve_lint_all(self, request, store):
        return routes_models.lint_all(store)

    @_json_route(cached=True)
    def _serve_gradients(self, request, store):
        return routes_gradients.gradients(store, request.args.get("run"))

    @_json_route(cached=True)
    def _serve_vocabulary(self, request, store):
        return routes_vocabulary.vocabulary(store, request.args.get("run"))

    @_json_route(heavy=True)
    def _serve_metrics(self, request, store):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return routes_metrics.metrics(
            store,
            functools.partial(routes_metrics.read_scalars, self._data_provider, ctx, experiment),
            params.list_param(request.args.get("runs"), "runs"),
            self._models(request, store),
        )

    @_json_route()
    def _serve_tools(self, request, store):
        # Re-read on every request (each file is cached by path, mtime and size): edits show on reload.
        tools, errors = json_tools.load_tools(json_tools.folders_from(self._tools_flag), self._logdir)
        return {"tools": tools, "errors": errors}

    @_json_route(heavy=True)
    def _serve_mistakes(self, request, store):
        args = request.args
        return routes_mistakes.mistakes(
            store,
            args.get("run"),
            cls=args.get("class"),
            step=params.step_param(args.get("step")),
            alpha=args.get("alpha"),
            beta=args.get("beta"),
            iterations=args.get("iterations"),
        )

    @_json_route()
    def _serve_feature_visualisations(self, request, store):
        args = request.args
        return routes_visualisations.feature_visualisations(
            store,
            args.get("run"),
            step=params.step_param(args.get("step")),
            layer=args.get("layer"),
            unit=args.get("unit"),
            cls=args.get("class"),
        )

    @_json_route()
    def _serve_images(self, request, store):
        ctx = plugin_util.context(request.environ)
        model = routes_images.model_named(self._models(request, store), request.args.get("run"))
        return routes_images.images(self._data_provider, ctx, plugin_util.experiment_id(request.environ), model)

    @_application
    def _serve_image(self, request):
        """The bytes of one logged image, as logged (PNG, JPEG or GIF, checked), with its content type;
        TensorBoard's Respond adds `X-Content-Type-Options: nosniff`. Errors answer JSON as elsewhere."""
        if request.method != "GET":
            return http.error(request, 405, "use GET for this route")
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        try:
            model = routes_images.model_named(self._models(request), request.args.get("run"))
            data, content_type = routes_images.image(self._data_provider, ctx, experiment, model, request.args)
        except Exception as e:  # each error class has its status, as http.answer maps them
            return http.error_for(request, e)
        return http_util.Respond(request, data, content_type)

    def _models(self, request, store=None):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        store = store or self._store.bind(ctx, experiment)
        # Cached until any run's iNNspector data changes; metrics are added fresh by /models.
        # Plain runs (no iNNspector data) are models too (store/plain_runs.py): the key holds every run's
        # name, so a plain run appearing shows at once (the version of ours covers only our own runs).
        every_run = sorted(r.run_name for r in self._data_provider.list_runs(ctx, experiment_id=experiment))
        return store.cached(
            ("models", tuple(every_run), plain_runs.link_versions(self._logdir, every_run)),
            lambda: plain_runs.with_plain_models(
                models_lib.list_models(self._data_provider, ctx, experiment, with_metrics=False),
                self._data_provider,
                ctx,
                experiment,
                self._logdir,
            ),
        )
