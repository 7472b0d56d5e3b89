"""The models of an experiment, read through TensorBoard's data provider.

One run directory holds one model. A run whose logs cannot be read is listed
with its error, never hidden and never allowed to break the other runs.
"""

from typing import Any

import numpy as np
from tensorboard.data import provider as provider_lib

from innspector_tb.format import attribution_methods, log_checks, metadata

# Read every point of the few small tags a listing needs.
_ALL_POINTS = 1 << 30


def _check_versions(series_by_tag):
    for series in series_by_tag.values():
        metadata.parse_plugin_metadata(series.plugin_content)


def list_models(data_provider, ctx, experiment_id, with_metrics=True):
    """Returns the models (runs with iNNspector data) as JSON-safe dicts, sorted by run.

    `with_metrics=False` leaves `latest_metrics` empty: the metrics are
    TensorBoard scalars and change on their own schedule (see latest_metrics).
    """
    tensors = data_provider.list_tensors(ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME)
    if not tensors:
        return []
    wanted = [
        metadata.HEADER_TAG,
        metadata.RUNTIME_TAG,
        metadata.CHECKPOINT_TAG,
        metadata.ARCHITECTURE_TAG,
        metadata.SAMPLES_TAG,
    ]
    data = data_provider.read_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        downsample=_ALL_POINTS,
        run_tag_filter=provider_lib.RunTagFilter(runs=sorted(tensors), tags=wanted),
    )
    scalars = latest_metrics(data_provider, ctx, experiment_id, sorted(tensors)) if with_metrics else {}
    plans = _latest_plans(data_provider, ctx, experiment_id, tensors)
    entries = [_model_entry(run, tensors[run], data.get(run, {}), scalars.get(run, {})) for run in sorted(tensors)]
    for entry in entries:
        summary = _plan_summary(plans.get(entry["run"]))
        if summary is not None:  # logs written before plans: no field, every array is kept in full
            entry["plan"] = summary
    return entries


def _latest_plans(data_provider, ctx, experiment_id, tensors):
    """{run: the newest `innspector/plan` datum} of the runs that have one (the last point only: plans are
    written at every logged step and only the layers' forms matter here, which do not change)."""
    runs = sorted(run for run, tags in tensors.items() if metadata.PLAN_TAG in tags)
    if not runs:
        return {}
    data = data_provider.read_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=metadata.PLUGIN_NAME,
        downsample=1,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=[metadata.PLAN_TAG]),
    )
    result = {}
    for run, by_tag in data.items():
        points = by_tag.get(metadata.PLAN_TAG) or []
        if points:
            result[run] = max(points, key=lambda d: d.step)
    return result


def _plan_summary(datum):
    """What the tab needs of a run's logging plan (docs/format.md, "Reduced data"), or None without one:
    whether data are reduced, the notes, and the layers not kept in full with what they keep."""
    if datum is None:
        return None
    try:
        plan = metadata.json_payload(datum)
    except (ValueError, UnicodeDecodeError):
        return None
    layers = plan.get("layers") if isinstance(plan.get("layers"), dict) else {}
    reduced_layers = {}
    for layer_id, entry in layers.items():
        if not isinstance(entry, dict) or entry.get("activations") == "full":
            continue
        form = entry.get("activations")
        reduced_layers[str(layer_id)] = {
            "activations": form if form in ("pooled", "none") else "none",
            "sample_maps": bool(entry.get("sample_maps")),
            "class_maps": bool(entry.get("class_maps")),
        }
    every = plan.get("weights_every")
    log_every = plan.get("log_every")  # steps paced into the time budget (capture/step_pacing.py)
    probe = plan.get("probe_size")
    subset = plan.get("subset")
    return {
        "reduced": bool(plan.get("reduced")),
        "notes": [str(n) for n in plan.get("notes", []) if isinstance(n, str)]
        if isinstance(plan.get("notes"), list)
        else [],
        "probe_size": probe if isinstance(probe, int) else None,
        "subset_size": len(subset) if isinstance(subset, list) else 0,
        "weights_every": every if isinstance(every, int) and every > 0 else 1,
        "log_every": log_every if isinstance(log_every, int) and log_every > 0 else 1,
        "reduced_layers": reduced_layers,
    }


