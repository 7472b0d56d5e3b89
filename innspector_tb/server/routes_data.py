"""The `data` route: any stored array of a unit (weights, activations, class means, samples, labels,
predictions, statistics, histograms, attributions, attention scores and their entropy) at one step or
across steps, classes applied, run through the transform grammar.

`load_unit_data` turns a request body into the columns the transform starts from; `data` runs the
transform. Sizes are checked from the manifests before anything is read. No HTTP here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.format import attribution_methods
from innspector_tb.server import deletion_answer, routes_attention
from innspector_tb.server.params import class_selection, int_param, require_str
from innspector_tb.store.run_store import BoundRunStore

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
    "unit_statistics",
    "attention",
    "attention_entropy",
)
MAX_STEPS_PER_REQUEST = 1000
MAX_DATA_ELEMENTS = 50_000_000  # read from the manifests before anything is read
ATTRIBUTION_METHODS = attribution_methods.METHODS
ATTRIBUTION_TARGETS = attribution_methods.TARGETS


def data(store: BoundRunStore, body: Any) -> dict[str, Any]:
    """Any stored array of a unit at one step or across steps, classes applied, transformed."""
    from innspector_tb.analysis import transforms

    columns, description = load_unit_data(store, body)
    pipeline = body.get("transform", [])
    if not isinstance(pipeline, list):
        raise BadRequest("'transform' must be a list of operations")
    result = transforms.run(pipeline, columns)
    description["result"] = result
    return description


def load_unit_data(store: BoundRunStore, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
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
        columns = _filter_classes(data, labels, body.get("classes"), description)
        columns.pop("keep", None)
        return columns, description
    if kind in ("statistics", "histogram"):
        return _summary_columns(store, run, kind, unit, body, description), description
    steps, many = _steps_of(store, run, body.get("steps"))
    description["steps"] = steps
    if kind == "attributions":
        return _attribution_columns(
            store, run, unit, steps, many, labels, body.get("classes"), description
        ), description
    if kind == "class_means":
        return _class_mean_columns(store, run, unit, steps, many, body.get("classes"), description), description
    if kind == "activations":
        return _activation_columns(store, run, unit, steps, many, labels, body.get("classes"), description), description
    if kind == "weights":
        return _weight_columns(store, run, unit, steps, many, body.get("steps") == "all", description), description
    if kind == "unit_statistics":
        return _unit_statistics_columns(store, run, unit, steps, many, description), description
    if kind == "attention":
        columns, found = routes_attention.scores_columns(store, run, unit, steps, many, labels, _check_pairs)
        description.update(found)
        return columns, description
    dataset = _dataset_of(store, kind, unit, run, steps)
    _check_size(store, run, steps, dataset)
    per_step = [store.read(run, step, dataset) for step in steps]
    # predictions: one row per probe sample, so classes apply.
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


def _dataset_of(store, kind, unit, run=None, steps=()):
    if kind == "attention_entropy":
        return routes_attention.entropy_dataset(store, run, list(steps), unit)
    output = int_param(unit.get("output"), "unit.output", default=0, minimum=0, maximum=1000)
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
    values, targets = [], []
    samples = np.zeros(0, dtype=np.int64)
    for i, step in enumerate(steps):
        sample = np.asarray(store.read(run, step, "attributions/sample"), dtype=np.int64)
        if i and not np.array_equal(sample, samples):
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
    keep: np.ndarray = np.ones(samples.shape[0], dtype=np.bool_)
    if sample_labels is None:
        if classes_value not in (None, ""):
            raise BadRequest("this run's probe has no class labels to select attributions by")
    else:
        classes = [int(c) for c in np.unique(labels)]
        rows = class_selection(classes_value, classes)
        keep = np.isin(sample_labels, [classes[r] for r in rows])
        description["classes"] = [classes[r] for r in rows]
        description["class_dependent"] = True
    deletion = deletion_answer.summary(store, run, steps[-1], target, keep, info)
    description["attribution"]["deletion"] = deletion
    if deletion is None:
        why = (info.get("skipped") or {}).get("deletion")
        description["attribution"]["deletion_note"] = why or "no deletion curves were logged at step %d" % steps[-1]
    columns = {
        "value": _stack([v[keep] for v in values], many),
        "sample": samples[keep],
        "target": _stack([t[keep] for t in targets], many),
    }
    if sample_labels is not None and not many:  # as for activations: `label` pairs with a single step's rows
        columns["label"] = sample_labels[keep]
    return columns


def _check_pairs(store, run, pairs):
    """_check_size over (step, dataset) pairs (a dataset read from another step than the one asked)."""
    total = 0
    for step, dataset in pairs:
        entry = store.manifests(run).get(step, {}).get("datasets", {}).get(dataset)
        if entry is not None:
            total += int(np.prod(entry.get("shape") or [1]))
    if total > MAX_DATA_ELEMENTS:
        raise BadRequest(
            "request too large: %d elements over the limit of %d (ask for fewer steps or slice)"
            % (total, MAX_DATA_ELEMENTS)
        )


# Reduced data (docs/format.md, "Reduced data"): what a step file holds of a layer when the logging plan
# keeps less than every layer in full, and the notes that say so in the answers.


def _output_shape(store, run, layer_id, output):
    """The layer output's shape without the batch axis, from the architecture, or None."""
    try:
        arch = store.architecture(run)
    except (NotFound, BadRequest):
        return None
    for layer in arch.get("layers", []):
        if layer.get("id") == layer_id:
            shapes = layer.get("output_shapes") or []
            if output < len(shapes) and isinstance(shapes[output], list) and shapes[output]:
                return list(shapes[output][1:])
    return None


