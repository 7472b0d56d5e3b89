"""The routes over every model of the logdir: `models`, `tree` (lineage), `interestingness` and its
`measures`, `structures` (localization), `lint` and `lint/all`.

Plain functions over a BoundRunStore and the listed models: a JSON-safe dict out, errors.NotFound (404)
or errors.BadRequest (400) raised. A model whose architecture does not read is left out of the
cross-model answers rather than failing them. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.store.run_store import BoundRunStore

Model = dict[str, Any]  # a model of the listing (store.models.list_models)


def listed_models(
    models: list[Model], latest_metrics: Callable[[list[str], set[str]], dict[str, Any]], our_runs: Sequence[str]
) -> dict[str, Any]:
    """The `models` route: each model with the latest value of its metrics (over its series runs: a
    plain model's, or one of ours with the plain sub-runs folded into it).

    latest_metrics(runs, plain_runs) -> {run: {metric: value}}, read fresh on every request (the list is
    cached).
    """
    models = [dict(m) for m in models]
    runs = sorted({r for m in models for r in m.get("series_runs") or [m["run"]]})
    metrics = latest_metrics(runs, {r for r in runs if r not in set(our_runs)})
    for model in models:
        merged: dict[str, Any] = {}
        for run in model.get("series_runs") or [model["run"]]:
            merged.update(metrics.get(run, {}))
        model["latest_metrics"] = merged
    return {"models": models}


def _architectures(store, runs):
    """{run: architecture} of the runs whose architecture reads (others are left out)."""
    result = {}
    for run in runs:
        try:
            result[run] = store.architecture(run)
        except (NotFound, BadRequest):
            continue
    return result


def tree(store: BoundRunStore, models: list[Model]) -> dict[str, Any]:
    """The tree of models (store.lineage.build_tree), cached until any run changes."""
    from innspector_tb.store import lineage

    def compute():
        runs = [m["run"] for m in models]
        result = lineage.build_tree(models, _architectures(store, runs))
        result["models"] = [{"run": m["run"], "id": m["id"], "errors": m["errors"]} for m in models]
        return result

    # Keyed by the models too: plain runs (store/plain_runs.py) are not in the version of our runs.
    return store.cached(("tree", tuple((m["run"], m["id"]) for m in models)), compute)


def _run_of_id(models):
    return {m["id"]: m["run"] for m in models if m.get("id")}


def _experiments_by_run(models, tree_result):
    experiment_of_id = {}
    for experiment in tree_result.get("experiments", []):
        for model_id in experiment.get("models", []):
            experiment_of_id[model_id] = experiment.get("id")
    return {m["run"]: experiment_of_id.get(m["id"], m["run"]) for m in models}


def unit_series(store: BoundRunStore, run: str) -> list[Any]:
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
    from innspector_tb.store import training_inputs

    unit_types = store.unit_types(run)
    histograms = store.histograms(run)
    gradients = training_inputs.gradient_series(store, run)
    series = []
    for unit, by_step in store.unit_stats(run).items():
        unit_type = unit_types.get(unit) or unit.rpartition("/")[2]
        if unit_type == "predictions":
            continue
        layer = layer_of_unit.get(unit) or unit.rpartition("/")[0]
        series.append(
            interestingness.UnitSeries(
                run=run,
                unit=unit,
                layer=layer,
                unit_type=unit_type,
                layer_type=type_of_layer.get(layer),
                stats=by_step,
                histograms=histograms.get(unit, {}),
                gradients=gradients.get(unit, {}),
                weights=_weights_reader(store, run, layer, unit, unit_type),
                layer_datasets=_layer_datasets_reader(store, run, layer),
            )
        )
    return series


def _weights_reader(store, run, layer, unit, unit_type):
    """step -> (the step read, a function reading the variable's full values) for a variable, else None."""
    if str(unit_type).startswith("activations") or not unit.startswith(layer + "/"):
        return None
    variable = unit[len(layer) + 1 :]

    def weights(step):
        dataset, read_step = store.weights_source(run, step, layer, variable)
        return read_step, lambda: store.read(run, read_step, dataset)

    return weights


def _layer_datasets_reader(store, run, layer):
    """(step, name) -> the layer's dataset `name` in the step's file; LookupError naming what is missing."""

    def read(step, name):
        dataset = store.layer_dataset(layer, name)
        if not store.has_dataset(run, step, dataset):
            raise LookupError("step %d of run %r holds no %s of layer %r" % (step, run, name, layer))
        return store.read(run, step, dataset)

    return read


def measures() -> dict[str, Any]:
    from innspector_tb.analysis import interestingness

    return {"measures": interestingness.MEASURES}


def interestingness_scores(
    store: BoundRunStore,
    models: list[Model],
    measure: str | None,
    step: int | None = None,
    runs: Sequence[object] | None = None,
) -> dict[str, Any]:
    """Every unit's score under `measure`, and per layer, model and experiment, for `runs` (all by default)."""
    from innspector_tb.analysis import interestingness

    known = {m["id"] for m in interestingness.MEASURES}
    if measure not in known:
        raise BadRequest("unknown measure %r; measures: %s" % (measure, ", ".join(sorted(known))))
    runs = [store.require_run(run) for run in runs] if runs else store.runs()
    run_of_id = _run_of_id(models)
    parents: dict[str, str | None] = {}
    for m in models:
        parent_runs = [run_of_id[p] for p in m.get("parents", []) if p in run_of_id]
        parents[m["run"]] = parent_runs[0] if parent_runs else None
    wanted = list(dict.fromkeys(runs + [parent for r in runs if (parent := parents.get(r))]))
    series = [s for run in wanted for s in unit_series(store, run)]
    experiments = _experiments_by_run(models, tree(store, models))
    try:
        return interestingness.score(
            series,
            measure,
            step=step,
            parents=parents,
            experiments=experiments,
            architectures=_architectures(store, runs),
            runs=runs,
            cache=store.run_cached,
        )
    except ValueError as e:
        raise BadRequest(str(e)) from e


def structures(store: BoundRunStore, models: list[Model], run: str | None = None) -> dict[str, Any]:
    """The structures found in every model, propagated along the experiments; one model's when `run` is given."""
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
    from innspector_tb.server import lint_representations
    from innspector_tb.store import training_inputs

    architecture = store.architecture(run)
    findings = lint_lib.lint(
        architecture,
        header,
        store.unit_stats(run),
        metrics=training_inputs.metric_series(store, run),
        histograms=store.histograms(run),
        inputs=training_inputs.input_statistics(store, run, architecture),
        gradients=training_inputs.gradient_series(store, run),
        representations=lint_representations.reader(store, run, architecture),
    )
    return [f.to_json() for f in findings]


def lint(store: BoundRunStore, run: str | None) -> dict[str, Any]:
    from innspector_tb.analysis import lint as lint_lib

    run = store.require_run(run)
    return {"run": run, "findings": _lint_findings(store, run), "rules": lint_lib.rules_json()}


def lint_all(store: BoundRunStore) -> dict[str, Any]:
    """The lint of every model in one answer; a model that cannot be linted says why, the others go on."""
    from innspector_tb.analysis import lint as lint_lib

    models = []
    for run in sorted(store.runs()):
        try:
            models.append({"run": run, "findings": _lint_findings(store, run), "error": None})
        except (NotFound, BadRequest, ValueError) as e:
            models.append({"run": run, "findings": [], "error": str(e)})
    return {"models": models, "rules": lint_lib.rules_json()}
