"""Raw values: which step each run is scored at, and a unit's raw value on one measure (statistics,
distances to another step, the parent model or N(0, 1), structural surprise).
"""

import math

from innspector_tb.analysis.interestingness.corpus import (
    layer_transitions,
    transition_model,
)
from innspector_tb.analysis.interestingness.distances import Dist, scaled, w1, w1_normal
from innspector_tb.analysis.interestingness.measures import STAT_MEASURES


def _finite_or_none(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _steps_of(s):
    return set(s.stats) | set(s.histograms)


def choose_steps(series, runs, step):
    """{run: step} for the requested runs, and the single step used (or None)."""
    if isinstance(step, dict):
        return {r: step.get(r) for r in runs}, None
    if step is not None:
        return {r: int(step) for r in runs}, int(step)
    per_run: dict[str, set[int]] = {r: set() for r in runs}
    for s in series:
        if s.run in per_run:
            per_run[s.run] |= _steps_of(s)
    present = [steps for steps in per_run.values() if steps]
    if not present:
        return {r: None for r in runs}, None
    common = set.intersection(*present)
    last = {r: (max(steps) if steps else None) for r, steps in per_run.items()}
    if common and (max(common) > 0 or all(v in (None, 0) for v in last.values())):
        chosen = max(common)
        return {r: chosen for r in runs}, chosen
    distinct = {v for v in last.values() if v is not None}
    return last, (distinct.pop() if len(distinct) == 1 else None)


def _nearest_at_or_before(mapping, step):
    candidates = [k for k in mapping if k <= step]
    return max(candidates) if candidates else None


class Scorer:
    """Raw values of one distribution measure, with prepared histograms cached."""

    def __init__(self, index):
        self.index = index  # (run, unit) -> UnitSeries
        self.cache = {}

    def dist(self, s, step):
        key = (s.run, s.unit, step)
        if key not in self.cache:
            hist = s.histograms.get(step)
            try:
                self.cache[key] = None if hist is None else Dist(hist, s.stats.get(step))
            except ValueError:
                self.cache[key] = None
        return self.cache[key]

    def raw(self, measure_id, s, step, parents):
        if step is None:
            return None
        if measure_id in STAT_MEASURES:
            st = s.stats.get(step)
            return None if st is None else _finite_or_none(STAT_MEASURES[measure_id](st))
        p = self.dist(s, step)
        if p is None:
            return None
        if measure_id == "divergence_from_normal":
            return _finite_or_none(w1_normal(p))
        if measure_id == "divergence_from_init":
            other, other_step = s, 0
            if step == 0:
                return 0.0
        elif measure_id == "change_since_previous":
            earlier = [k for k in s.histograms if k < step]
            if not earlier:
                return None
            other, other_step = s, max(earlier)
        elif measure_id == "divergence_from_parent":
            parent = parents.get(s.run)
            other = self.index.get((parent, s.unit)) if parent is not None else None
            if other is None:
                return None
            other_step = _nearest_at_or_before(other.histograms, step)
            if other_step is None:
                return None
        else:  # pragma: no cover - guarded by measure()
            raise ValueError(measure_id)
        q = self.dist(other, other_step)
        if q is None:
            return None
        return _finite_or_none(scaled(w1(p, q), p, q))


def structural_units(runs, architectures, corpus_path):
    """Rows of the structural measure, one per layer: raw = surprise of its rarest incoming transition."""
    model = transition_model(corpus_path)
    units, layer_types = [], {}
    for run in runs:
        arch = (architectures or {}).get(run)
        if not arch:
            continue
        pairs, types, passthrough = layer_transitions(arch)
        worst: dict[str, tuple[str, float]] = {}
        for source, target in pairs:
            prob = model.probability(types[source], types[target])
            if target not in worst or prob < worst[target][1]:
                worst[target] = (source, prob)
        for lid, ltype in types.items():
            if lid in passthrough:
                continue
            layer_types[(run, lid)] = ltype
            edge = worst.get(lid)
            detail = None
            if edge is not None:
                detail = {"from": edge[0], "from_type": types[edge[0]], "to_type": ltype, "probability": edge[1]}
            units.append(
                {
                    "run": run,
                    "unit": lid,
                    "layer": lid,
                    "unit_type": "layer",
                    "variable_type": "layer",
                    "layer_type": ltype,
                    "raw": None if edge is None else -math.log(edge[1]),
                    "score": None,
                    "detail": detail,
                }
            )
    return units, layer_types