def _probe_size(store, run, step):
    plan = store.plan(run, step) or {}
    if isinstance(plan.get("probe_size"), int):
        return plan["probe_size"]
    try:
        count = store.samples_manifest(run).get("count")
        if isinstance(count, int):
            return count
    except (NotFound, BadRequest):
        pass
    labels = store.labels(run)
    return None if labels is None else int(labels.shape[0])


def pooled_note(shape):
    """ "pooled over 8x8 positions (mean per channel)" for an output of per-sample shape [8, 8, C]."""
    positions = shape[:-1] if shape else None
    per = "channel" if shape is not None and len(shape) == 3 else "unit"
    if positions and all(isinstance(d, int) and d > 0 for d in positions):
        where = "%s position%s" % ("x".join(map(str, positions)), "" if int(np.prod(positions)) == 1 else "s")
    else:
        where = "positions"
    return "pooled over %s (mean per %s)" % (where, per)


def samples_note(subset, probe):
    return "%d of %s probe samples" % (subset, probe if probe is not None else "the")


def reduced_info(store, run, step, layer_id, output, source):
    """The `reduced` object of an answer read from `source` (a store.ActivationSource), None when full."""
    if source.form == "full":
        return None
    shape = _output_shape(store, run, layer_id, output)
    if source.form == "pooled":
        info = {"form": "pooled", "note": pooled_note(shape)}
    else:
        info = {"form": "samples", "note": samples_note(len(source.rows), _probe_size(store, run, step))}
    info["stored"] = list(source.stored)
    return info


