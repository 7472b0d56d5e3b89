"""The `metrics` route: each run's metric series (TensorBoard scalars under `metrics/`) and, per step,
the confusion matrix and class metrics of the logged predictions against the probe's labels.

`read_scalars` reads the series through TensorBoard's data provider; `metrics` combines them with what
the run store holds. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tensorboard.data import provider as provider_lib

from innspector_tb.analysis import classification
from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import json_number
from innspector_tb.store import plain_runs as plain_runs_lib
from innspector_tb.store.run_store import BoundRunStore

MAX_SCALAR_POINTS = 10_000  # per series, as TensorBoard downsamples them


def metrics(
    store: BoundRunStore,
    provider_reader: Callable[[list[str], set[str]], dict[str, Any]],
    runs: Sequence[object] | None,
    models: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Metric series (TensorBoard scalars) and, per step, confusion matrix and class metrics.

    provider_reader(runs, plain_runs) -> {run: {metric: [[step, value], ...]}} (read_scalars over the
    request's provider). `models` (the listing) names the plain models (store/plain_runs.py) and the
    TensorBoard runs whose scalars are each model's series; a plain model has series, no classification.
    """
    series_runs = {m["run"]: list(m.get("series_runs") or [m["run"]]) for m in models}
    plain_keys = {m["run"] for m in models if m.get("plain")}
    if runs:
        for run in runs:
            if run not in series_runs:
                store.require_run(run)  # NotFound, saying so, for a run that is no model
        wanted = [str(run) for run in runs]
    else:
        wanted = sorted(set(store.runs()) | set(series_runs))
    sources = {run: series_runs.get(run, [run]) for run in wanted}
    ours = set(store.runs())
    tb_runs = sorted({r for members in sources.values() for r in members})
    series = provider_reader(tb_runs, {r for r in tb_runs if r not in ours})
    result: dict[str, dict[str, Any]] = {"runs": {}}
    for run in wanted:
        merged: dict[str, Any] = {}
        for source in sources[run]:
            merged.update(series.get(source, {}))
        entry: dict[str, Any] = {"series": merged, "classification": {}}
        if run in ours and run not in plain_keys:
            entry["classification"] = _classification(store, run)
        result["runs"][run] = entry
    return result


def _classification(store: BoundRunStore, run: str) -> dict[str, Any]:
    """{step: confusion matrix and class metrics} of the run's logged predictions against its labels."""
    result: dict[str, Any] = {}
    labels = store.labels(run)
    if labels is None:
        return result
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
        result[str(step)] = classification.confusion(labels, predicted, classes)
    return result


def read_scalars(
    data_provider: provider_lib.DataProvider,
    ctx: Any,
    experiment: str,
    runs: list[str],
    plain_runs: set[str] | frozenset[str] = frozenset(),
) -> dict[str, dict[str, list[list[Any]]]]:
    """{run: {metric: [[step, value], ...]}}: our runs' metrics/ scalars, and every scalar of a plain
    run, named as Keras names its logs (store/plain_runs.series_name: epoch_loss of a validation run is
    val_loss)."""
    by_run = plain_runs_lib.read_metric_points(data_provider, ctx, experiment, runs, plain_runs, MAX_SCALAR_POINTS)
    return {
        run: {name: [[int(p.step), json_number(p.value)] for p in points] for name, points in metrics.items()}
        for run, metrics in by_run.items()
    }
