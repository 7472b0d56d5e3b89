"""The routes' answers for plain runs (store/plain_runs.py): the graph from the Keras model config the
run logged, and `data` requests for a variable's histograms, read from the run's own
`tf.summary.histogram` data (TensorBoard's histograms plugin, as Keras' callback writes it with
histogram_freq). Everything else a plain run lacks is a 404 saying so. No HTTP here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorboard.data import provider as provider_lib

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import int_param, require_str
from innspector_tb.store import keras_config

_HISTOGRAMS_PLUGIN = "histograms"
_ALL_POINTS = 1 << 30
MAX_STEPS = 1000


def plain_model(models: list[dict[str, Any]], run: object) -> dict[str, Any] | None:
    """The plain model named `run` in the listing, or None."""
    for model in models:
        if model.get("plain") and model["run"] == run:
            return model
    return None


def _architecture(data_provider, ctx, experiment, model):
    architecture = keras_config.read_keras_architecture(data_provider, ctx, experiment, model["series_runs"])
    if architecture is None:
        raise NotFound(
            "plain run %r logged no Keras model config (Keras' TensorBoard callback writes it with "
            "write_graph=True): it has no graph" % model["run"]
        )
    return architecture


def graph(data_provider: Any, ctx: Any, experiment: str, model: dict[str, Any]) -> dict[str, Any]:
    return {"run": model["run"], "architecture": _architecture(data_provider, ctx, experiment, model)}


def data(data_provider: Any, ctx: Any, experiment: str, model: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A `data` request on a plain model: unit {kind: "histogram", unit: "<layer>/<variable>"}, the
    variable's logged histograms ([bins, 3]: left edge, right edge, count) at the steps asked for."""
    from innspector_tb.analysis import transforms

    unit = body.get("unit")
    if not isinstance(unit, dict) or unit.get("kind") != "histogram":
        raise NotFound(
            "plain run %r has only its scalars and logged histograms: ask for unit kind 'histogram'" % model["run"]
        )
    unit_id = require_str(unit, "unit")
    architecture = _architecture(data_provider, ctx, experiment, model)
    tag = keras_config.histogram_tag(str(architecture["model"].get("name", "")), unit_id)
    by_step = _histograms(data_provider, ctx, experiment, model["series_runs"], tag)
    if not by_step:
        raise NotFound("plain run %r has no histograms of %r (tag %s)" % (model["run"], unit_id, tag))
    steps = _steps(by_step, body.get("steps"))
    columns = {"value_%d" % s: by_step[s] for s in steps} if len(steps) > 1 else {"value": by_step[steps[0]]}
    pipeline = body.get("transform", [])
    if not isinstance(pipeline, list):
        raise BadRequest("'transform' must be a list of operations")
    return {"run": model["run"], "unit": unit, "steps": steps, "result": transforms.run(pipeline, columns)}


def _histograms(data_provider, ctx, experiment, runs, tag):
    data = data_provider.read_tensors(
        ctx,
        experiment_id=experiment,
        plugin_name=_HISTOGRAMS_PLUGIN,
        downsample=_ALL_POINTS,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=[tag]),
    )
    result = {}
    for run in runs:
        for datum in data.get(run, {}).get(tag, []):
            array = np.asarray(datum.numpy, dtype=np.float64)
            if array.ndim == 2 and array.shape[1] == 3:
                result[int(datum.step)] = array
    return dict(sorted(result.items()))


def _steps(by_step, requested):
    steps = list(by_step)
    if requested is None or requested == "last":
        return steps[-1:]
    if requested == "all":
        return steps[-MAX_STEPS:]
    wanted = requested if isinstance(requested, list) else [requested]
    if not wanted or len(wanted) > MAX_STEPS:
        raise BadRequest("'steps' must list 1 to %d steps" % MAX_STEPS)
    chosen = [int_param(s, "steps", minimum=0) for s in wanted]
    missing = [s for s in chosen if s not in by_step]
    if missing:
        raise NotFound("no histograms at steps %s (steps: %s)" % (missing, ", ".join(map(str, steps[:8]))))
    return chosen
