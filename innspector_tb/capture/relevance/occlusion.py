"""Occlusion: a patch slides over the input, set to a baseline; the score's drop is the map.

The map of a sample and class c at an element is the mean, over the patch positions covering it, of
score_c(x) - score_c(x with the patch at the baseline): positive where hiding the input lowers the
score. The patch covers every channel; the map is stored with the input's shape, the drop divided by
the number of channels (so the sum over channels, what the tab shows, is the drop).

Spatial axes: every axis but the last (channels) of an input of rank >= 2 per sample, the only axis
of a rank-1 input. The patch is `occlusion_patch` elements on each spatial axis (0: a quarter of the
side, at least 1), moved by `occlusion_stride` (0: half the patch, at least 1), the last position
flush with the end. The baseline (`occlusion_baseline`) is a number, or "grey": the middle of the
value range of the attributed samples (iNNvestigate-GUI's grey-box occlusion).

Cost: one forward pass per sample and patch position (`positions`), all classes at once; the time
budget counts them (time_budget.rows).
"""

import itertools

import numpy as np


def spatial_shape(sample_shape):
    shape = tuple(int(d) for d in sample_shape)
    return shape[:-1] if len(shape) >= 2 else shape


def _sizes(side, patch, stride):
    patch = min(side, patch if patch > 0 else max(1, round(side / 4)))
    stride = stride if stride > 0 else max(1, patch // 2)
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] != side - patch:
        starts.append(side - patch)
    return patch, starts


def windows(sample_shape, patch=0, stride=0):
    """The patch positions: a list of tuples of slices over the spatial axes."""
    per_axis = []
    for side in spatial_shape(sample_shape):
        size, starts = _sizes(side, int(patch), int(stride))
        per_axis.append([slice(s, s + size) for s in starts])
    return list(itertools.product(*per_axis))


def positions(sample_shape, options):
    """Forward passes per sample."""
    return len(windows(sample_shape, options.get("occlusion_patch", 0), options.get("occlusion_stride", 0)))


def baseline_value(x, baseline):
    if isinstance(baseline, str):  # "grey"
        return 0.5 * (float(np.min(x)) + float(np.max(x))) if np.size(x) else 0.0
    return float(baseline)


def maps(scores_of, x, sample_classes, options, rows_per_call=1024):
    """{sample index: {class: map}} for the classes of each sample.

    scores_of(batch) -> [m, classes] numpy; x [n, ...]; sample_classes {i: [classes]}.
    """
    shape = x.shape[1:]
    found = windows(shape, options["occlusion_patch"], options["occlusion_stride"])
    value = baseline_value(x, options["occlusion_baseline"])
    channels = int(shape[-1]) if len(shape) >= 2 else 1
    coverage = np.zeros(spatial_shape(shape), np.float64)
    for window in found:
        coverage[window] += 1
    per_call = max(1, rows_per_call // max(1, len(found))) if len(found) < rows_per_call else 1
    result: dict[int, dict[int, np.ndarray]] = {}
    samples = sorted(sample_classes)
    for start in range(0, len(samples), per_call):
        chunk = samples[start : start + per_call]
        batch = [x[i] for i in chunk]
        for i in chunk:
            for window in found:
                copy = x[i].copy()
                copy[window] = value
                batch.append(copy)
        scores = np.concatenate(
            [scores_of(np.stack(batch[k : k + rows_per_call])) for k in range(0, len(batch), rows_per_call)]
        )
        for k, i in enumerate(chunk):
            occluded = scores[len(chunk) + k * len(found) : len(chunk) + (k + 1) * len(found)]
            drops = scores[k][None, :] - occluded  # [positions, classes]
            result[i] = {}
            for c in sample_classes[i]:
                total = np.zeros(coverage.shape, np.float64)
                for window, drop in zip(found, drops[:, c], strict=True):
                    total[window] += drop
                spatial = total / np.maximum(coverage, 1)
                if len(shape) >= 2:
                    spatial = np.repeat(spatial[..., None] / channels, channels, axis=-1)
                result[i][int(c)] = spatial.astype(x.dtype)
    return result
