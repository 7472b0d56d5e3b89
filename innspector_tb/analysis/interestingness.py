"""Interestingness (the iNNspector paper's mechanism M5): measured deviations from a baseline.

Every unit of analysis (a variable such as ``conv_1/kernel`` or a layer's
``conv_1/activations``, in one run = one model) gets, per measure, a raw value
computed from the small per-step summaries of the event file (the STAT_FIELDS
vector and the ``[bins, 3]`` histogram, see docs/format.md), never from the
bulk arrays: scoring every variable of a ResNet50 costs milliseconds. Raw
values are normalised to a score in [0, 1] (blue to red in the UI) and
aggregated upward, unit -> layer -> model -> experiment, with ``max``.

Pure numpy/scipy; the one data file (``data/layer_transitions.json``, the
structural measure's corpus, built by ``tools/build_layer_corpus.py``) is read
with ``json`` and nothing in it is ever executed.

Decisions (also reported in every ``score`` result):

* **Normalisation: rank-based within a variable type.** Units are grouped by
  variable type (layer type + "/" + unit type: ``Dense/kernel``,
  ``Conv2D/kernel``, ``Conv2D/activations``; a Conv2D kernel is never compared
  with a Dense kernel) over all runs requested, and a unit's score is its
  mid-rank percentile in its group: (units below + half the other units tied
  with it) / (n - 1). Ranks, because raw values are heavy-tailed and on
  unit-dependent scales (a distance to a zero-initialised bias can be 1e3
  while most are 0.1; a min-max scale would paint everything but that outlier
  blue), because they do not depend on how a measure is expressed (|skew| or
  skew squared rank alike), and because scores of different variable types
  then mean the same thing ("top x % of its kind"), which makes the max over a
  layer's kernel, bias and activations meaningful. A lone unit of its type,
  and a group whose raw values are all equal, get 0.5: nothing to compare
  with is neither good nor bad. Units whose raw value is null (missing data)
  take no part. Measures where a low raw value is the interesting one
  (``min``) have ``higher_is: "less interesting"`` and score 1 - percentile.
  The structural measure is the exception: its raw value (surprise in nats) is
  calibrated, so it is min-max scaled across all layers shown, so that one
  rare transition stands out from a model of common ones (ranks would spread
  the common ones over the whole scale).
* **Aggregation: max.** A layer scores the max of its units, a model the max
  of its layers, an experiment the max of its models; null scores are skipped
  (never counted as 0), and a level with no scored member is null. Max,
  because one abnormal unit is what the user must be pointed to; a mean would
  hide it among many normal ones.
* **Distances** between two distributions are 1-D Wasserstein (earth mover's)
  distances between the piecewise-uniform densities the histograms describe,
  computed exactly on the union of both bin-edge sets (histograms of
  different steps have different edges), divided by the pooled standard
  deviation of the two (with a floor of 1e-3 times their mean absolute value,
  and 1e-12) so that units of different magnitudes are comparable: 1.0 means
  "moved by about one standard deviation". A histogram of one bin is the
  ``stats.histogram`` encoding of a constant array (a point mass at the bin
  centre), not a uniform density of width 1. The distance to N(0, 1) is the
  Wasserstein distance to the normal CDF and is *not* rescaled: the reference
  already has unit scale (a rescaled distance would saturate, telling a
  collapsed latent (std 0) and an exploded one (std 10) apart by nothing).
"""

import dataclasses
import functools
import json
import math
import os

import numpy as np

from innspector_tb import resources
from scipy import special

DATA_DIR = resources.DATA_DIR
CORPUS_PATH = os.path.join(DATA_DIR, "layer_transitions.json")

_MORE, _LESS = "more interesting", "less interesting"


@dataclasses.dataclass
class UnitSeries:
    """The summaries of one unit of analysis in one run.

    stats: {step: {STAT_FIELDS name: value}} (``stats.as_dict`` of each vector)
    histograms: {step: float64 [bins, 3] of (left, right, count)}
    layer_type: the Keras class of the layer ("Dense"), None if unknown.
    """

    run: str
    unit: str
    layer: str
    unit_type: str
    layer_type: str = None
    stats: dict = dataclasses.field(default_factory=dict)
    histograms: dict = dataclasses.field(default_factory=dict)

    @property
    def variable_type(self):
        return variable_type(self.layer_type, self.unit_type)


