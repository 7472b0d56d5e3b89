"""Plain runs: the runs of a logdir that hold no iNNspector data (Keras' own TensorBoard callback, a
custom loop's tf.summary calls), listed as models too, so existing runs compare with ours.

A plain model gets a synthesized header: `run` is the model's key (the run, or for Keras' callback the
directory holding its `train` and `validation` sub-runs, folded into one model), `id` is
`plain:<key>`, name and label from the path, hyper-parameters from TensorBoard's HParams data when the
run has them. `series_runs` are the TensorBoard runs whose scalars are the model's metric series. A key
that is also one of our runs (the header `innspector-tb link` writes) keeps that header and takes its
sub-runs as series. A model whose runs logged images (tf.summary.image) lists their tags in
`image_tags` (read by store/logged_images.py).
"""

from __future__ import annotations

import posixpath
from typing import Any

from tensorboard.data import provider as provider_lib

from innspector_tb import fs
from innspector_tb.format import links

# The sub-runs Keras' TensorBoard callback writes under its log_dir, and the prefix their metrics get
# in Keras' own logs (loss, val_loss): the same names our metrics/ scalars carry.
SPLITS = {"train": "", "validation": "val_"}
PLAIN_ID_PREFIX = "plain:"
_HPARAMS_PLUGIN = "hparams"
_SESSION_START_TAG = "_hparams_/session_start_info"


def model_key(run: str) -> str:
    """The model a TensorBoard run belongs to: the parent of a `train`/`validation` sub-run, else itself."""
    parent, name = posixpath.split(run)
    return parent if name in SPLITS and parent else run


def plain_id(key: str) -> str:
    return PLAIN_ID_PREFIX + key


def series_name(run: str, tag: str) -> str:
    """A plain run's scalar tag as a metric name: Keras' `epoch_` dropped, `val_` for a validation run."""
    name = tag[len("epoch_") :] if tag.startswith("epoch_") else tag
    return SPLITS.get(posixpath.basename(run), "") + name


def read_metric_points(data_provider, ctx, experiment_id, runs, plain_runs=frozenset(), downsample=1):
    """{run: {metric: [ScalarDatum, ...]}}: our runs' metrics/ scalars, and every scalar of the plain runs
    among `runs`, named as Keras names its logs (series_name: epoch_loss of a validation run is val_loss)."""
    from innspector_tb.format import metadata

    if not runs:
        return {}
    listing = data_provider.list_scalars(
        ctx, experiment_id=experiment_id, plugin_name="scalars", run_tag_filter=provider_lib.RunTagFilter(runs=runs)
    )
    tags = sorted(
        {
            tag
            for run, by_tag in listing.items()
            for tag in by_tag
            if run in plain_runs or tag.startswith(metadata.METRICS_TAG_PREFIX)
        }
    )
    if not tags:
        return {}
    data = data_provider.read_scalars(
        ctx,
        experiment_id=experiment_id,
        plugin_name="scalars",
        downsample=downsample,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=tags),
    )
    result: dict[str, dict[str, Any]] = {}
    for run, by_tag in data.items():
        for tag, points in by_tag.items():
            if run in plain_runs:
                name = series_name(run, tag)
            elif tag.startswith(metadata.METRICS_TAG_PREFIX):
                name = tag[len(metadata.METRICS_TAG_PREFIX) :]
            else:
                continue
            result.setdefault(run, {})[name] = points
    return result


