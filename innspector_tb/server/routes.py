"""The answers of the plugin's routes, as plain functions over a BoundRunStore.

Each takes validated request values and returns a JSON-safe dict, or raises
errors.NotFound (404) / errors.BadRequest (400). No HTTP here.
"""

import math

import numpy as np

from innspector_tb.analysis import classification
from innspector_tb.analysis import neurons as neurons_lib
from innspector_tb.errors import BadRequest, NotFound

MAX_K = 1000
MAX_STEPS_PER_REQUEST = 1000


# Parameter parsing: query strings and JSON bodies are untrusted.

def int_param(value, name, default=None, minimum=None, maximum=None):
    if value is None or value == "":
        if default is None:
            raise BadRequest("parameter %r is required" % name)
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise BadRequest("parameter %r must be an integer, got %r" % (name, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest("parameter %r must be an integer, got %r" % (name, value))
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        raise BadRequest("parameter %r must be within [%s, %s], got %d" % (name, minimum, maximum, number))
    return number


def step_param(value):
    """None/"last" for the last complete step, else a non-negative integer."""
    if value is None or value == "" or value == "last":
        return None
    return int_param(value, "step", minimum=0, maximum=2**62)


def list_param(value, name):
    """A comma-separated list (query string) or a JSON list of strings or ints; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [item for item in value.split(",") if item != ""]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return value
    raise BadRequest("parameter %r must be a list of names" % name)


def class_selection(value, classes):
    """Indices into `classes` of the selected classes (all when absent)."""
    selected = list_param(value, "classes")
    if selected is None:
        return list(range(len(classes)))
    if not selected:
        raise BadRequest("select at least one class (or leave 'classes' out for all)")
    known = {str(c): i for i, c in enumerate(classes)}
    rows = []
    for item in selected:
        if str(item) not in known:
            raise BadRequest("unknown class %r; classes: %s" % (item, ", ".join(map(str, classes))))
        rows.append(known[str(item)])
    return sorted(set(rows))


def json_number(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# Routes.

def graph(store, run):
    """The L2 graph: layers with inner op graphs, edges, namespaces."""
    arch = store.architecture(store.require_run(run))
    return {"run": run, "architecture": arch}


def _layer(arch, layer_id):
    for layer in arch.get("layers", []):
        if layer.get("id") == layer_id:
            return layer
    raise NotFound("no layer %r in this model" % (layer_id,))


def _predecessor(arch, layer_id):
    for edge in arch.get("edges", []):
        if edge.get("to") == layer_id and edge.get("to_input", 0) == 0:
            return edge.get("from")
    return None


def _class_counts(store, run, classes):
    labels = store.labels(run)
    if labels is None:
        return np.ones(len(classes))
    counts = np.bincount(np.asarray(labels, dtype=np.int64).clip(min=0))
    return np.array([counts[int(c)] if int(c) < counts.size else 0 for c in classes], dtype=np.float64)


def _means_at(store, run, layer_id, step, rows_param):
    by_step, classes = store.class_means(run, layer_id)
    if step not in by_step:
        raise NotFound("run %r has no class means of %r at step %d" % (run, layer_id, step))
    rows = class_selection(rows_param, classes)
    counts = _class_counts(store, run, classes)
    return by_step[step], classes, rows, neurons_lib.selected_means(by_step[step], counts, rows)


def _keep_param(value, units):
    """`keep`: comma-separated neuron indices of the layer to keep in the L1 view (at most 100)."""
    if value in (None, ""):
        return ()
    parts = str(value).split(",")
    if len(parts) > 100:
        raise BadRequest("keep: at most 100 neurons")
    try:
        indices = [int(p) for p in parts]
    except ValueError:
        raise BadRequest("keep must be comma-separated neuron indices, got %r" % (value,))
    outside = [i for i in indices if not 0 <= i < units]
    if outside:
        raise BadRequest("keep: neuron(s) %s outside the layer's %d units" % (outside, units))
    return tuple(indices)


def neurons(store, run, layer_id, step=None, classes=None, k=neurons_lib.DEFAULT_K, keep=None):
    """The L1 data of a layer and its predecessor under a class selection."""
    run = store.require_run(run)
    arch = store.architecture(run)
    layer = _layer(arch, layer_id)
    step = store.resolve_step(run, step)
    matrix, class_names, rows, layer_means = _means_at(store, run, layer_id, step, classes)
    previous_id = _predecessor(arch, layer_id)
    previous_means = np.full(0, np.nan)
    if previous_id is not None:
        try:
            previous_means = _means_at(store, run, previous_id, step, classes)[3]
        except NotFound:
            previous_means = None  # e.g. an InputLayer: no activations logged
    signed = magnitude = None
    variables = [v.get("name") for v in layer.get("variables", [])]
    units_in = None if previous_means is None else previous_means.size
    if "kernel" in variables:
        kernel = store.read(run, step, store.layer_dataset(layer_id, "weights/kernel"))
        units_in = kernel.shape[-2] if kernel.ndim >= 2 else units_in
        if previous_means is None or previous_means.size != units_in:
            previous_means = np.full(units_in, np.nan)
        try:
            signed, magnitude = neurons_lib.aggregate_kernel(kernel, units_in, layer_means.size)
        except ValueError as e:
            raise BadRequest("layer %r: %s" % (layer_id, e))
    if previous_means is None:
        previous_means = np.full(0, np.nan)
    kept = _keep_param(keep, layer_means.size)
    view = neurons_lib.l1_view(layer_means, previous_means, signed, magnitude, k=k, keep=kept)
    result = {
        "run": run,
        "step": step,
        "layer": layer_id,
        "previous_layer": previous_id,
        "classes": class_names,
        "selected_classes": [class_names[r] for r in rows],
        "k": k,
        "neurons_by_classes": {
            "classes": class_names,
            "matrix": [[json_number(v) for v in row] for row in np.asarray(matrix, dtype=np.float64)],
        },
    }
    result.update(view)
    result["class_maps"] = _class_maps(store, run, step, layer_id, layer, rows, class_names,
                                       [n["index"] for n in view["layer"]["neurons"]])
    return result


def _class_maps(store, run, step, layer_id, layer, rows, class_names, kept, max_elements=500_000):
    """Per-class mean maps [h, w] of the kept neurons of an image-shaped (4-D) activation."""
    shapes = layer.get("output_shapes") or []
    if not shapes or len(shapes[0] or []) != 4:
        return None
    height, width = shapes[0][1], shapes[0][2]
    if not height or not width or len(rows) * len(kept) * height * width > max_elements:
        return None
    maps = {}
    for row in rows:
        name = class_names[row]
        try:
            data = store.read(run, step, store.layer_dataset(layer_id, "mean_class_activations/class_%s" % name))
        except NotFound:
            continue
        maps[name] = {str(i): [[json_number(v) for v in line] for line in data[..., i]] for i in kept}
    return maps


def metrics(store, provider_reader, runs):
    """Metric series (TensorBoard scalars) and, per step, confusion matrix and class metrics."""
    runs = runs or store.runs()
    for run in runs:
        store.require_run(run)
    series = provider_reader(runs)
    result = {"runs": {}}
    for run in runs:
        entry = {"series": series.get(run, {}), "classification": {}}
        labels = store.labels(run)
        if labels is not None:
            for step in store.steps(run):
                try:
                    predictions = store.read(run, step, "data_samples/y_prediction")
                    predicted = classification.predicted_classes(predictions)
                except (NotFound, BadRequest, ValueError):
                    continue
                if predicted.shape[0] != labels.shape[0]:
                    continue
                # Every class that is a label or a prediction: a prediction outside the
                # probe's labels is a mistake to count, not a sample to drop.
                classes = sorted({int(c) for c in np.unique(labels)} | {int(c) for c in np.unique(predicted)})
                entry["classification"][str(step)] = classification.confusion(labels, predicted, classes)
        result["runs"][run] = entry
    return result


# The data route.

DATA_KINDS = ("weights", "activations", "class_means", "samples", "labels", "predictions", "statistics", "histogram",
              "attributions")
MAX_DATA_ELEMENTS = 50_000_000


def _require_str(body, key, required=True):
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest("%r must be a non-empty string" % key)
    return value


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
        return store.layer_dataset(_require_str(unit, "layer"), "weights/" + _require_str(unit, "variable"))
    if kind == "activations":
        name = "activations" if output == 0 else "activations_%d" % output
        return store.layer_dataset(_require_str(unit, "layer"), name)
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
        raise BadRequest("request too large: %d elements over the limit of %d (ask for fewer steps or slice)"
                         % (total, MAX_DATA_ELEMENTS))


def load_unit_data(store, body):
    """Returns (columns for the transform, description) of the unit and steps a data request names."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    run = store.require_run(_require_str(body, "run"))
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
        return _attribution_columns(store, run, unit, steps, many, labels, body.get("classes"), description), \
            description
    if kind == "class_means":
        layer = _require_str(unit, "layer")
        _, classes = store.class_means(run, layer)
        rows = class_selection(body.get("classes"), classes)
        description["classes"] = [classes[r] for r in rows]
        # The size of every map, from the manifests, before anything is read.
        _check_size(store, run, steps, [store.layer_dataset(layer, "mean_class_activations/class_%s" % classes[r])
                                        for r in rows])
        per_step = [np.stack([store.read(run, step, store.layer_dataset(layer, "mean_class_activations/class_%s"
                                                                           % classes[r])) for r in rows])
                    for step in steps]
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


ATTRIBUTION_METHODS = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam")
ATTRIBUTION_TARGETS = ("predicted", "true")


def _attribution_columns(store, run, unit, steps, many, labels, classes_value, description):
    """Attribution maps of the attributed probe samples: value [n, ...] (or [steps, n, ...]) with the
    columns sample (probe row), label (true class) and target (the class attributed), classes applied."""
    method = _require_str(unit, "method")
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
            raise NotFound("run %r has no %s attributions for the %s class at step %d%s"
                           % (run, method, target, step, ": " + why if why else ""))
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
    description["attribution"] = {"score": info.get("score"), "grad_cam_layer": info.get("grad_cam_layer") or None,
                                  "options": info.get("options") or {}}
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
    columns = {"value": _stack([v[keep] for v in values], many),
               "sample": samples[keep],
               "target": _stack([t[keep] for t in targets], many)}
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
    unit_id = _require_str(unit, "unit")
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


# Lineage, interestingness, structures and lint.

def _architectures(store, runs):
    """{run: architecture} of the runs whose architecture reads (others are left out)."""
    result = {}
    for run in runs:
        try:
            result[run] = store.architecture(run)
        except (NotFound, BadRequest):
            continue
    return result


def tree(store, models):
    from innspector_tb.store import lineage

    def compute():
        runs = [m["run"] for m in models]
        result = lineage.build_tree(models, _architectures(store, runs))
        result["models"] = [{"run": m["run"], "id": m["id"], "errors": m["errors"]} for m in models]
        return result

    return store.cached("tree", compute)


def _run_of_id(models):
    return {m["id"]: m["run"] for m in models if m.get("id")}


def _experiments_by_run(models, tree_result):
    experiment_of_id = {}
    for experiment in tree_result.get("experiments", []):
        for model_id in experiment.get("models", []):
            experiment_of_id[model_id] = experiment.get("id")
    return {m["run"]: experiment_of_id.get(m["id"], m["run"]) for m in models}


def unit_series(store, run):
    """The interestingness input of one run: a UnitSeries per unit with statistics."""
    from innspector_tb.analysis import interestingness

    try:
        arch = store.architecture(run)
    except (NotFound, BadRequest):
        arch = {}
    layer_of_unit, type_of_layer = {}, {}
    for layer in arch.get("layers", []):
        type_of_layer[layer.get("id")] = layer.get("type")
        for variable in layer.get("variables", []):
            layer_of_unit["%s/%s" % (layer.get("id"), variable.get("name"))] = layer.get("id")
    unit_types = store.unit_types(run)
    histograms = store.histograms(run)
    series = []
    for unit, by_step in store.unit_stats(run).items():
        unit_type = unit_types.get(unit) or unit.rpartition("/")[2]
        if unit_type == "predictions":
            continue
        layer = layer_of_unit.get(unit) or unit.rpartition("/")[0]
        series.append(interestingness.UnitSeries(
            run=run, unit=unit, layer=layer, unit_type=unit_type, layer_type=type_of_layer.get(layer),
            stats=by_step, histograms=histograms.get(unit, {}),
        ))
    return series


def measures():
    from innspector_tb.analysis import interestingness

    return {"measures": interestingness.MEASURES}


def interestingness_scores(store, models, measure, step=None, runs=None):
    from innspector_tb.analysis import interestingness

    known = {m["id"] for m in interestingness.MEASURES}
    if measure not in known:
        raise BadRequest("unknown measure %r; measures: %s" % (measure, ", ".join(sorted(known))))
    runs = runs or store.runs()
    for run in runs:
        store.require_run(run)
    run_of_id = _run_of_id(models)
    parents = {}
    for m in models:
        parent_runs = [run_of_id[p] for p in m.get("parents", []) if p in run_of_id]
        parents[m["run"]] = parent_runs[0] if parent_runs else None
    wanted = list(dict.fromkeys(runs + [parents.get(r) for r in runs if parents.get(r)]))
    series = [s for run in wanted for s in unit_series(store, run)]
    experiments = _experiments_by_run(models, tree(store, models))
    try:
        return interestingness.score(series, measure, step=step, parents=parents, experiments=experiments,
                                     architectures=_architectures(store, runs), runs=runs)
    except ValueError as e:
        raise BadRequest(str(e))


def structures(store, models, run=None):
    from innspector_tb.analysis import structures as structures_lib

    runs = store.runs()
    by_run = {r: structures_lib.find_structures(a) for r, a in _architectures(store, runs).items()}
    run_of_id = _run_of_id(models)
    experiments = [
        {"id": e.get("id"), "runs": [run_of_id[i] for i in e.get("models", []) if i in run_of_id]}
        for e in tree(store, models).get("experiments", [])
    ]
    result = {"propagated": structures_lib.propagate(by_run, experiments)}
    if run is not None:
        store.require_run(run)
        if run not in by_run:
            raise NotFound("run %r has no readable architecture" % run)
        result.update(run=run, **by_run[run])
    else:
        result["runs"] = by_run
    return result


def _lint_findings(store, run):
    from innspector_tb.analysis import lint as lint_lib

    try:
        header = store.header(run)
    except NotFound:
        header = {}
    return [f.to_json() for f in lint_lib.lint(store.architecture(run), header, store.unit_stats(run))]


def lint(store, run):
    from innspector_tb.analysis import lint as lint_lib

    run = store.require_run(run)
    return {"run": run, "findings": _lint_findings(store, run), "rules": lint_lib.rules_json()}


def lint_all(store):
    """The lint of every model in one answer; a model that cannot be linted says why, the others go on."""
    from innspector_tb.analysis import lint as lint_lib

    models = []
    for run in sorted(store.runs()):
        try:
            models.append({"run": run, "findings": _lint_findings(store, run), "error": None})
        except (NotFound, BadRequest, ValueError) as e:
            models.append({"run": run, "findings": [], "error": str(e)})
    return {"models": models, "rules": lint_lib.rules_json()}


# Mistake neurons (NeuroInspect's counterfactual stage).

def float_param(value, name, default, minimum=None, maximum=None):
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest("parameter %r must be a number, got %r" % (name, value))
    if not math.isfinite(number) or (minimum is not None and number < minimum) or \
            (maximum is not None and number > maximum):
        raise BadRequest("parameter %r must be a finite number within [%s, %s], got %r"
                         % (name, minimum, maximum, value))
    return number


def mistakes(store, run, cls=None, step=None, alpha=None, beta=None, iterations=None):
    """The feature neurons responsible for the probe's mistakes of a class (all when cls is None)."""
    from innspector_tb.analysis import mistakes as mistakes_lib
    from innspector_tb.analysis import transforms

    run = store.require_run(run)
    if cls in (None, "", "all"):
        cls = None
    else:
        cls = int_param(cls, "class", minimum=0, maximum=2**31)
    alpha = float_param(alpha, "alpha", mistakes_lib.DEFAULT_ALPHA, minimum=0.0, maximum=1e6)
    beta = float_param(beta, "beta", mistakes_lib.DEFAULT_BETA, minimum=0.0, maximum=1e6)
    iterations = int_param(iterations, "iterations", default=mistakes_lib.DEFAULT_MAX_ITERATIONS, minimum=1,
                           maximum=mistakes_lib.MAX_ITERATIONS)
    step = store.resolve_step(run, step)
    arch = store.architecture(run)

    def compute():
        return mistakes_lib.analyse(arch, lambda dataset: store.read(run, step, dataset), store.labels(run), cls,
                                    alpha, beta, iterations, layer_dataset=store.layer_dataset)

    try:
        answer = store.cached(("mistakes", run, step, cls, alpha, beta, iterations), compute)
    except mistakes_lib.WorkLimitError as e:
        raise transforms.LimitError(str(e), "mistakes_work", maximum=mistakes_lib.MAX_WORK)
    except mistakes_lib.MissingData as e:
        raise NotFound("run %r step %d: %s" % (run, step, e))
    except mistakes_lib.MistakeError as e:
        raise BadRequest("run %r: %s" % (run, e))
    return dict(answer, run=run, step=step)