def variable_type(layer_type, unit_type):
    """The group a unit is normalised in: "Dense/kernel", "Conv2D/bias", and "activations".

    Variables differ by layer type (a convolution kernel and a dense kernel
    have different scales), but activations are one type across all layers,
    as the design brief says: otherwise a lone Flatten layer would rank
    against itself only and outrank every Dense layer's activations.
    """
    if str(unit_type).startswith("activations"):
        return "activations"
    return f"{layer_type}/{unit_type}" if layer_type else str(unit_type)


# ------------------------------------------------------------------ measures

def _measure(id_, name, description, needs, level="unit", higher_is=_MORE,
             normalisation="rank"):
    return {"id": id_, "name": name, "description": description, "level": level,
            "needs": list(needs), "higher_is": higher_is, "normalisation": normalisation}


MEASURES = [
    _measure("variance", "Variance",
             "Variance of the unit's values at the step (std squared).", ["stats"]),
    _measure("skew", "|Skew|",
             "Absolute Fisher skewness of the unit's values at the step: lopsided "
             "distributions.", ["stats"]),
    _measure("kurtosis", "Kurtosis",
             "Excess kurtosis of the unit's values at the step: heavy tails, outlier "
             "values (0 for a normal distribution).", ["stats"]),
    _measure("min", "Minimum",
             "Smallest finite value at the step; the lower, the more interesting.",
             ["stats"], higher_is=_LESS),
    _measure("max", "Maximum", "Largest finite value at the step.", ["stats"]),
    _measure("mean_abs", "Mean |value|",
             "Mean absolute value at the step: magnitude of weights or activations.",
             ["stats"]),
    _measure("zero_fraction", "Zero fraction",
             "Fraction of exact zeros at the step: dead ReLU units, pruned or "
             "never-updated weights.", ["stats"]),
    _measure("non_finite", "NaN/Inf count",
             "Number of NaN and +-Inf elements at the step.", ["stats"]),
    _measure("divergence_from_init", "Divergence from initialisation",
             "Wasserstein distance between the unit's distribution at the step and at "
             "step 0 (initialisation), in pooled standard deviations.",
             ["histograms", "step0"]),
    _measure("divergence_from_parent", "Divergence from parent model",
             "Wasserstein distance between the unit's distribution and the same unit's "
             "in the parent model (same step, or the parent's nearest earlier logged "
             "step), in pooled standard deviations.", ["histograms", "parent"]),
    _measure("divergence_from_normal", "Divergence from N(0, 1)",
             "Wasserstein distance between the unit's distribution at the step and the "
             "standard normal N(0, 1), e.g. for the latent layer of a VAE.",
             ["histograms"]),
    _measure("change_since_previous", "Change since previous step",
             "Wasserstein distance between the unit's distribution at the step and at "
             "its previous logged step, in pooled standard deviations.",
             ["histograms", "previous_step"]),
    _measure("structural", "Structural rarity",
             "Rarity of the layer's incoming layer-type transitions (producer type -> "
             "this layer's type) in the keras.applications models: max over incoming "
             "edges of -log P(consumer type | producer type), add-one smoothed.",
             ["architecture", "corpus"], level="layer", normalisation="min-max"),
]
_BY_ID = {m["id"]: m for m in MEASURES}

# Measures read straight from one statistics field.
_STAT_MEASURES = {
    "variance": lambda s: s.get("std", math.nan) ** 2,
    "skew": lambda s: abs(s.get("skew", math.nan)),
    "kurtosis": lambda s: s.get("kurtosis", math.nan),
    "min": lambda s: s.get("min", math.nan),
    "max": lambda s: s.get("max", math.nan),
    "mean_abs": lambda s: s.get("mean_abs", math.nan),
    "zero_fraction": lambda s: s.get("zero_fraction", math.nan),
    "non_finite": lambda s: s.get("nan_count", math.nan) + s.get("inf_count", math.nan),
}

