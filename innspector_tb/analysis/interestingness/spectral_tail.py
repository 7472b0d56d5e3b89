"""The heavy-tail exponent α of a kernel's eigenvalue spectrum (WeightWatcher's measure, Martin & Mahoney's
heavy-tailed self-regularisation): a data-free sign of how well a layer is trained.

The spectrum is the eigenvalues of the correlation matrix X = WᵀW / N of the kernel W (N x M, N the larger
dimension). Training correlates the weights and the spectrum's tail grows heavy; α is the exponent of a
power law p(λ) ~ λ^-α fitted to that tail by maximum likelihood (Clauset, Shalizi & Newman 2009):
α = 1 + n / Σ ln(λ_i / λ_min) over the n eigenvalues λ_i ≥ λ_min, λ_min chosen among the eigenvalues to
minimise the Kolmogorov-Smirnov distance between the tail and the fitted law. WeightWatcher's reading:
α < 2 over-fitted (very heavy tail), 2-6 well trained, α > 6 under-trained (close to a random matrix, whose
Marchenko-Pastur spectrum has no power-law tail, so the fit's α is large).

Convolution kernels ([kh, kw, cin, cout] in Keras, any number of spatial axes) are read as WeightWatcher
reads them: each spatial position's cin x cout matrix is one matrix, and the eigenvalues of all of them are
pooled into one spectrum. Not the reshape to [kh*kw*cin, cout]: its α is on another scale than the one the
2 / 6 thresholds were calibrated on, and pooling gives kh*kw times more eigenvalues, which a small model's
kernels need (a 3x3x8x16 kernel: 72 pooled eigenvalues against 16).

Pure numpy; never fed anything but arrays read from step files.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

OVER_FITTED, UNDER_TRAINED = 2.0, 6.0  # WeightWatcher's thresholds on α
MIN_EIGENVALUES = 10  # WeightWatcher's min_evals: fewer, and a power-law fit says nothing
MIN_TAIL = 5  # the smallest tail a λ_min candidate may leave: 2-3 points fit any law
MAX_MATRIX_DIM = 4096  # eigvalsh of M x M, M the smaller dimension: 0.8 s at 2048, 16 s at 4096 (2 shared cores)
MAX_CANDIDATES = 512  # λ_min candidates tried (spread over the ranks): the KS search is O(candidates x n)
_ZERO = 1e-12  # eigenvalues below this times the largest are the matrix's null space, not its spectrum


def kernel_matrices(kernel: np.ndarray, layer_type: str | None) -> tuple[list[np.ndarray], str]:
    """The matrices of a kernel and a phrase saying how they were taken; ValueError saying why not.

    A 2-D kernel is one matrix; a kernel of a convolution (a layer type with "Conv" in its name) with
    more axes is its stack of [in, out] matrices over the leading (spatial) axes.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        return [kernel], "%dx%d matrix" % kernel.shape
    if kernel.ndim >= 3 and layer_type and "Conv" in layer_type:
        rows, cols = kernel.shape[-2:]
        slices = kernel.reshape(-1, rows, cols)
        spatial = "x".join(str(d) for d in kernel.shape[:-2])
        return list(slices), "%s slices of %dx%d, eigenvalues pooled" % (spatial, rows, cols)
    raise ValueError(
        "a %d-D kernel of a %s layer is neither a Dense matrix nor a convolution's stack of matrices"
        % (kernel.ndim, layer_type or "unknown")
    )


def eigenvalues(matrix: np.ndarray) -> np.ndarray:
    """Eigenvalues of WᵀW / N (N the larger dimension), ascending, in float64."""
    w = np.asarray(matrix, dtype=np.float64)
    if w.shape[0] < w.shape[1]:
        w = w.T
    return np.linalg.eigvalsh(w.T @ w / w.shape[0])