def _model_entry(run, series_by_tag, data, metrics):
    entry = {
        "run": run,
        "id": None,
        "name": run,
        "label": run,
        "parents": [],
        "hparams": {},
        "steps": [],
        "params": None,
        "runtime": None,
        "layer_count": None,
        "classes": [],
        "glyph": [],
        "attributions": None,
        "latest_metrics": metrics,
        "errors": [],
    }
    try:
        _check_versions(series_by_tag)
    except metadata.MetadataError as e:
        entry["errors"].append(str(e))
        return entry
    samples = data.get(metadata.SAMPLES_TAG, [])
    if samples:
        # The class names are in the samples manifest: the class selector needs them.
        try:
            manifest = metadata.json_payload(samples[-1])
            entry["classes"] = [str(c) for c in manifest.get("class_names", [])]
            if isinstance(manifest.get("vocabulary"), list):
                entry["vocabulary_size"] = len(manifest["vocabulary"])
        except (ValueError, UnicodeDecodeError, AttributeError) as e:
            entry["errors"].append("unreadable samples manifest: %s" % e)
    headers = data.get(metadata.HEADER_TAG, [])
    if not headers:
        entry["errors"].append("no iNNspector header in this run (yet)")
    else:
        try:
            head = log_checks.check_header(metadata.json_payload(headers[-1]))
            entry.update({k: head.get(k, entry[k]) for k in ("id", "name", "label", "parents", "hparams")})
        except (ValueError, UnicodeDecodeError) as e:
            entry["errors"].append("unreadable header: %s" % e)
    architectures = data.get(metadata.ARCHITECTURE_TAG, [])
    if architectures:
        try:
            arch = log_checks.check_architecture(metadata.json_payload(architectures[-1]))
            layers = [
                layer for layer in arch.get("layers", []) if isinstance(layer, dict) and not layer.get("is_input")
            ]
            entry["layer_count"] = len(layers)
            entry["glyph"] = glyph_of(layers)
            entry["params"] = arch.get("params")
        except (ValueError, UnicodeDecodeError) as e:
            entry["errors"].append("unreadable architecture: %s" % e)
    steps = set()
    for datum in data.get(metadata.CHECKPOINT_TAG, []):
        steps.add(int(datum.step))
    entry["attributions"] = _attributions(data.get(metadata.CHECKPOINT_TAG, []))
    visualisations = _visualisations(data.get(metadata.CHECKPOINT_TAG, []))
    if visualisations:
        entry["feature_visualisations"] = visualisations
    if not steps:
        for series in series_by_tag.values():
            steps.add(int(series.max_step))
    entry["steps"] = sorted(steps)
    runtimes = data.get(metadata.RUNTIME_TAG, [])
    if runtimes:
        try:
            entry["runtime"] = metadata.json_payload(runtimes[-1])
            entry["runtime"]["step"] = int(runtimes[-1].step)
            if entry["runtime"].get("params"):
                entry["params"] = entry["runtime"]["params"]
        except (ValueError, UnicodeDecodeError) as e:
            entry["errors"].append("unreadable runtime statistics: %s" % e)
    return entry


GLYPH_LENGTH = 48
_ATTRIBUTION_METHODS = attribution_methods.METHODS


def _known_first(known):
    """A sort key: the names of `known` in its order, then the others alphabetically."""
    return lambda name: (known.index(name) if name in known else len(known), name)


def _visualisations(manifests):
    """{steps, targets (of the newest)} of the steps holding feature visualisations, or None."""
    found = {}
    for datum in manifests:
        try:
            datasets = metadata.json_payload(datum).get("datasets", {})
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        images = datasets.get("feature_visualisations/images") if isinstance(datasets, dict) else None
        if isinstance(images, dict):
            found[int(datum.step)] = int((images.get("shape") or [0])[0])
    if not found:
        return None
    return {"steps": sorted(found), "targets": found[max(found)]}


def _attributions(manifests):
    """What the newest step with attribution maps holds: {methods, targets, samples, step}, or None."""
    for datum in sorted(manifests, key=lambda d: int(d.step), reverse=True):
        try:
            datasets = metadata.json_payload(datum).get("datasets", {})
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        if not isinstance(datasets, dict) or not isinstance(datasets.get("attributions/sample"), dict):
            continue
        methods, targets = {}, {}
        for name in datasets:
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "attributions" and parts[1] not in ("class", "deletion"):
                methods[parts[1]] = targets[parts[2]] = True
        shape = datasets["attributions/sample"].get("shape") or [0]
        return {
            "methods": sorted(methods, key=_known_first(_ATTRIBUTION_METHODS)),
            "targets": sorted(targets, key=_known_first(("predicted", "true"))),
            "samples": int(shape[0]),
            "step": int(datum.step),
        }
    return None


def glyph_of(layers):
    """The abstract architecture drawn in a model's box: layer types and sizes, at most GLYPH_LENGTH."""
    if len(layers) > GLYPH_LENGTH:
        # Evenly spaced samples keep the shape of a long model (where the convolutions are, where dense).
        layers = [layers[round(i * (len(layers) - 1) / (GLYPH_LENGTH - 1))] for i in range(GLYPH_LENGTH)]
    glyph = []
    for layer in layers:
        params = layer.get("params") if isinstance(layer.get("params"), dict) else {}
        trainable = params.get("trainable", 0)
        glyph.append(
            {
                "type": str(layer.get("type", "?")),
                "params": int(trainable) if isinstance(trainable, (int, float)) else 0,
            }
        )
    return glyph


def latest_metrics(data_provider, ctx, experiment_id, runs, plain_runs=frozenset()):
    """{run: {metric: {"step", "value"}}} of the last point of each metrics/ scalar, and of every scalar of
    the plain runs among `runs` (named by plain_runs.series_name)."""
    from innspector_tb.store import plain_runs as plain_runs_lib

    result: dict[str, dict[str, Any]] = {}
    for run, metrics in plain_runs_lib.read_metric_points(data_provider, ctx, experiment_id, runs, plain_runs).items():
        for name, points in metrics.items():
            if points:
                last = max(points, key=lambda p: p.step)
                value = float(last.value)
                result.setdefault(run, {})[name] = {
                    "step": int(last.step),
                    "value": value if np.isfinite(value) else str(value),
                }
    return result
