"""What the training-pathology rules read beside the statistics: a run's metric scalars, the statistics
of its probe inputs and its gradient summaries, read through a `BoundRunStore` and cached with the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tensorboard.data import provider as provider_lib

from innspector_tb import errors
from innspector_tb.format import gradients as gradients_lib
from innspector_tb.format import metadata
from innspector_tb.format import stats as stats_lib

if TYPE_CHECKING:
    from innspector_tb.store.run_store import BoundRunStore

_ALL_POINTS = 1 << 30
INPUT_DATASET = "data_samples/x"


def metric_series(store: BoundRunStore, run: str) -> dict[str, dict[int, float]]:
    """{metric: {step: value}} of the run's `metrics/` scalars (``loss``, ``val_loss``, ...), NaN kept."""

    def compute():
        provider, ctx, eid = store._provider, store._ctx, store._eid
        listing = provider.list_scalars(
            ctx, experiment_id=eid, plugin_name="scalars", run_tag_filter=provider_lib.RunTagFilter(runs=[run])
        )
        tags = [t for t in listing.get(run, {}) if t.startswith(metadata.METRICS_TAG_PREFIX)]
        if not tags:
            return {}
        data = provider.read_scalars(
            ctx,
            experiment_id=eid,
            plugin_name="scalars",
            downsample=_ALL_POINTS,
            run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=tags),
        )
        return {
            tag[len(metadata.METRICS_TAG_PREFIX) :]: {int(p.step): float(p.value) for p in points}
            for tag, points in data.get(run, {}).items()
        }

    store.require_run(run)
    return store._cached(run, "metric_series", compute)


def input_statistics(store: BoundRunStore, run: str, architecture: Any) -> dict[str, dict[str, float]]:
    """{input layer id: statistics of its probe samples} from samples.h5; {} without samples."""
    inputs = architecture.get("inputs") if isinstance(architecture, dict) else None
    names = [n for n in inputs if isinstance(n, str)] if isinstance(inputs, list) else []

    def compute():
        result = {}
        for index, name in enumerate(names or ["x"]):
            dataset = INPUT_DATASET if index == 0 else "%s_%d" % (INPUT_DATASET, index)
            try:
                values = store.read(run, None, dataset)
            except (errors.NotFound, errors.BadRequest):
                continue
            if values.dtype.kind in "fc":
                result[name] = stats_lib.as_dict(stats_lib.describe(values))
        return result

    return store._cached(run, ("input_statistics", tuple(names)), compute)


def gradient_series(store: BoundRunStore, run: str) -> dict[str, dict[int, dict[str, float]]]:
    """{"layer/variable": {step: {GRADIENT_FIELDS name: value}}} of the run's gradient summaries."""

    def compute():
        tags = store._tags(run, gradients_lib.GRADIENT_TAG_PREFIX)
        data = store._read(run, tags) if tags else {}
        return {
            tag[len(gradients_lib.GRADIENT_TAG_PREFIX) :]: {int(d.step): gradients_lib.as_dict(d.numpy) for d in points}
            for tag, points in data.items()
        }

    store.require_run(run)
    return store._cached(run, "gradient_series", compute)
