"""Gradients at logging time: the GRADIENT summaries of a variable's gradient and update at a logged step.

One STATISTICS-kind tensor per trainable variable and logged step, tag `innspector/gradients/<layer>/<variable>`,
plugin-data unit type "gradients", values in the order of GRADIENT_FIELDS (docs/format.md, "Gradients").
Appending fields is compatible; reordering needs a new plugin-data version.
"""

import math

import numpy as np

from innspector_tb.format import metadata

GRADIENT_TAG_PREFIX = metadata.TAG_PREFIX + "gradients/"
UNIT_TYPE = "gradients"

GRADIENT_FIELDS = (
    "grad_norm",  # L2 norm of the loss's gradient on the probe batch (0: no gradient reaches the variable)
    "grad_rms",  # grad_norm / sqrt(size): comparable across variables of different sizes
    "weight_norm",  # L2 norm of the variable at the step
    "update_ratio",  # |W_t - W_prev| / |W_t| since the previous logged step (NaN at the first)
    "update_ratio_per_batch",  # update_ratio / training batches since the previous logged step
)


def vector(grad_norm, size, weight_norm, update_ratio, batches):
    """The GRADIENT_FIELDS vector (float64) of one variable."""
    per_batch = update_ratio / batches if batches and math.isfinite(update_ratio) else math.nan
    rms = grad_norm / math.sqrt(size) if size else math.nan
    return np.array([grad_norm, rms, weight_norm, update_ratio, per_batch], dtype=np.float64)


def as_dict(values):
    """Maps a GRADIENT vector to {field: value}, tolerating shorter vectors."""
    return {name: float(v) for name, v in zip(GRADIENT_FIELDS, np.asarray(values).ravel(), strict=False)}
