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
from innspector_tb.format import metadata
from innspector_tb.server.params import json_number
from innspector_tb.store.run_store import BoundRunStore

MAX_SCALAR_POINTS = 10_000  # per series, as TensorBoard downsamples them


def metrics(
    store: BoundRunStore, provider_reader: Callable[[list[str]], dict[str, Any]], runs: Sequence[object] | None
) -> dict[str, Any]:
    """Metric series (TensorBoard scalars) and, per step, confusion matrix and class metrics.

    provider_reader(runs) -> {run: {metric: [[step, value], ...]}} (read_scalars over the request's provider).
    """
    runs = [store.require_run(run) for run in runs] if runs else store.runs()
    series = provider_reader(runs)
    result: dict[str, dict[str, Any]] = {"runs": {}}
    for run in runs:
        entry: dict[str, Any] = {"series": series.get(run, {}), "classification": {}}
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


def read_scalars(
    data_provider: provider_lib.DataProvider, ctx: Any, experiment: str, runs: list[str]
) -> dict[str, dict[str, list[list[Any]]]]:
    """{run: {metric: [[step, value], ...]}} of the runs' metrics/ scalars."""
    listing = data_provider.list_scalars(
        ctx, experiment_id=experiment, plugin_name="scalars", run_tag_filter=provider_lib.RunTagFilter(runs=runs)
    )
    tags = sorted({t for by_tag in listing.values() for t in by_tag if t.startswith(metadata.METRICS_TAG_PREFIX)})
    if not tags:
        return {}
    data = data_provider.read_scalars(
        ctx,
        experiment_id=experiment,
        plugin_name="scalars",
        downsample=MAX_SCALAR_POINTS,
        run_tag_filter=provider_lib.RunTagFilter(runs=runs, tags=tags),
    )
    return {
        run: {
            tag[len(metadata.METRICS_TAG_PREFIX) :]: [[int(p.step), json_number(p.value)] for p in points]
            for tag, points in by_tag.items()
        }
        for run, by_tag in data.items()
    }