def _activation_columns(store, run, unit, steps, many, labels, classes_value, description):
    """A layer output's activations in the first form the step files hold (or unit.form), classes applied;
    `reduced` says what was read when it is not every probe sample in full."""
    layer = require_str(unit, "layer")
    output = int_param(unit.get("output"), "unit.output", default=0, minimum=0, maximum=1000)
    form = unit.get("form")
    sources = [store.activation_source(run, step, layer, output, form) for step in steps]
    if len({s.form for s in sources}) > 1:
        raise BadRequest(
            "layer %r is stored in different forms across the steps asked for (%s); ask for one form with "
            "unit.form" % (layer, ", ".join(sorted({s.form for s in sources})))
        )
    source = sources[0]
    _check_pairs(store, run, [(step, s.dataset) for step, s in zip(steps, sources, strict=True)])
    per_step = [store.read(run, step, s.dataset) for step, s in zip(steps, sources, strict=True)]
    rows = None
    row_labels = labels
    if source.form == "samples":
        rows = source.rows
        if any(not np.array_equal(s.rows, rows) for s in sources):
            raise BadRequest("the sample subset changes across the steps asked for; ask for one step at a time")
        row_labels = None
        if labels is not None and rows.size and rows.min() >= 0 and rows.max() < labels.shape[0]:
            row_labels = np.asarray(labels)[rows]
        elif labels is not None and not rows.size:
            row_labels = np.asarray(labels)[:0]
    filtered = [_filter_classes(a, row_labels, classes_value, description, all_labels=labels) for a in per_step]
    columns = {"value": _stack([f["value"] for f in filtered], many)}
    if not many and "label" in filtered[0]:
        columns["label"] = filtered[0]["label"]
    reduced = reduced_info(store, run, steps[-1], layer, output, source)
    if reduced is not None:
        if rows is not None:
            keep = filtered[0].get("keep")
            reduced["rows"] = [int(r) for r in (rows if keep is None else rows[keep])]
        description["reduced"] = reduced
    return columns


def _weight_columns(store, run, unit, steps, many, all_steps, description):
    """A variable at the steps asked for. A step whose file lacks it (weights rotate when the plan reduces
    them) is read from the newest earlier step that has it: `from_step` (or `from_steps`) and `note` say so;
    with steps "all", only the steps whose files hold it are answered."""
    layer, variable = require_str(unit, "layer"), require_str(unit, "variable")
    _require_listed_variable(store, run, layer, variable)
    sources = [store.weights_source(run, step, layer, variable) for step in steps]
    from_steps = [t for _, t in sources]
    every = (store.plan(run, steps[-1]) or {}).get("weights_every")
    cadence = " (full weights every %d logged steps)" % every if isinstance(every, int) and every > 1 else ""
    if all_steps and from_steps != list(steps):
        holding = sorted(set(from_steps))
        description["steps"] = holding
        description["note"] = "%s at %d of %d logged steps%s" % (variable, len(holding), len(steps), cadence)
        pairs = [(t, sources[0][0]) for t in holding]
    else:
        pairs = [(t, dataset) for dataset, t in sources]
        if from_steps != list(steps):
            if many:
                description["from_steps"] = from_steps
                shown = ", ".join("%d for %d" % (t, s) for s, t in zip(steps, from_steps, strict=True) if s != t)
                description["note"] = "%s from earlier steps (%s)%s" % (variable, shown, cadence)
            else:
                description["from_step"] = from_steps[0]
                description["note"] = "%s from step %d%s" % (variable, from_steps[0], cadence)
    _check_pairs(store, run, pairs)
    return {"value": _stack([store.read(run, t, dataset) for t, dataset in pairs], many)}


def _require_listed_variable(store, run, layer_id, variable):
    """Only a variable the architecture lists is read: another name ("./kernel", ".") could open the same
    dataset under an alias the manifest lacks, or a group. Runs without an architecture summary rely on
    the step file reader's own checks (plain hard-linked paths only)."""
    try:
        arch = store.architecture(run)
    except NotFound:
        return
    for layer in arch.get("layers", []):
        if layer.get("id") == layer_id:
            names = [v.get("name") for v in layer.get("variables", [])]
            if variable not in names:
                raise NotFound(
                    "layer %r has no variable %r (it has: %s)" % (layer_id, variable, ", ".join(names) or "none")
                )
            return
    raise NotFound("no layer %r in this model" % (layer_id,))


UNIT_STATISTICS_FIELDS = ("mean", "std", "min", "max", "zero_fraction")


