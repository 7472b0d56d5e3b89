"""The `data` route: any stored array of a unit (weights, activations, class means, samples, labels,
predictions, statistics, histograms, attributions) at one step or across steps, classes applied, run
through the transform grammar.

`load_unit_data` turns a request body into the columns the transform starts from; `data` runs the
transform. Sizes are checked from the manifests before anything is read. No HTTP here.
"""

import numpy as np

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import class_selection, int_param, require_str

DATA_KINDS = (
    "weights",
    "activations",
    "class_means",
    "samples",
    "labels",
    "predictions",
    "statistics",
    "histogram",
    "attributions",
)
MAX_STEPS_PER_REQUEST = 1000
MAX_DATA_ELEMENTS = 50_000_000  # read from the manifests before anything is read
ATTRIBUTION_METHODS = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam")
ATTRIBUTION_TARGETS = ("predicted", "true")


def data(store, body):
    """Any stored array of a unit at one step or across steps, classes applied, transformed."""
    from innspector_tb.analysis import transforms

    columns, description = load_unit_data(store, body)
    pipeline = body.get("transform", [])
    if not isinstance(pipeline, list):
        raise BadRequest("'transform' must be a list of operations")
    result = transforms.run(pipeline, columns)
    description["result"] = result
    return description


def load_unit_data(store, body):
    """Returns (columns for the transform, description) of the unit and steps a data request names."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    run = store.require_run(require_str(body, "run"))
    unit = body.get("unit")
    if not isinstance(unit, dict):
        raise BadRequest("'unit' must be an object with 'kind' (one of %s)" % ", ".join(DATA_KINDS))
    kind = unit.get("kind")
    if kind not in DATA_KINDS:
        raise BadRequest("unit.kind must be one of %s, got %r" % (", ".join(DATA_KINDS), kind))
    labels = store.labels(run)
    description = {"run": run, "unit": unit}
    if kind in ("samples", "labels"):
        data = store.read(run, None, _dataset_of(store, kind, unit))
        return _filter_classes(data, labels, body.get("classes"), description), description
    if kind in ("statistics", "histogram"):
        return _summary_columns(store, run, kind, unit, body, description), description
    steps, many = _steps_of(store, run, body.get("steps"))
    description["steps"] = steps
    if kind == "attributions":
        return _attribution_columns(
            store, run, unit, steps, many, labels, body.get("classes"), description
        ), description
    if kind == "class_means":
        layer = require_str(unit, "layer")
        _, classes = store.class_means(run, layer)
        rows = class_selection(body.get("classes"), classes)
        description["classes"] = [classes[r] for r in rows]
        # The size of every map, from the manifests, before anything is read.
        _check_size(
            store,
            run,
            steps,
            [store.layer_dataset(layer, "mean_class_activations/class_%s" % classes[r]) for r in rows],
        )
        per_step = [
            np.stack(
                [
                    store.read(run, step, store.layer_dataset(layer, "mean_class_activations/class_%s" % classes[r]))
                    for r in rows
                ]
            )
            for step in steps
        ]
        return {"value": _stack(per_step, many)}, description
    dataset = _dataset_of(store, kind, unit)
    _check_size(store, run, steps, dataset)
    per_step = [store.read(run, step, dataset) for step in steps]
    if kind == "weights":
        return {"value": _stack(per_step, many)}, description
    # activations and predictions: one row per probe sample, so classes apply.
    filtered = [_filter_classes(a, labels, body.get("classes"), description) for a in per_step]
    columns = {"value": _stack([f["value"] for f in filtered], many)}
    if not many and "label" in filtered[0]:
        columns["label"] = filtered[0]["label"]
    return columns, description


def _steps_of(store, run, value):
    steps = store.steps(run)
    if value is None or value == "last":
        return [store.resolve_step(run, None)], False
    if value == "all":
        if len(steps) > MAX_STEPS_PER_REQUEST:
            raise BadRequest("run %r has %d steps; ask for at most %d" % (run, len(steps), MAX_STEPS_PER_REQUEST))
        if not steps:
            raise NotFound("run %r has no complete step yet" % run)
        return steps, True
    if isinstance(value, list):
        if not value or len(value) > MAX_STEPS_PER_REQUEST:
            raise BadRequest("'steps' must list 1 to %d steps" % MAX_STEPS_PER_REQUEST)
        return [store.resolve_step(run, int_param(v, "steps", minimum=0)) for v in value], True
    return [store.resolve_step(run, int_param(value, "steps", minimum=0))], False


def _dataset_of(store, kind, unit):
    output = int_param(unit.get("output"), "unit.output", default=0, minimum=0, maximum=1000)
    if kind == "weights":
        return store.layer_dataset(require_str(unit, "layer"), "weights/" + require_str(unit, "variable"))
    if kind == "activations":
        name = "activations" if output == 0 else "activations_%d" % output
        return store.layer_dataset(require_str(unit, "layer"), name)
    if kind == "predictions":
        return "data_samples/y_prediction" if output == 0 else "data_samples/y_prediction_%d" % output
    if kind == "samples":
        return "data_samples/x" if output == 0 else "data_samples/x_%d" % output
    if kind == "labels":
        return "data_samples/y_label"
    raise AssertionError(kind)


def _check_size(store, run, steps, datasets):
    """Refuses a request whose datasets (one name or a list) over the steps exceed MAX_DATA_ELEMENTS."""
    total = 0
    for step in steps:
        listed = store.manifests(run).get(step, {}).get("datasets", {})
        for dataset in [datasets] if isinstance(datasets, str) else datasets:
            entry = listed.get(dataset)
            if entry is not None:
                total += int(np.prod(entry.get("shape") or [1]))
    if total > MAX_DATA_ELEMENTS:
        raise BadRequest(
            "request too large: %d elements over the limit of %d (ask for fewer steps or slice)"
            % (total, MAX_DATA_ELEMENTS)
        )


def _attribution_columns(store, run, unit, steps, many, labels, classes_value, description):
    """Attribution maps of the attributed probe samples: value [n, ...] (or [steps, n, ...]) with the
    columns sample (probe row), label (true class) and target (the class attributed), classes applied."""
    method = require_str(unit, "method")
    if method not in ATTRIBUTION_METHODS:
        raise BadRequest("unit.method must be one of %s, got %r" % (", ".join(ATTRIBUTION_METHODS), method))
    target = unit.get("target", "predicted")
    if target not in ATTRIBUTION_TARGETS:
        raise BadRequest("unit.target must be one of %s, got %r" % (", ".join(ATTRIBUTION_TARGETS), target))
    dataset = "attributions/%s/%s" % (method, target)
    for step in steps:
        if dataset not in store.manifests(run).get(step, {}).get("datasets", {}):
            info = store.attribution_info(run, step)
            why = (info.get("skipped") or {}).get(method) or (info.get("skipped") or {}).get(target)
            raise NotFound(
                "run %r has no %s attributions for the %s class at step %d%s"
                % (run, method, target, step, ": " + why if why else "")
            )
    _check_size(store, run, steps, dataset)
    values, samples, targets = [], None, []
    for step in steps:
        sample = np.asarray(store.read(run, step, "attributions/sample"), dtype=np.int64)
        if samples is not None and not np.array_equal(sample, samples):
            raise BadRequest("the attributed samples change across the steps asked for; ask for one step at a time")
        samples = sample
        values.append(store.read(run, step, dataset))
        targets.append(np.asarray(store.read(run, step, "attributions/class/" + target), dtype=np.int64))
    info = store.attribution_info(run, steps[-1])
    description["attribution"] = {
        "score": info.get("score"),
        "grad_cam_layer": info.get("grad_cam_layer") or None,
        "options": info.get("options") or {},
    }
    sample_labels = None
    if labels is not None and samples.size and samples.max() < labels.shape[0] and samples.min() >= 0:
        sample_labels = np.asarray(labels, dtype=np.int64)[samples]
    keep = np.ones(samples.shape[0], dtype=bool)
    if sample_labels is None:
        if classes_value not in (None, ""):
            raise BadRequest("this run's probe has no class labels to select attributions by")
    else:
        classes = [int(c) for c in np.unique(labels)]
        rows = class_selection(classes_value, classes)
        keep = np.isin(sample_labels, [classes[r] for r in rows])
        description["classes"] = [classes[r] for r in rows]
        description["class_dependent"] = True
    columns = {
        "value": _stack([v[keep] for v in values], many),
        "sample": samples[keep],
        "target": _stack([t[keep] for t in targets], many),
    }
    if sample_labels is not None and not many:  # as for activations: `label` pairs with a single step's rows
        columns["label"] = sample_labels[keep]
    return columns


def _filter_classes(data, labels, classes_value, description):
    columns = {"value": data}
    if labels is None or np.ndim(data) == 0 or data.shape[0] != labels.shape[0]:
        if classes_value not in (None, ""):
            raise BadRequest("this data does not depend on classes (no labels per sample)")
        return columns
    classes = [int(c) for c in np.unique(labels)]
    rows = class_selection(classes_value, classes)
    keep = np.isin(labels, [classes[r] for r in rows])
    description["classes"] = [classes[r] for r in rows]
    description["class_dependent"] = True
    return {"value": data[keep], "label": labels[keep]}


def _stack(arrays, many):
    if not many:
        return arrays[0]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise BadRequest("the unit's shape changes across the steps asked for: %s" % sorted(shapes))
    return np.stack(arrays)


def _summary_columns(store, run, kind, unit, body, description):
    unit_id = require_str(unit, "unit")
    source = store.unit_stats(run) if kind == "statistics" else store.histograms(run)
    if unit_id not in source:
        raise NotFound("run %r has no %s of unit %r" % (run, kind, unit_id))
    by_step = source[unit_id]
    steps = sorted(by_step)
    requested = body.get("steps")
    if requested not in (None, "all"):
        wanted, _ = _steps_of(store, run, requested)
        missing = [s for s in wanted if s not in by_step]
        if missing:
            raise NotFound("unit %r has no %s at steps %s" % (unit_id, kind, missing))
        steps = wanted
    description["steps"] = steps
    if kind == "statistics":
        from innspector_tb.format import stats as stats_lib

        description["fields"] = list(stats_lib.STAT_FIELDS)
        return {"value": np.array([[by_step[s].get(f, np.nan) for f in stats_lib.STAT_FIELDS] for s in steps])}
    return {"value_%d" % s: by_step[s] for s in steps} if len(steps) > 1 else {"value": by_step[steps[0]]}