NORMALISATION_TEXT = {
    "rank": ("rank-based within each variable type (layer type/unit type) over all runs "
             "requested: score = (units below + half the others tied) / (n - 1), so 1 is "
             "the most interesting unit of its type; a lone unit of its type or a group of "
             "equal values gets 0.5; units with null raw values take no part; measures "
             "where lower raw is more interesting use 1 - percentile"),
    "min-max": ("min-max across all layers shown: (raw - min) / (max - min) of the "
                "surprise in nats; one layer alone, or all layers equally surprising, "
                "get 0.5; layers without incoming edges are null"),
}
AGGREGATION_TEXT = ("max: a layer scores the max of its units' scores, a model the max of its "
                    "layers, an experiment the max of its models; null scores (missing data) "
                    "are skipped, never counted as 0; a level without any scored member is null")


# ------------------------------------------------------------------ distances

_NORMAL_GRID = np.linspace(-8.0, 8.0, 641)  # resolution of the normal CDF (0.025)


def _point_mass(hist):
    """Centre of a one-bin histogram (stats.histogram's constant array), else None."""
    if hist.shape[0] == 1:
        return 0.5 * (hist[0, 0] + hist[0, 1])
    return None


def _cdf_knots(hist):
    """(x, F) knots of the piecewise-linear CDF of a histogram of 2+ bins, or None.

    Bins are ordered by left edge; gaps between bins are flat stretches.
    """
    counts = hist[:, 2]
    cum = np.cumsum(counts)
    total = cum[-1] if cum.size else 0.0
    if not total > 0:
        return None
    cum /= total
    left, right = hist[:, 0], hist[:, 1]
    if np.array_equal(left[1:], right[:-1]):  # contiguous, as np.histogram makes them
        return np.concatenate((left[:1], right)), np.concatenate(((0.0,), cum))
    order = np.argsort(left, kind="stable")
    if np.any(order != np.arange(order.size)):
        return _cdf_knots(hist[order])
    x = np.empty(2 * len(left))
    f = np.empty_like(x)
    x[0::2], x[1::2] = left, right
    f[0::2], f[1::2] = np.concatenate(((0.0,), cum[:-1])), cum
    keep = np.concatenate(((True,), np.diff(x) > 0))
    return x[keep], f[keep]


class _Dist:
    """A histogram prepared for distance computations (built once, used often).

    std and magnitude (mean |x|) come from the statistics when they are finite
    (exact), else from the piecewise-uniform density.
    """

    __slots__ = ("mass", "x", "f", "std", "magnitude")

    def __init__(self, hist, stats=None):
        hist = np.asarray(hist, dtype=np.float64).reshape(-1, 3)
        self.mass = self.x = self.f = None
        stats = stats or {}
        lo, hi = stats.get("min", math.nan), stats.get("max", math.nan)
        centre = _point_mass(hist)
        if centre is None and lo == hi and math.isfinite(lo):
            centre = lo  # the statistics say constant, whatever the bins say
        if centre is not None:
            if not hist[:, 2].sum() > 0:
                raise ValueError("empty histogram")
            self.mass = float(centre)
        else:
            knots = _cdf_knots(hist)
            if knots is None:
                raise ValueError("empty histogram")
            self.x, self.f = knots
        std, mean_abs = stats.get("std", math.nan), stats.get("mean_abs", math.nan)
        if not (math.isfinite(std) and math.isfinite(mean_abs)):
            mean, std_h = self._moments()
            std = std if math.isfinite(std) else std_h
            mean_abs = mean_abs if math.isfinite(mean_abs) else abs(mean) + std_h
        self.std, self.magnitude = std, mean_abs

    def _moments(self):
        if self.mass is not None:
            return self.mass, 0.0
        p = np.diff(self.f)
        a, b = self.x[:-1], self.x[1:]
        mean = float(np.dot(p, (a + b) * 0.5))
        second = float(np.dot(p, (a * a + a * b + b * b) / 3.0))
        return mean, math.sqrt(max(second - mean * mean, 0.0))

    def cdf_on(self, grid):
        """CDF values at the two ends of each interval of `grid` (inner limits)."""
        if self.mass is not None:  # a step: constant inside every interval
            inside = ((grid[:-1] + grid[1:]) * 0.5 >= self.mass).astype(np.float64)
            return inside, inside
        values = np.interp(grid, self.x, self.f)
        return values[:-1], values[1:]

    def support(self):
        if self.mass is not None:
            return np.array([self.mass])
        return self.x


