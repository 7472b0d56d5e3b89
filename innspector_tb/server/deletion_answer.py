"""The deletion curves of a step, as the attributions answer carries them (`attribution.deletion`):
for each method and the random ranking, the mean curve and the area of each sample shown, so the
Attribution widget can say which method's maps the model's score follows. No HTTP here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from innspector_tb.format import attribution_methods
from innspector_tb.format import deletion as deletion_format


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _stored(store, run, step, target) -> list[str]:
    """The rankings with curves for the target at the step: methods in METHODS order, then random."""
    prefix = deletion_format.GROUP + "/"
    suffix = "/" + target
    found = set()
    for name in store.manifests(run).get(step, {}).get("datasets", {}):
        if name.startswith(prefix) and name.endswith(suffix) and name.count("/") == 3:
            found.add(name[len(prefix) : -len(suffix)])
    order = [*attribution_methods.METHODS, deletion_format.RANDOM]
    return [name for name in order if name in found]


def summary(store, run: str, step: int, target: str, keep: np.ndarray, info: dict) -> dict[str, Any] | None:
    """{step, target, fractions, baseline, undefined, curves: [{method, mean, auc, model_auc}]} of the rows
    `keep` of the attributed samples, or None when the step has no curves."""
    names = _stored(store, run, step, target)
    listed = store.manifests(run).get(step, {}).get("datasets", {})
    if not names or deletion_format.FRACTIONS not in listed:
        return None
    fractions = np.asarray(store.read(run, step, deletion_format.FRACTIONS), dtype=np.float64)
    curves = []
    undefined = 0
    for name in names:
        values = np.asarray(store.read(run, step, deletion_format.curve_dataset(name, target)), dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != fractions.shape[0] or values.shape[0] != keep.shape[0]:
            continue  # a curve that does not fit the samples is not shown rather than misread
        values = values[keep]
        defined = np.isfinite(values).all(axis=1)
        undefined = max(undefined, int((~defined).sum()))
        areas = deletion_format.auc(values, fractions)
        mean = values[defined].mean(axis=0) if defined.any() else np.full(fractions.shape, np.nan)
        curves.append(
            {
                "method": name,
                "mean": [_number(v) for v in mean],
                "auc": [_number(v) for v in areas],
                "model_auc": _number(areas[defined].mean()) if defined.any() else None,
            }
        )
    if not curves:
        return None
    baseline = (info.get("options") or {}).get("ig_baseline", 0.0)
    return {
        "step": int(step),
        "target": target,
        "fractions": [float(v) for v in fractions],
        "baseline": baseline if isinstance(baseline, (int, float, str)) else None,
        "undefined": undefined,
        "curves": curves,
    }
