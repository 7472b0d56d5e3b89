"""The routes' answers for logged images (store/logged_images.py): the image tags a model's runs logged
with TensorBoard's own image summaries, and one image's bytes. Any model whose runs hold images
(plain runs chiefly: a custom loop's tf.summary.image, Keras' callback with write_images). No HTTP here.
"""

from __future__ import annotations

from typing import Any

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import int_param, step_param
from innspector_tb.store import logged_images

MAX_SAMPLE = 10_000


def model_named(models: list[dict[str, Any]], run: object) -> dict[str, Any]:
    """The model named `run` in the listing; NotFound naming the run otherwise."""
    if not isinstance(run, str) or not run:
        raise BadRequest("parameter 'run' is required", field="run")
    for model in models:
        if model["run"] == run:
            return model
    raise NotFound("no model (run) named %r" % run)


def images(data_provider: Any, ctx: Any, experiment: str, model: dict[str, Any]) -> dict[str, Any]:
    """{run, images: [{tag, series_run, steps, samples}]}: every image tag of the model's runs."""
    runs = list(model.get("series_runs") or [model["run"]])
    return {"run": model["run"], "images": logged_images.image_series(data_provider, ctx, experiment, runs)}


def image(data_provider: Any, ctx: Any, experiment: str, model: dict[str, Any], args: Any) -> tuple[bytes, str]:
    """(bytes, content type) of the image `sample` at `step` of `tag`, in the model's run `series_run`
    (default: the first of its runs that logged the tag)."""
    tag = args.get("tag")
    if not tag:
        raise BadRequest("parameter 'tag' is required", field="tag")
    runs = list(model.get("series_runs") or [model["run"]])
    series_run = args.get("series_run")
    if series_run:
        if series_run not in runs:
            raise NotFound("run %r is not one of model %r's runs (%s)" % (series_run, model["run"], ", ".join(runs)))
    else:
        holding = logged_images.image_tags(data_provider, ctx, experiment, runs)
        series_run = next((run for run in runs if tag in holding.get(run, [])), None)
        if series_run is None:
            raise NotFound("model %r logged no images with tag %r" % (model["run"], tag))
    step = step_param(args.get("step"))
    sample = int_param(args.get("sample"), "sample", default=0, minimum=0, maximum=MAX_SAMPLE)
    return logged_images.read_image(data_provider, ctx, experiment, series_run, tag, step, sample)