def plain_models(
    data_provider: provider_lib.DataProvider, ctx: Any, experiment_id: str, our_runs: list[str]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """(entries of the plain models, {our run: plain sub-runs folded into it}), both sorted by run."""
    ours = set(our_runs)
    runs = sorted(r.run_name for r in data_provider.list_runs(ctx, experiment_id=experiment_id))
    groups: dict[str, list[str]] = {}
    for run in runs:
        if run in ours:
            continue
        groups.setdefault(model_key(run), []).append(run)
    folded = {key: members for key, members in groups.items() if key in ours}
    plain = {key: members for key, members in groups.items() if key not in ours}
    scalars = data_provider.list_scalars(
        ctx, experiment_id=experiment_id, plugin_name="scalars", run_tag_filter=provider_lib.RunTagFilter(runs=runs)
    )
    hparams = _session_hparams(data_provider, ctx, experiment_id, [r for members in plain.values() for r in members])
    steps = _logged_steps(
        data_provider, ctx, experiment_id, scalars, [r for members in plain.values() for r in members]
    )
    entries = [_entry(key, members, steps, hparams) for key, members in sorted(plain.items())]
    for entry in entries:
        _add_graph_summary(entry, data_provider, ctx, experiment_id)
    return entries, dict(sorted(folded.items()))


def _add_graph_summary(entry, data_provider, ctx, experiment_id):
    """layer_count and glyph of a plain model whose runs logged a Keras model config (its graph opens)."""
    from innspector_tb.store import keras_config
    from innspector_tb.store import models as models_lib

    architecture = keras_config.read_keras_architecture(data_provider, ctx, experiment_id, entry["series_runs"])
    if architecture is None:
        return
    layers = [layer for layer in architecture["layers"] if not layer.get("is_input")]
    entry["layer_count"] = len(layers)
    entry["glyph"] = models_lib.glyph_of(layers)


MAX_LISTED_STEPS = 1000


def _logged_steps(data_provider, ctx, experiment_id, scalars, runs):
    """{run: steps} of the plain runs, from the points of one scalar tag per run (downsampled to
    MAX_LISTED_STEPS): the steps the step selectors offer."""
    first_tags = {run: sorted(scalars[run])[0] for run in runs if scalars.get(run)}
    if not first_tags:
        return {}
    data = data_provider.read_scalars(
        ctx,
        experiment_id=experiment_id,
        plugin_name="scalars",
        downsample=MAX_LISTED_STEPS,
        run_tag_filter=provider_lib.RunTagFilter(runs=sorted(first_tags), tags=sorted(set(first_tags.values()))),
    )
    return {run: sorted({int(p.step) for p in data.get(run, {}).get(tag, [])}) for run, tag in first_tags.items()}


def _entry(key, members, logged_steps, hparams):
    steps = sorted({step for run in members for step in logged_steps.get(run, [])})
    values: dict[str, Any] = {}
    for run in members:
        values.update(hparams.get(run, {}))
    return {
        "run": key,
        "id": plain_id(key),
        "name": posixpath.basename(key) or key,
        "label": key,
        "parents": [],
        "hparams": values,
        "steps": steps,
        "params": None,
        "runtime": None,
        "layer_count": None,
        "classes": [],
        "glyph": [],
        "attributions": None,
        "latest_metrics": {},
        "errors": [],
        "plain": True,
        "series_runs": list(members),
    }


def _session_hparams(data_provider, ctx, experiment_id, runs):
    """{run: {name: value}} from TensorBoard's HParams session start info of the runs that have one."""
    if not runs:
        return {}
    try:
        from tensorboard.plugins.hparams import plugin_data_pb2
    except ImportError:  # an older TensorBoard without the HParams plugin's protos: no hparams
        return {}
    listing = data_provider.list_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=_HPARAMS_PLUGIN,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=[_SESSION_START_TAG]),
    )
    result = {}
    for run, by_tag in listing.items():
        series = by_tag.get(_SESSION_START_TAG)
        if series is None:
            continue
        data = plugin_data_pb2.HParamsPluginData()
        try:
            data.ParseFromString(series.plugin_content)
        except Exception:  # a damaged or foreign plugin payload: this run just has no hparams
            continue
        values = {}
        for name, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind == "number_value":
                values[name] = value.number_value
            elif kind == "string_value":
                values[name] = value.string_value
            elif kind == "bool_value":
                values[name] = value.bool_value
        result[run] = values
    return result


def with_plain_models(
    our_models: list[dict[str, Any]],
    data_provider: provider_lib.DataProvider,
    ctx: Any,
    experiment_id: str,
    logdir: str | None = None,
) -> list[dict[str, Any]]:
    """Our models (each marked `plain: false`, with its series runs) and the plain ones, sorted by run,
    each with the parents its link file declares (format/links.py, `innspector-tb link`) added.

    One of our runs with no step data of its own whose header only names it (no architecture, no
    runtime) and that folds plain sub-runs is plain too: its header gives its identity and lineage, the
    sub-runs its metrics.
    """
    plain, folded = plain_models(data_provider, ctx, experiment_id, [m["run"] for m in our_models])
    result = []
    for model in our_models:
        model = dict(model)
        extra = folded.get(model["run"], [])
        model["series_runs"] = [model["run"]] + extra
        model["plain"] = bool(extra) and model.get("layer_count") is None and not model.get("runtime")
        if model["plain"]:
            model["errors"] = [e for e in model["errors"] if "header" in e]  # no architecture is expected
        result.append(model)
    models = sorted(result + plain, key=lambda m: m["run"])
    _add_image_tags(models, data_provider, ctx, experiment_id)
    if logdir:
        for model in models:
            _add_linked_parents(model, logdir)
    return models


def _add_image_tags(models, data_provider, ctx, experiment_id):
    """`image_tags` of each model whose runs logged images (tf.summary.image): the Logged Images tool's."""
    from innspector_tb.store import logged_images

    runs = sorted({run for model in models for run in model["series_runs"]})
    tags = logged_images.image_tags(data_provider, ctx, experiment_id, runs)
    for model in models:
        found = sorted({tag for run in model["series_runs"] for tag in tags.get(run, [])})
        if found:
            model["image_tags"] = found


def link_versions(logdir: str | None, runs: list[str]) -> tuple[Any, ...]:
    """(run, size, mtime) of each local link file among the runs' model keys: the models' cache key
    holds it, so a link shows at once. Remote logdirs: links show with the next change of any run."""
    import os

    if not logdir or not fs.is_local(logdir):
        return ()
    result = []
    for key in sorted({model_key(run) for run in runs}):
        try:
            stat = os.stat(fs.local_path(links.link_path(fs.join(logdir, key) if key != "." else logdir)))
        except OSError:
            continue
        result.append((key, stat.st_size, stat.st_mtime_ns))
    return tuple(result)


def _add_linked_parents(model, logdir):
    run_dir = logdir if model["run"] in (".", "") else fs.join(logdir, model["run"])
    try:
        parents = links.read_parents(run_dir)
    except links.LinkError as e:
        model["errors"] = list(model["errors"]) + [str(e)]
        return
    except OSError:
        return
    if parents:
        model["parents"] = list(dict.fromkeys(list(model.get("parents") or []) + parents))