def _integral_abs_linear(d0, d1, width):
    """Exact integral of |d| over intervals where d goes linearly from d0 to d1.

    Per interval: width * (d0^2 + d1^2 + 2 max(d0 d1, 0)) / (2 (|d0| + |d1|)),
    i.e. the trapezoid when d keeps its sign, the two triangles when it crosses 0.
    """
    total = np.abs(d0) + np.abs(d1)
    numerator = d0 * d0 + d1 * d1 + 2.0 * np.maximum(d0 * d1, 0.0)
    # total == 0 only where d0 == d1 == 0, so the numerator is 0 there too.
    return float(np.dot(width, numerator / (2.0 * total + 1e-300)))


def _w1(p, q):
    # Duplicated grid points are zero-width intervals: harmless, cheaper than unique.
    grid = np.sort(np.concatenate([p.support(), q.support()]))
    if grid[-1] == grid[0]:
        return 0.0  # the same point mass
    p0, p1 = p.cdf_on(grid)
    q0, q1 = q.cdf_on(grid)
    return _integral_abs_linear(p0 - q0, p1 - q1, np.diff(grid))


def wasserstein_histograms(hist_a, hist_b):
    """1-D Wasserstein distance between the densities described by two histograms.

    Each histogram is [bins, 3] (left, right, count); within a bin the density
    is uniform, and the two may have different bin edges. Exact: the CDFs are
    piecewise linear on the union of the edges, and |F_a - F_b| is integrated
    in closed form on each interval. A one-bin histogram is a point mass at its
    centre (``stats.histogram`` of a constant array). Raises ValueError for an
    empty histogram.
    """
    return _w1(_Dist(hist_a), _Dist(hist_b))


def _w1_normal(p, mean=0.0, std=1.0):
    if p.mass is not None:  # E|X - c| for X ~ N(mean, std)
        c = (p.mass - mean) / std
        return std * (c * (2.0 * special.ndtr(c) - 1.0) + 2.0 * _phi(c))
    x = (p.x - mean) / std
    lo, hi = x[0], x[-1]
    inner = _NORMAL_GRID[(_NORMAL_GRID > lo) & (_NORMAL_GRID < hi)]
    grid = np.sort(np.concatenate([x, inner]))
    f = np.interp(grid, x, p.f)
    d = f - special.ndtr(grid)
    between = _integral_abs_linear(d[:-1], d[1:], np.diff(grid))
    # Outside the histogram F is 0 (left) or 1 (right): closed-form normal tails.
    left = lo * special.ndtr(lo) + _phi(lo)
    right = _phi(hi) - hi * special.ndtr(-hi)
    return std * (between + left + right)


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def wasserstein_to_normal(hist, mean=0.0, std=1.0):
    """1-D Wasserstein distance between a histogram's density and N(mean, std^2).

    Inside the histogram's range |F - Phi| is integrated on the union of the
    bin edges and a grid of 0.025 standard deviations (trapezoid-exact for the
    piecewise-linear F, second order for Phi); the tails outside the range are
    closed-form.
    """
    return float(_w1_normal(_Dist(hist), mean, std))


def _scaled(distance, p, q):
    pooled = math.sqrt(0.5 * (p.std ** 2 + q.std ** 2))
    floor = max(1e-3 * max(p.magnitude, q.magnitude), 1e-12)
    return distance / max(pooled, floor)


def scaled_wasserstein(hist_a, hist_b, stats_a=None, stats_b=None):
    """Wasserstein distance divided by the pooled std of the two (floored).

    The stds come from the statistics when given (exact), else from the
    histograms. The floor (1e-3 times the larger mean absolute value, at least
    1e-12) keeps a constant that moved (a zero-initialised bias) finite.
    """
    p, q = _Dist(hist_a, stats_a), _Dist(hist_b, stats_b)
    return _scaled(_w1(p, q), p, q)


# ------------------------------------------------------------------ structural corpus

