"""The measures: their descriptors (``MEASURES``, served as is), the ones read straight from the
statistics, the texts describing normalisation and aggregation, and what a unit's series is.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

MORE, LESS = "more interesting", "less interesting"


@dataclasses.dataclass
class UnitSeries:
    """The summaries of one unit of analysis in one run.

    stats: {step: {STAT_FIELDS name: value}} (``stats.as_dict`` of each vector)
    histograms: {step: float64 [bins, 3] of (left, right, count)}
    gradients: {step: {GRADIENT_FIELDS name: value}} of a trainable variable, {} without gradient summaries
    layer_type: the Keras class of the layer ("Dense"), None if unknown.
    """

    run: str
    unit: str
    layer: str
    unit_type: str
    layer_type: str | None = None
    stats: dict = dataclasses.field(default_factory=dict)
    histograms: dict = dataclasses.field(default_factory=dict)
    # {step: {format.gradients.GRADIENT_FIELDS name: value}} of a trainable variable (gradients at logging time)
    gradients: dict = dataclasses.field(default_factory=dict)
    # step -> (the step whose file holds the variable's full values: the newest at or before the step, else
    # the first later one; a function reading them). LookupError or ValueError, with the reason, when no
    # step file holds them (or they do not read). None: the run has no step files.
    weights: Callable[[int], tuple[int, Callable[[], Any]]] | None = None
    # (step, name) -> the layer's dataset `name` at the step ("attention_entropy"); LookupError, with the
    # reason, when that step file lacks it. None: the run has no step files.
    layer_datasets: Callable[[int, str], Any] | None = None

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


def _measure(id_, name, description, needs, level="unit", higher_is=MORE, normalisation="rank"):
    return {
        "id": id_,
        "name": name,
        "description": description,
        "level": level,
        "needs": list(needs),
        "higher_is": higher_is,
        "normalisation": normalisation,
    }


MEASURES = [
    _measure(
        "abnormal",
        "Anything abnormal",
        "Every indicator of the unit (scale and scale jump of activations, saturation, dead and constant "
        "units, zero fraction, skew, kurtosis, initialisation scale, growth, weights that never move, a "
        "kernel's gradient below the model's largest, its update ratio, NaN/Inf) "
        "against what that kind of unit shows in sound models, at its worst step up to the one scored; the "
        "max over indicators, naming the one that drove it. Up to 0.9: inside the sound range; above: outside.",
        ["stats", "histograms", "architecture", "reference"],
        normalisation="reference",
    ),
    _measure("variance", "Variance", "Variance of the unit's values at the step (std squared).", ["stats"]),
    _measure(
        "skew",
        "|Skew|",
        "Absolute Fisher skewness of the unit's values at the step: lopsided distributions.",
        ["stats"],
    ),
    _measure(
        "kurtosis",
        "Kurtosis",
        "Excess kurtosis of the unit's values at the step: heavy tails, outlier values (0 for a normal distribution).",
        ["stats"],
    ),
    _measure(
        "min",
        "Minimum",
        "Smallest finite value at the step; the lower, the more interesting.",
        ["stats"],
        higher_is=LESS,
    ),
    _measure("max", "Maximum", "Largest finite value at the step.", ["stats"]),
    _measure(
        "mean_abs", "Mean |value|", "Mean absolute value at the step: magnitude of weights or activations.", ["stats"]
    ),
    _measure(
        "zero_fraction",
        "Zero fraction",
        "Fraction of exact zeros at the step: dead ReLU units, pruned or never-updated weights.",
        ["stats"],
    ),
    _measure("non_finite", "NaN/Inf count", "Number of NaN and +-Inf elements at the step.", ["stats"]),
    _measure(
        "divergence_from_init",
        "Divergence from initialisation",
        "Wasserstein distance between the unit's distribution at the step and at "
        "step 0 (initialisation), in pooled standard deviations.",
        ["histograms", "step0"],
    ),
    _measure(
        "divergence_from_parent",
        "Divergence from parent model",
        "Wasserstein distance between the unit's distribution and the same unit's "
        "in the parent model (same step, or the parent's nearest earlier logged "
        "step), in pooled standard deviations.",
        ["histograms", "parent"],
    ),
    _measure(
        "divergence_from_normal",
        "Divergence from N(0, 1)",
        "Wasserstein distance between the unit's distribution at the step and the "
        "standard normal N(0, 1), e.g. for the latent layer of a VAE.",
        ["histograms"],
    ),
    _measure(
        "change_since_previous",
        "Change since previous step",
        "Wasserstein distance between the unit's distribution at the step and at "
        "its previous logged step, in pooled standard deviations.",
        ["histograms", "previous_step"],
    ),
    _measure(
        "heavy_tail_alpha",
        "Heavy-tail α (WeightWatcher)",
        "Exponent α of a power law fitted to the tail of the eigenvalue spectrum of a Dense or convolution "
        "kernel's correlation matrix WᵀW/N (maximum likelihood, tail start by Kolmogorov-Smirnov), from its "
        "full values in the step file; data-free. Below 2: over-fitted, 2-6: well trained, above 6: "
        "under-trained (random-like). The lower, the more interesting.",
        ["weights"],
        higher_is=LESS,
        normalisation="rank-all",
    ),
    _measure(
        "attention_entropy",
        "Attention entropy (collapse)",
        "For an attention layer, the entropy of each query's attention over the keys on the probe, averaged "
        "over queries and samples and divided by log(keys), of its lowest head, from the step file: 0 when "
        "a head puts every query on one key (attention collapse), 1 when it attends uniformly. The lower, "
        "the more interesting; every head's value is in the detail.",
        ["attention"],
        higher_is=LESS,
        normalisation="rank-all",
    ),
    _measure(
        "structural",
        "Structural rarity",
        "Rarity of the layer's incoming layer-type transitions (producer type -> "
        "this layer's type) in the keras.applications models: max over incoming "
        "edges of -log P(consumer type | producer type), add-one smoothed.",
        ["architecture", "corpus"],
        level="layer",
        normalisation="min-max",
    ),
]
_BY_ID = {m["id"]: m for m in MEASURES}

# Measures read straight from one statistics field.
STAT_MEASURES = {
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
    "reference": (
        "against sound models (data/abnormal_reference.json): each indicator's mid-rank percentile among "
        "the reference quantiles of its unit family, scaled to [0, 0.9], rising towards 1 beyond the "
        "largest reference value; NaN/Inf score 1; a unit scores its max over indicators"
    ),
    "rank": (
        "rank-based within each variable type (layer type/unit type) over all runs "
        "requested: score = (units below + half the others tied) / (n - 1), so 1 is "
        "the most interesting unit of its type; a lone unit of its type or a group of "
        "equal values gets 0.5; units with null raw values take no part; measures "
        "where lower raw is more interesting use 1 - percentile"
    ),
    "rank-all": (
        "rank-based over every unit with a value across all runs requested (α is scale-free, and its "
        "thresholds are the same for Dense and convolution kernels, so they rank together): score = "
        "1 - (units below + half the others tied) / (n - 1), so the lowest α scores 1; a lone unit gets 0.5; "
        "kernels whose α is not computed (the detail says why) are null"
    ),
    "min-max": (
        "min-max across all layers shown: (raw - min) / (max - min) of the "
        "surprise in nats; one layer alone, or all layers equally surprising, "
        "get 0.5; layers without incoming edges are null"
    ),
}
AGGREGATION_TEXT = (
    "max: a layer scores the max of its units' scores, a model the max of its "
    "layers, an experiment the max of its models; null scores (missing data) "
    "are skipped, never counted as 0; a level without any scored member is null"
)


def measure(measure_id):
    """The descriptor of a measure; ValueError naming the known ids otherwise."""
    try:
        return _BY_ID[measure_id]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown interestingness measure {measure_id!r}; known: " + ", ".join(m["id"] for m in MEASURES)
        ) from None
