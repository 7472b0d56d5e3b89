"""The rows of the attention entropy measure: one per attention layer (its activations unit), the entropy
of its scores on the probe at the step scored, read from the step files (`attention_entropy`, written by
the probe pass: capture/attention_scores.py).

The raw value is the lowest head's entropy (mean over the probe of each sample's entropy per head,
averaged over queries and divided by log(keys)): 0 when a head puts every query on one key (attention
collapse), 1 when it attends uniformly. The detail lists every head's, or says why there is none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from innspector_tb.analysis.interestingness.measures import UnitSeries

ATTENTION_TYPES = ("MultiHeadAttention",)
DATASET = "attention_entropy"


def unit_entropy(s: UnitSeries, step: int | None) -> dict[str, Any]:
    """The detail of one attention layer at a step: {"entropy", "per_head", "lowest_head", "step"} or {"reason"}."""
    if step is None:
        return {"reason": "not computed: the run has no logged step to score"}
    if s.layer_datasets is None:
        return {"reason": "not computed: the run has no step files to read the attention entropy from"}
    try:
        values = np.asarray(s.layer_datasets(step, DATASET), dtype=np.float64)
    except (LookupError, ValueError) as e:
        return {"reason": "not computed: %s" % e}
    if values.ndim != 2 or values.shape[1] == 0:
        return {"reason": "not computed: the attention entropy is not [samples, heads] (%s)" % list(values.shape)}
    finite = np.isfinite(values)
    if not finite.any():
        return {"reason": "not computed: the attention entropy holds no finite value (NaN/Inf scores)"}
    counts = finite.sum(axis=0)
    per_head = np.where(counts > 0, np.where(finite, values, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)
    lowest = int(np.nanargmin(per_head))
    return {
        "entropy": float(per_head[lowest]),
        "per_head": [None if not np.isfinite(v) else float(v) for v in per_head],
        "lowest_head": lowest,
        "step": int(step),
    }


def entropy_units(series: Iterable[UnitSeries], steps: Mapping[str, int | None]) -> list[dict[str, Any]]:
    """Rows (run, unit, layer, ..., raw = the lowest head's entropy or None, detail) of every attention layer."""
    units = []
    for s in series:
        if s.unit_type != "activations" or s.layer_type not in ATTENTION_TYPES:
            continue
        detail = unit_entropy(s, steps.get(s.run))
        units.append(
            {
                "run": s.run,
                "unit": s.unit,
                "layer": s.layer,
                "unit_type": s.unit_type,
                "variable_type": s.variable_type,
                "layer_type": s.layer_type,
                "raw": detail.get("entropy"),
                "score": None,
                "detail": detail,
            }
        )
    return units
