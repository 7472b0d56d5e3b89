"""The `data` route's attention kinds: an attention layer's scores and their entropy per head
(capture/attention_scores.py writes them). No HTTP here.

- `attention_entropy`: [probe, heads] (or [steps, probe, heads]), each sample's entropy per head averaged
  over queries and divided by log(keys); one row per probe sample, so `classes` apply.
- `attention`: the scores [heads, queries, keys] of one probe sample (`unit.sample`, a probe row) or the
  mean over one class's samples (`unit.class`); without either, every stored sample's scores with their
  probe rows (`rows`) and labels. Scores are kept for every probe sample or for the plan's sample subset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import int_param, require_str

ENTROPY = "attention_entropy"
FULL_SCORES = "attention_scores"
SAMPLE_SCORES = "sample_attention_scores"
CLASS_SCORES = "mean_class_attention/class_%d"
SUBSET_DATASET = "data_samples/subset"


def entropy_dataset(store: Any, run: str, steps: list[int], unit: dict[str, Any]) -> str:
    """The step files' name of a layer's attention entropy; NotFound saying why when a step lacks it."""
    layer = require_str(unit, "layer")
    dataset = store.layer_dataset(layer, ENTROPY)
    for step in steps:
        if not store.has_dataset(run, step, dataset):
            raise NotFound(_why_missing(store, run, layer, step))
    return dataset


def scores_columns(
    store: Any, run: str, unit: dict[str, Any], steps: list[int], many: bool, labels: Any, check_pairs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(columns, description additions) for the `attention` kind at one step."""
    if many:
        raise BadRequest("attention scores are answered for one step at a time")
    (step,) = steps
    layer = require_str(unit, "layer")
    sample, cls = unit.get("sample"), unit.get("class")
    if sample is not None and cls is not None:
        raise BadRequest("ask for unit.sample or unit.class, not both")
    if cls is not None:
        k = int_param(cls, "unit.class", minimum=0, maximum=1_000_000)
        dataset = store.layer_dataset(layer, CLASS_SCORES % k)
        if not store.has_dataset(run, step, dataset):
            if not store.has_dataset(run, step, store.layer_dataset(layer, ENTROPY)):
                raise NotFound(_why_missing(store, run, layer, step))
            raise NotFound("layer %r has no mean attention scores of class %d at step %d" % (layer, k, step))
        check_pairs(store, run, [(step, dataset)])
        return {"value": store.read(run, step, dataset)}, {"class": k}
    dataset, rows = _stored_scores(store, run, layer, step)
    if sample is None:
        check_pairs(store, run, [(step, dataset)])
        columns: dict[str, Any] = {"value": store.read(run, step, dataset)}
        if labels is not None and rows.size and rows.max() < len(labels):
            columns["label"] = np.asarray(labels)[rows]
        return columns, {"rows": [int(r) for r in rows]}
    row = int_param(sample, "unit.sample", minimum=0, maximum=10_000_000)
    where = np.flatnonzero(rows == row)
    if not where.size:
        shown = ", ".join(str(int(r)) for r in rows[:20]) + (", ..." if rows.size > 20 else "")
        raise NotFound(
            "probe sample %d has no attention scores at step %d; the step keeps those of samples %s"
            % (row, step, shown or "none")
        )
    check_pairs(store, run, [(step, dataset)])
    scores = store.read(run, step, dataset)
    answer: dict[str, Any] = {"sample": row}
    if labels is not None and row < len(labels):
        answer["sample_label"] = int(np.asarray(labels)[row])
    return {"value": scores[int(where[0])]}, answer


def _stored_scores(store: Any, run: str, layer: str, step: int) -> tuple[str, np.ndarray]:
    """(dataset, probe rows) of the scores a step keeps: every probe sample's, else the subset's."""
    full = store.layer_dataset(layer, FULL_SCORES)
    if store.has_dataset(run, step, full):
        shape = store.dataset_shape(run, step, full)
        n = shape[0] if shape else store.read(run, step, full).shape[0]
        return full, np.arange(n, dtype=np.int64)
    subset = store.layer_dataset(layer, SAMPLE_SCORES)
    if store.has_dataset(run, step, subset):
        rows = np.asarray(store.read(run, step, SUBSET_DATASET), dtype=np.int64).reshape(-1)
        return subset, rows
    raise NotFound(_why_missing(store, run, layer, step))


def _why_missing(store: Any, run: str, layer: str, step: int) -> str:
    if store.has_dataset(run, step, store.layer_dataset(layer, ENTROPY)):
        return (
            "layer %r keeps no per-sample attention scores at step %d (only their entropy and class means: "
            "its scores are too large to keep for each sample)" % (layer, step)
        )
    layers = (store.architecture(run) or {}).get("layers")
    listed = layers if isinstance(layers, list) else []
    kinds = {lay.get("id"): lay.get("type") for lay in listed if isinstance(lay, dict)}
    kind = kinds.get(layer)
    if kind is None:
        return "run %r has no layer %r" % (run, layer)
    return "layer %r of run %r has no attention scores at step %d%s" % (
        layer,
        run,
        step,
        "" if kind == "MultiHeadAttention" else " (it is a %s, not an attention layer)" % kind,
    )
