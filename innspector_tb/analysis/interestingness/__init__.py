"""Interestingness (the iNNspector paper's mechanism M5): measured deviations from a baseline.

Every unit of analysis (a variable such as ``conv_1/kernel`` or a layer's
``conv_1/activations``, in one run = one model) gets, per measure, a raw value
computed from the small per-step summaries of the event file (the STAT_FIELDS
vector and the ``[bins, 3]`` histogram, see docs/format.md), never from the
bulk arrays: scoring every variable of a ResNet50 costs milliseconds. The
exception is ``heavy_tail_alpha``, the eigenvalue spectrum of each kernel,
read from the step files through ``UnitSeries.weights``. Raw
values are normalised to a score in [0, 1] (blue to red in the UI) and
aggregated upward, unit -> layer -> model -> experiment, with ``max``.

Pure numpy/scipy; the one data file (``data/layer_transitions.json``, the
structural measure's corpus, built by ``tools/build_layer_corpus.py``) is read
with ``json`` and nothing in it is ever executed.

Layout: ``measures`` (the descriptors, UnitSeries), ``distances`` (Wasserstein),
``corpus`` (the structural measure's transition model), ``raw`` (a unit's raw
value on a measure), ``spectral_tail`` and ``spectral_units`` (the heavy-tail
α of kernels) and ``scoring`` (normalisation, aggregation, ``score``).

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

from innspector_tb.analysis.interestingness.corpus import (
    CORPUS_PATH,
    DATA_DIR,
    TransitionModel,
    layer_transitions,
    load_corpus,
)
from innspector_tb.analysis.interestingness.distances import (
    scaled_wasserstein,
    wasserstein_histograms,
    wasserstein_to_normal,
)
from innspector_tb.analysis.interestingness.measures import (
    AGGREGATION_TEXT,
    MEASURES,
    NORMALISATION_TEXT,
    UnitSeries,
    measure,
    variable_type,
)
from innspector_tb.analysis.interestingness.scoring import score

__all__ = [
    "score",
    "measure",
    "MEASURES",
    "UnitSeries",
    "variable_type",
    "NORMALISATION_TEXT",
    "AGGREGATION_TEXT",
    "wasserstein_histograms",
    "wasserstein_to_normal",
    "scaled_wasserstein",
    "CORPUS_PATH",
    "DATA_DIR",
    "load_corpus",
    "TransitionModel",
    "layer_transitions",
]
