"""How many independent signals a layer's representation carries: the participation ratio of the
correlation spectrum of a (samples x units) matrix of its activations on the probe, and the fraction of
unit pairs that are (near) copies of each other (|correlation| above 0.99). The lint's collapse rules
(analysis/lint/rules_collapse.py) read these summaries; docs/pathologies.md says why these numbers.

Units constant over the probe are left out (`constant-units` judges them); the correlation matrix makes
the measure blind to each unit's scale, so one loud unit does not make a layer look collapsed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_SAMPLES = 256  # rows used: enough to tell one or two directions from many
MAX_UNITS = 128  # units used (evenly spaced when more): keeps the eigenproblem at 128 x 128
CORRELATED = 0.99
_CONSTANT = 1e-6  # a unit whose std is below this fraction of the layer's largest |value| is constant


def pooled(activations: Any) -> np.ndarray:
    """[samples, units]: a layer output with the positions between the batch and channel axes averaged
    (a feature map's channels are its units, as the pooled form the callback logs)."""
    array = np.asarray(activations, dtype=np.float64)
    if array.ndim < 2:
        return array.reshape(-1, 1)
    if array.ndim > 2:
        array = array.reshape(array.shape[0], -1, array.shape[-1]).mean(axis=1)
    return array


def summarize(matrix: Any) -> dict[str, Any] | None:
    """{samples, units, varying, participation_ratio, correlated_fraction} of a [samples, units] matrix;
    the last two are None with fewer than 2 varying units or 3 samples. None for an empty matrix."""
    x = pooled(np.asarray(matrix)[:MAX_SAMPLES])
    units = x.shape[1]
    if units > MAX_UNITS:
        x = x[:, np.unique(np.linspace(0, units - 1, MAX_UNITS).round().astype(int))]
    x = x[np.all(np.isfinite(x), axis=1)]
    n = x.shape[0]
    if n == 0 or units == 0:
        return None
    std = x.std(axis=0)
    largest = float(np.abs(x).max())
    varying = std > _CONSTANT * largest if largest > 0 else np.zeros(x.shape[1], bool)
    result: dict[str, Any] = {
        "samples": int(n),
        "units": int(units),
        "varying": int(varying.sum()),
        "participation_ratio": None,
        "correlated_fraction": None,
    }
    if result["varying"] < 2 or n < 3:
        return result
    z = (x[:, varying] - x[:, varying].mean(axis=0)) / std[varying]
    corr = np.clip(z.T @ z / n, -1.0, 1.0)
    eigenvalues = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    result["participation_ratio"] = float(eigenvalues.sum() ** 2 / max(float((eigenvalues**2).sum()), 1e-300))
    pairs = np.abs(corr[np.triu_indices(corr.shape[0], k=1)])
    result["correlated_fraction"] = float((pairs > CORRELATED).mean())
    return result
