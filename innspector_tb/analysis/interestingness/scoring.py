"""Scoring: raw values normalised to [0, 1] within each variable type and aggregated upward
(unit -> layer -> model -> experiment) with max. The package docstring gives the reasons.
"""

from typing import Any

import numpy as np

from innspector_tb.analysis.interestingness import abnormal, attention_units, spectral_units
from innspector_tb.analysis.interestingness.corpus import CORPUS_PATH
from innspector_tb.analysis.interestingness.measures import (
    AGGREGATION_TEXT,
    LESS,
    NORMALISATION_TEXT,
    measure,
)
from innspector_tb.analysis.interestingness.raw import (
    Scorer,
    choose_steps,
    structural_units,
)


def _rank_scores(values, rtol=1e-9):
    """Mid-rank percentiles in [0, 1] of a list of floats (0.5 for n < 2).

    Values equal up to a relative 1e-9 (floating-point noise) count as tied.
    """
    n = len(values)
    if n < 2:
        return [0.5] * n
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    gap = np.diff(sorted_x) > rtol * np.maximum(np.abs(sorted_x[:-1]), np.abs(sorted_x[1:]))
    cluster = np.concatenate([[0], np.cumsum(gap)])
    starts = np.searchsorted(cluster, cluster, side="left")
    sizes = np.searchsorted(cluster, cluster, side="right") - starts
    scores = np.empty(n)
    scores[order] = (starts + 0.5 * (sizes - 1)) / (n - 1)
    return list(scores)


def _minmax_scores(values):
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi <= lo:
        return [0.5] * len(values)
    return [(v - lo) / (hi - lo) for v in values]


def _normalise(units, desc):
    """Fills unit["score"] from unit["raw"], per group, as the measure prescribes."""
    if desc["normalisation"] == "reference":
        return  # scored against the reference already
    groups: dict[str, list[dict[str, Any]]] = {}
    for u in units:
        if u["raw"] is not None:
            groups.setdefault("*" if desc["normalisation"] == "rank-all" else u["variable_type"], []).append(u)
    for members in groups.values():
        raws = [u["raw"] for u in members]
        if desc["normalisation"] == "min-max":
            scores = _minmax_scores(raws)
        else:
            scores = _rank_scores(raws)
        for u, sc in zip(members, scores, strict=True):
            sc = float(sc)
            u["score"] = 1.0 - sc if desc["higher_is"] == LESS else sc


def _best(items):
    scored = [i for i in items if i["score"] is not None]
    return max(scored, key=lambda i: i["score"]) if scored else None


def _aggregate(units, runs, experiments, layer_types):
    layers: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order = []
    for u in units:
        key = (u["run"], u["layer"])
        if key not in layers:
            layers[key] = []
            order.append(key)
        layers[key].append(u)
    layer_rows = []
    for run, layer in order:
        top = _best(layers[(run, layer)])
        layer_rows.append(
            {
                "run": run,
                "layer": layer,
                "layer_type": layer_types.get((run, layer)),
                "score": None if top is None else top["score"],
                "top_unit": None if top is None else top["unit"],
            }
        )
    model_rows = []
    for run in runs:
        top = _best([row for row in layer_rows if row["run"] == run])
        model_rows.append(
            {
                "run": run,
                "score": None if top is None else top["score"],
                "top_layer": None if top is None else top["layer"],
            }
        )
    experiment_rows, seen = [], {}
    for row in model_rows:
        exp = experiments.get(row["run"])
        if exp is None:
            continue
        if exp not in seen:
            seen[exp] = {"experiment": exp, "score": None, "top_run": None}
            experiment_rows.append(seen[exp])
        entry = seen[exp]
        if row["score"] is not None and (entry["score"] is None or row["score"] > entry["score"]):
            entry["score"], entry["top_run"] = row["score"], row["run"]
    return layer_rows, model_rows, experiment_rows


def score(
    series,
    measure_id,
    step=None,
    parents=None,
    experiments=None,
    architectures=None,
    runs=None,
    corpus_path=CORPUS_PATH,
    cache=None,
):
    """Scores every unit of the requested runs on one measure and aggregates upward.

    series: list of UnitSeries (may include runs that are only references, e.g.
    parents). measure_id: an id of MEASURES. step: None (the last step logged by
    every requested run; if they share no step after 0, each run's last step),
    an int, or {run: step}. parents: {run: parent run or None}. experiments:
    {run: experiment id}. architectures: {run: architecture dict} (structural
    measure). runs: the runs to score and show (default: every run in
    `series`, plus for the structural measure every run in `architectures`).
    cache: cache(run, key, compute) for what heavy_tail_alpha computes from
    the step files (None: computed on every call).

    Returns {"measure", "step" (the one step used, or null), "steps" ({run:
    step}), "normalisation", "aggregation", "units": [{"run", "unit", "layer",
    "unit_type", "variable_type", "layer_type", "raw", "score", "detail"}],
    "layers": [{"run", "layer", "layer_type", "score", "top_unit"}], "models":
    [{"run", "score", "top_layer"}], "experiments": [{"experiment", "score",
    "top_run"}]}, in input order. Scores are in [0, 1] or null (missing data).
    """
    desc = measure(measure_id)
    parents = parents or {}
    experiments = experiments or {}
    if runs is None:
        runs = list(dict.fromkeys(s.run for s in series))
        if measure_id == "structural":
            runs += [r for r in (architectures or {}) if r not in runs]
    else:
        runs = list(dict.fromkeys(runs))
    wanted = set(runs)

    if measure_id == "structural":
        units, layer_types = structural_units(runs, architectures, corpus_path)
        steps, single = {}, None
    elif measure_id == "abnormal":
        steps, single = choose_steps(series, runs, step)
        units = abnormal.abnormal_units([s for s in series if s.run in wanted], steps, architectures)
        layer_types = {(u["run"], u["layer"]): u["layer_type"] for u in units}
    elif measure_id == "heavy_tail_alpha":
        steps, single = choose_steps(series, runs, step)
        wanted_series = [s for s in series if s.run in wanted]
        units = spectral_units.alpha_units(wanted_series, steps, cache or spectral_units.no_cache)
        layer_types = {(u["run"], u["layer"]): u["layer_type"] for u in units}
    elif measure_id == "attention_entropy":
        steps, single = choose_steps(series, runs, step)
        units = attention_units.entropy_units([s for s in series if s.run in wanted], steps)
        layer_types = {(u["run"], u["layer"]): u["layer_type"] for u in units}
    else:
        index = {(s.run, s.unit): s for s in series}
        steps, single = choose_steps(series, runs, step)
        scorer = Scorer(index)
        units, layer_types = [], {}
        for s in series:
            if s.run not in wanted:
                continue
            layer_types.setdefault((s.run, s.layer), s.layer_type)
            at = steps.get(s.run)
            units.append(
                {
                    "run": s.run,
                    "unit": s.unit,
                    "layer": s.layer,
                    "unit_type": s.unit_type,
                    "variable_type": s.variable_type,
                    "layer_type": s.layer_type,
                    "raw": scorer.raw(measure_id, s, at, parents),
                    "score": None,
                    "detail": None,
                }
            )
    _normalise(units, desc)
    layers, models, exps = _aggregate(units, runs, experiments, layer_types)
    return {
        "measure": measure_id,
        "step": single,
        "steps": steps,
        "normalisation": NORMALISATION_TEXT[desc["normalisation"]],
        "aggregation": AGGREGATION_TEXT,
        "units": units,
        "layers": layers,
        "models": models,
        "experiments": exps,
    }