def _unit_statistics_columns(store, run, unit, steps, many, description):
    """Per-unit statistics over the probe of a layer output, [5, units] (rows UNIT_STATISTICS_FIELDS): as
    stored, or computed from the full activations of logs written before they were stored."""
    layer = require_str(unit, "layer")
    output = int_param(unit.get("output"), "unit.output", default=0, minimum=0, maximum=1000)
    dataset = store.layer_dataset(layer, "unit_statistics" if output == 0 else "unit_statistics_%d" % output)
    description["fields"] = list(UNIT_STATISTICS_FIELDS)
    per_step = []
    for step in steps:
        if store.dataset_shape(run, step, dataset) is not None:
            per_step.append(np.asarray(store.read(run, step, dataset), dtype=np.float32))
            continue
        try:
            source = store.activation_source(run, step, layer, output, "full")
        except NotFound:
            raise NotFound(
                "run %r step %d: no unit statistics of layer %r output %d, nor full activations to compute "
                "them from" % (run, step, layer, output)
            ) from None
        _check_pairs(store, run, [(step, source.dataset)])
        per_step.append(_unit_statistics_of(store.read(run, step, source.dataset)))
    return {"value": _stack(per_step, many)}


def _unit_statistics_of(activations):
    """[5, units]: mean, std, min, max and zero fraction of each unit (last axis) over samples and positions."""
    a = np.asarray(activations, dtype=np.float64)
    flat = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(-1, 1)
    if flat.shape[0] == 0:
        return np.full((5, flat.shape[1]), np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        rows = [
            np.nanmean(flat, axis=0) if np.isfinite(flat).any() else np.full(flat.shape[1], np.nan),
            np.nanstd(flat, axis=0) if np.isfinite(flat).any() else np.full(flat.shape[1], np.nan),
            np.nanmin(flat, axis=0) if np.isfinite(flat).any() else np.full(flat.shape[1], np.nan),
            np.nanmax(flat, axis=0) if np.isfinite(flat).any() else np.full(flat.shape[1], np.nan),
            (flat == 0).mean(axis=0),
        ]
    return np.stack(rows).astype(np.float32)


def _class_mean_columns(store, run, unit, steps, many, classes_value, description):
    """Per-class mean maps of a layer (one row per selected class) from the step files; when a step file
    keeps none (a reduced layer), the per-unit class means of the event file, said in `reduced`."""
    layer = require_str(unit, "layer")
    by_step, classes = store.class_means(run, layer)
    rows = class_selection(classes_value, classes)
    description["classes"] = [classes[r] for r in rows]
    names = [store.layer_dataset(layer, "mean_class_activations/class_%s" % classes[r]) for r in rows]
    if all(store.has_dataset(run, step, name) for step in steps for name in names):
        # The size of every map, from the manifests, before anything is read.
        _check_size(store, run, steps, names)
        per_step = [np.stack([store.read(run, step, name) for name in names]) for step in steps]
        return {"value": _stack(per_step, many)}
    missing = [step for step in steps if step not in by_step]
    if missing:
        raise NotFound("run %r has no class means of %r at steps %s" % (run, layer, missing))
    shape = _output_shape(store, run, layer, 0)
    if shape is None or len(shape) > 1:  # a layer without positions: the event file's means are the maps
        description["reduced"] = {
            "form": "pooled",
            "note": "class means %s, from the event file (no per-class maps stored)" % pooled_note(shape),
        }
    return {"value": _stack([np.asarray(by_step[step])[rows] for step in steps], many)}


def _filter_classes(data, labels, classes_value, description, all_labels=None):
    """{"value", "label", "keep"} of the rows of the selected classes. `labels` are the rows' labels;
    `all_labels`, the whole probe's, name the classes (rows of a sample subset may lack some)."""
    columns = {"value": data}
    if labels is None or np.ndim(data) == 0 or data.shape[0] != labels.shape[0]:
        if classes_value not in (None, ""):
            raise BadRequest("this data does not depend on classes (no labels per sample)")
        return columns
    classes = [int(c) for c in np.unique(labels if all_labels is None else all_labels)]
    rows = class_selection(classes_value, classes)
    keep = np.isin(labels, [classes[r] for r in rows])
    description["classes"] = [classes[r] for r in rows]
    description["class_dependent"] = True
    return {"value": data[keep], "label": labels[keep], "keep": keep}


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