def fit_power_law(values: np.ndarray) -> dict[str, Any]:
    """Clauset's fit of a continuous power law to the tail of positive values.

    Returns {alpha, lambda_min, tail (n ≥ λ_min), ks (the KS distance), sigma (α's standard error,
    (α - 1) / √n)}. Candidates for λ_min are the values leaving at least MIN_TAIL in the tail (at most
    MAX_CANDIDATES of them, evenly spread over the ranks); the one with the smallest KS distance wins.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n < MIN_TAIL or x[0] <= 0:
        raise ValueError("need at least %d positive values, got %d" % (MIN_TAIL, n))
    logs = np.log(x)
    suffix = np.cumsum(logs[::-1])[::-1]  # suffix[i] = Σ_{j ≥ i} ln x_j
    last = n - MIN_TAIL
    candidates = np.unique(np.linspace(0, last, min(last + 1, MAX_CANDIDATES)).round().astype(int))
    best: dict[str, Any] | None = None
    for i in candidates:
        if i > 0 and x[i] == x[i - 1]:
            continue  # a tied value starts its tail at its first copy
        m = n - i
        spread = suffix[i] - m * logs[i]
        if spread <= 0:
            continue  # every tail value equal: no law to fit
        alpha = 1.0 + m / spread
        fitted = 1.0 - np.exp((1.0 - alpha) * (logs[i:] - logs[i]))
        steps = np.arange(m, dtype=np.float64)
        ks = float(np.max(np.maximum(np.abs(fitted - steps / m), np.abs(fitted - (steps + 1) / m))))
        if best is None or ks < best["ks"]:
            best = {"alpha": float(alpha), "lambda_min": float(x[i]), "tail": int(m), "ks": ks}
    if best is None:
        raise ValueError("every candidate tail holds equal values")
    best["sigma"] = (best["alpha"] - 1.0) / math.sqrt(best["tail"])
    return best


def verdict(alpha: float) -> str:
    if alpha < OVER_FITTED:
        return "over-fitted (α < %g)" % OVER_FITTED
    if alpha > UNDER_TRAINED:
        return "under-trained (α > %g)" % UNDER_TRAINED
    return "well trained (%g ≤ α ≤ %g)" % (OVER_FITTED, UNDER_TRAINED)


def kernel_alpha(kernel: np.ndarray, layer_type: str | None = "Dense") -> dict[str, Any]:
    """α of one kernel: {alpha, verdict, lambda_min, tail, ks, sigma, eigenvalues, lambda_max, matrix} or
    {reason} (α not computed: non-finite values, too few eigenvalues, too large, not a matrix)."""
    kernel = np.asarray(kernel)
    if not np.issubdtype(kernel.dtype, np.number):
        return {"reason": "the kernel holds %s values, not numbers" % kernel.dtype}
    bad = int(kernel.size - np.count_nonzero(np.isfinite(kernel)))
    if bad:
        return {"reason": "not computed: the kernel holds %d NaN/Inf values, so it has no spectrum" % bad}
    try:
        matrices, how = kernel_matrices(kernel, layer_type)
    except ValueError as e:
        return {"reason": "not computed: %s" % e}
    smaller = min(matrices[0].shape)
    if smaller > MAX_MATRIX_DIM:
        return {
            "reason": "not computed: its matrices' smaller dimension is %d, over the %d whose eigenvalues "
            "are computed (cost grows with its cube)" % (smaller, MAX_MATRIX_DIM),
            "matrix": how,
        }
    spectrum = np.concatenate([eigenvalues(m) for m in matrices])
    count = spectrum.size
    if count < MIN_EIGENVALUES:
        return {
            "reason": "not computed: %d eigenvalues (%s), fewer than the %d a power-law fit needs"
            % (count, how, MIN_EIGENVALUES),
            "matrix": how,
        }
    top = float(spectrum.max())
    positive = spectrum[spectrum > top * _ZERO] if top > 0 else spectrum[:0]
    if positive.size < MIN_EIGENVALUES:
        return {
            "reason": "not computed: %d of %d eigenvalues are non-zero (%s), fewer than the %d a power-law "
            "fit needs" % (positive.size, count, how, MIN_EIGENVALUES),
            "matrix": how,
        }
    try:
        fit = fit_power_law(positive)
    except ValueError as e:
        return {"reason": "not computed: %s" % e, "matrix": how}
    return {**fit, "verdict": verdict(fit["alpha"]), "eigenvalues": int(count), "lambda_max": top, "matrix": how}
