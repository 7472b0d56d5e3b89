"""The `gradients` route: a model's gradient summaries (format/gradients.py) as layers x steps, for the
Gradient Flow tool."""

from __future__ import annotations

import math
from typing import Any

from innspector_tb.format import gradients as gradients_lib
from innspector_tb.store import training_inputs
from innspector_tb.store.run_store import BoundRunStore


def gradients(store: BoundRunStore, run: str | None) -> dict[str, Any]:
    """{"run", "steps", "fields", "variables": [{"unit", "layer", "variable", "values": {field: [per step]}}]},
    variables in the architecture's layer order; values null where not finite or not logged."""
    run = store.require_run(run)
    series = training_inputs.gradient_series(store, run)
    try:
        layers = [layer.get("id") for layer in store.architecture(run).get("layers", []) if isinstance(layer, dict)]
    except Exception:  # an unreadable architecture only loses the order
        layers = []
    order = {layer: i for i, layer in enumerate(layers)}
    steps = sorted({step for by_step in series.values() for step in by_step})
    variables = []
    for unit in sorted(series, key=lambda u: (order.get(u.rpartition("/")[0], len(order)), u)):
        layer, _, variable = unit.rpartition("/")
        by_step = series[unit]
        values = {
            field: [_finite(by_step.get(step, {}).get(field)) for step in steps]
            for field in gradients_lib.GRADIENT_FIELDS
        }
        variables.append({"unit": unit, "layer": layer, "variable": variable, "values": values})
    return {"run": run, "steps": steps, "fields": list(gradients_lib.GRADIENT_FIELDS), "variables": variables}


def _finite(value: object) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) else None