@functools.lru_cache(maxsize=4)
def load_corpus(path=CORPUS_PATH):
    """The layer-transition corpus: {"source", "models", "counts": {a: {b: n}}, ...}.

    Plain ``json.load``: nothing in the file is executed. A missing file gives
    an empty corpus (every transition then equally rare).
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {"source": None, "models": [], "counts": {}}
    counts = {}
    for a, row in (data.get("counts") or {}).items():
        if isinstance(row, dict):
            counts[str(a)] = {str(b): float(n) for b, n in row.items()
                              if isinstance(n, (int, float)) and n >= 0}
    data["counts"] = counts
    return data


class TransitionModel:
    """Add-one smoothed P(consumer type | producer type) from corpus counts.

    Known types are every type seen as producer or consumer; one extra slot
    stands for all unknown types, so V = known + 1 outcomes. For a known
    producer a: P(b | a) = (n(a, b) + 1) / (n(a) + V), where n(a, b) = 0 for
    unknown b. An unknown producer (a custom layer) has no row: it backs off to
    the smoothed marginal of consumer types, P(b) = (n(., b) + 1) / (N + V),
    i.e. "any layer feeding b", which for an unknown b too is 1 / (N + V).
    """

    def __init__(self, counts):
        self.counts = counts
        types = set(counts)
        for row in counts.values():
            types.update(row)
        self.types = types
        self.vocabulary = len(types) + 1
        self.row_totals = {a: sum(row.values()) for a, row in counts.items()}
        self.column_totals = {}
        for row in counts.values():
            for b, n in row.items():
                self.column_totals[b] = self.column_totals.get(b, 0.0) + n
        self.total = sum(self.row_totals.values())

    def probability(self, producer, consumer):
        row = self.counts.get(producer)
        if row is not None:
            return (row.get(consumer, 0.0) + 1.0) / (self.row_totals[producer] + self.vocabulary)
        return (self.column_totals.get(consumer, 0.0) + 1.0) / (self.total + self.vocabulary)

    def surprise(self, producer, consumer):
        """-log P(consumer | producer), in nats."""
        return -math.log(self.probability(producer, consumer))


@functools.lru_cache(maxsize=4)
def _transition_model(path=CORPUS_PATH):
    return TransitionModel(load_corpus(path)["counts"])


def layer_transitions(architecture):
    """(producer id, consumer id) pairs of an architecture's data-flow edges.

    The InputLayer of a nested model is a pass-through (edges into a nested
    model are rewired to it): edges through it are joined, so the corpus and
    the scored models count ``Add -> LayerNormalization``, not
    ``Add -> InputLayer -> LayerNormalization``. The top-level InputLayers
    (no incoming edge) remain producers.
    """
    types = {layer["id"]: layer.get("type") for layer in architecture.get("layers", [])}
    incoming = {}
    for edge in architecture.get("edges", []):
        if edge.get("from") in types and edge.get("to") in types:
            incoming.setdefault(edge["to"], []).append(edge["from"])
    passthrough = {lid for lid, t in types.items() if t == "InputLayer" and lid in incoming}

    def producers(lid, seen):
        for source in incoming.get(lid, []):
            if source in passthrough:
                if source not in seen:
                    seen.add(source)
                    yield from producers(source, seen)
            else:
                yield source

    pairs = []
    for lid in types:
        if lid in passthrough:
            continue
        for source in producers(lid, set()):
            pairs.append((source, lid))
    return pairs, types, passthrough


# ------------------------------------------------------------------ scoring

def measure(measure_id):
    """The descriptor of a measure; ValueError naming the known ids otherwise."""
    try:
        return _BY_ID[measure_id]
    except (KeyError, TypeError):
        raise ValueError(f"unknown interestingness measure {measure_id!r}; known: "
                         + ", ".join(m["id"] for m in MEASURES)) from None


def _finite_or_none(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _steps_of(s):
    return set(s.stats) | set(s.histograms)


def _choose_steps(series, runs, step):
    """{run: step} for the requested runs, and the single step used (or None)."""
    if isinstance(step, dict):
        return {r: step.get(r) for r in runs}, None
    if step is not None:
        return {r: int(step) for r in runs}, int(step)
    per_run = {r: set() for r in runs}
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


class _Scorer:
    """Raw values of one distribution measure, with prepared histograms cached."""

    def __init__(self, index):
        self.index = index  # (run, unit) -> UnitSeries
        self.cache = {}

    def dist(self, s, step):
        key = (s.run, s.unit, step)
        if key not in self.cache:
            hist = s.histograms.get(step)
            try:
                self.cache[key] = None if hist is None else _Dist(hist, s.stats.get(step))
            except ValueError:
                self.cache[key] = None
        return self.cache[key]

    def raw(self, measure_id, s, step, parents):
        if step is None:
            return None
        if measure_id in _STAT_MEASURES:
            st = s.stats.get(step)
            return None if st is None else _finite_or_none(_STAT_MEASURES[measure_id](st))
        p = self.dist(s, step)
        if p is None:
            return None
        if measure_id == "divergence_from_normal":
            return _finite_or_none(_w1_normal(p))
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
        return _finite_or_none(_scaled(_w1(p, q), p, q))


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
    groups = {}
    for u in units:
        if u["raw"] is not None:
            groups.setdefault(u["variable_type"], []).append(u)
    for members in groups.values():
        raws = [u["raw"] for u in members]
        if desc["normalisation"] == "min-max":
            scores = _minmax_scores(raws)
        else:
            scores = _rank_scores(raws)
        for u, sc in zip(members, scores):
            sc = float(sc)
            u["score"] = 1.0 - sc if desc["higher_is"] == _LESS else sc


def _best(items):
    scored = [i for i in items if i["score"] is not None]
    return max(scored, key=lambda i: i["score"]) if scored else None


def _aggregate(units, runs, experiments, layer_types):
    layers, order = {}, []
    for u in units:
        key = (u["run"], u["layer"])
        if key not in layers:
            layers[key] = []
            order.append(key)
        layers[key].append(u)
    layer_rows = []
    for run, layer in order:
        top = _best(layers[(run, layer)])
        layer_rows.append({"run": run, "layer": layer,
                           "layer_type": layer_types.get((run, layer)),
                           "score": None if top is None else top["score"],
                           "top_unit": None if top is None else top["unit"]})
    model_rows = []
    for run in runs:
        top = _best([row for row in layer_rows if row["run"] == run])
        model_rows.append({"run": run, "score": None if top is None else top["score"],
                           "top_layer": None if top is None else top["layer"]})
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


def _structural_units(runs, architectures, corpus_path):
    model = _transition_model(corpus_path)
    units, layer_types = [], {}
    for run in runs:
        arch = (architectures or {}).get(run)
        if not arch:
            continue
        pairs, types, passthrough = layer_transitions(arch)
        worst = {}
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
                detail = {"from": edge[0], "from_type": types[edge[0]], "to_type": ltype,
                          "probability": edge[1]}
            units.append({"run": run, "unit": lid, "layer": lid, "unit_type": "layer",
                          "variable_type": "layer", "layer_type": ltype,
                          "raw": None if edge is None else -math.log(edge[1]),
                          "score": None, "detail": detail})
    return units, layer_types


def score(series, measure_id, step=None, parents=None, experiments=None, architectures=None,
          runs=None, corpus_path=CORPUS_PATH):
    """Scores every unit of the requested runs on one measure and aggregates upward.

    series: list of UnitSeries (may include runs that are only references, e.g.
    parents). measure_id: an id of MEASURES. step: None (the last step logged by
    every requested run; if they share no step after 0, each run's last step),
    an int, or {run: step}. parents: {run: parent run or None}. experiments:
    {run: experiment id}. architectures: {run: architecture dict} (structural
    measure). runs: the runs to score and show (default: every run in
    `series`, plus for the structural measure every run in `architectures`).

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
        units, layer_types = _structural_units(runs, architectures, corpus_path)
        steps, single = {}, None
    else:
        index = {(s.run, s.unit): s for s in series}
        steps, single = _choose_steps(series, runs, step)
        scorer = _Scorer(index)
        units, layer_types = [], {}
        for s in series:
            if s.run not in wanted:
                continue
            layer_types.setdefault((s.run, s.layer), s.layer_type)
            at = steps.get(s.run)
            units.append({"run": s.run, "unit": s.unit, "layer": s.layer,
                          "unit_type": s.unit_type, "variable_type": s.variable_type,
                          "layer_type": s.layer_type,
                          "raw": scorer.raw(measure_id, s, at, parents),
                          "score": None, "detail": None})
    _normalise(units, desc)
    layers, models, exps = _aggregate(units, runs, experiments, layer_types)
    return {"measure": measure_id, "step": single, "steps": steps,
            "normalisation": NORMALISATION_TEXT[desc["normalisation"]],
            "aggregation": AGGREGATION_TEXT,
            "units": units, "layers": layers, "models": models, "experiments": exps}
