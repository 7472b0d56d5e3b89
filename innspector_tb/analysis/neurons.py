"""The L1 view: the neurons of a layer and its predecessor and the strongest weights between them.

Pure numpy over what the logs hold: per-class mean activations per neuron
([classes, units], a convolution's neuron being a channel) and the kernel.
Kept neurons follow the paper's rule: touched by one of the top-k weights by
magnitude, or among the n highest or n lowest mean activations under the
class selection.
"""

import numpy as np

DEFAULT_K = 20
DEFAULT_EXTREMES = 10


def selected_means(class_matrix, class_counts, selected_rows):
    """Mean activation per unit over the selected classes, weighted by their sample counts.

    Rows that are NaN (a class without samples) are left out; no usable row gives NaN.
    """
    matrix = np.asarray(class_matrix, dtype=np.float64)[selected_rows]
    weights = np.asarray(class_counts, dtype=np.float64)[selected_rows]
    usable = np.isfinite(matrix).all(axis=1) & (weights > 0)
    if not usable.any():
        return np.full(matrix.shape[1] if matrix.ndim == 2 else 0, np.nan)
    return (matrix[usable] * weights[usable, None]).sum(axis=0) / weights[usable].sum()


def aggregate_kernel(kernel, inputs, outputs):
    """Returns (signed sum, magnitude sum) per (input unit, output unit) pair, shape [inputs, outputs].

    A dense kernel is [inputs, outputs] already; a convolution kernel
    [..., in_channels, out_channels] is summed over its spatial axes, so one
    entry joins two channels (the neurons of the L1 view).
    """
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim < 2 or w.shape[-2] != inputs or w.shape[-1] != outputs:
        raise ValueError(
            "kernel of shape %s does not join %d input units to %d output units" % (list(w.shape), inputs, outputs)
        )
    flat = w.reshape(-1, inputs, outputs)
    return flat.sum(axis=0), np.abs(flat).sum(axis=0)


def top_weights(signed, magnitude, k):
    """The k entries of largest magnitude: [(input, output, value, magnitude)], strongest first."""
    mag = np.nan_to_num(np.asarray(magnitude), nan=-1.0)
    k = int(min(max(k, 0), mag.size))
    if k == 0:
        return []
    flat = np.argpartition(-mag.ravel(), k - 1)[:k]
    flat = flat[np.argsort(-mag.ravel()[flat], kind="stable")]
    rows, cols = np.unravel_index(flat, mag.shape)
    return [(int(i), int(o), float(signed[i, o]), float(magnitude[i, o])) for i, o in zip(rows, cols, strict=True)]


def extremes(means, n):
    """Indices of the n highest and n lowest finite means."""
    means = np.asarray(means, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(means))
    if finite.size == 0:
        return set()
    order = finite[np.argsort(means[finite], kind="stable")]
    return set(order[:n].tolist()) | set(order[-n:].tolist())


def _neurons(indices, means):
    means = np.asarray(means, dtype=np.float64)
    shown = np.abs(np.nan_to_num(means[list(indices)])) if indices else np.zeros(0)
    total = shown.sum()
    result = []
    for index in sorted(indices):
        value = means[index] if index < means.size else np.nan
        result.append(
            {
                "index": int(index),
                "mean": None if not np.isfinite(value) else float(value),
                "share": None if not np.isfinite(value) or total == 0 else float(abs(value) / total),
            }
        )
    return result


def l1_view(
    layer_means, previous_means, signed=None, magnitude=None, k=DEFAULT_K, n_extremes=DEFAULT_EXTREMES, keep=()
):
    """The kept neurons of both layers and the top-k weights between them.

    Args:
      layer_means: mean activation per unit of the layer under the class selection.
      previous_means: the same for the predecessor (NaN where unknown, e.g. an input layer).
      signed, magnitude: aggregate_kernel() of the layer's kernel, or None without one.
      keep: neurons of the layer kept whatever their weights (e.g. one a tool points to).
    """
    weights = [] if signed is None else top_weights(signed, magnitude, k)
    kept_layer = {o for _, o, _, _ in weights} | extremes(layer_means, n_extremes) | set(keep)
    kept_previous = {i for i, _, _, _ in weights} | extremes(previous_means, n_extremes)
    return {
        "layer": {"units": int(np.size(layer_means)), "neurons": _neurons(kept_layer, layer_means)},
        "previous": {"units": int(np.size(previous_means)), "neurons": _neurons(kept_previous, previous_means)},
        "weights": [{"from": i, "to": o, "value": v, "magnitude": m} for i, o, v, m in weights],
    }
