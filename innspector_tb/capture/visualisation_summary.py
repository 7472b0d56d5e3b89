"""Feature visualisations in a step file (docs/format.md, "Feature visualisations"), and their log-job form.

A job carries a VisualisationResult as arrays ("fv:<name>") and JSON-safe meta, so it crosses to a
writer process like the other arrays.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from innspector_tb.capture import feature_visualisation as fv

GROUP = "feature_visualisations"
ARRAYS = ("images", "activation", "percentile", "class_rank", "class_probability")


def pack(result: fv.VisualisationResult | None, arrays: dict[str, Any]) -> dict[str, Any] | None:
    """Moves a result's arrays into `arrays` ("fv:<name>"); returns its meta (None without a result)."""
    if result is None:
        return None
    for name in ARRAYS:
        arrays["fv:" + name] = np.asarray(getattr(result, name))
    return {
        "targets": [t.to_json() for t in result.targets],
        "options": dict(result.options),
        "score": result.score,
        "value_range": [float(v) for v in result.value_range],
        "notes": list(result.notes),
    }


def bulk(meta: dict[str, Any], arrays: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The step file's datasets and the group's attributes of a packed result."""
    targets = meta["targets"]
    data = {"%s/%s" % (GROUP, name): np.asarray(arrays["fv:" + name]) for name in ARRAYS}
    data["%s/class_rank" % GROUP] = data["%s/class_rank" % GROUP].astype(np.int64)
    data["%s/unit" % GROUP] = np.asarray([-1 if t["unit"] is None else t["unit"] for t in targets], np.int64)
    data["%s/class" % GROUP] = np.asarray([t["class"] for t in targets], np.int64)
    attrs = {
        "targets": json.dumps(targets, sort_keys=True),
        "options": json.dumps(meta["options"], sort_keys=True),
        "score": str(meta["score"]),
        "value_range": json.dumps(meta["value_range"]),
        "notes": json.dumps(meta["notes"]),
    }
    return data, attrs


def write(writer, step: int, meta: dict[str, Any], arrays: dict[str, Any]) -> int:
    """Queues a packed result for the step's file (a summary.RunWriter); returns the datasets queued."""
    data, attrs = bulk(meta, arrays)
    writer.add_bulk(step, data, {GROUP: attrs})
    return len(data)
