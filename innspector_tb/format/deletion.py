"""Deletion (pixel-flipping) curves as stored: `attributions/deletion/...` in a step file.

One definition for the writer (capture/deletion.py) and the readers (server/), which must not import
TensorFlow. What the curves are: docs/format.md, "Deletion curves".

A curve of a sample is the attributed class's score after deleting the fraction `fractions[k]` of its
input features, most relevant first, scaled so the unperturbed input scores 1 and the input with every
feature deleted scores 0. Its area (`auc`, trapezoids over the fractions) is lower when the map's
ranking finds what the score rests on: the random ranking's area is the reference.
"""

import json

import numpy as np

GROUP = "attributions/deletion"
FRACTIONS = GROUP + "/fractions"
RANDOM = "random"  # the seeded random ranking, stored beside the methods
DEFAULT_STEPS = 16
MIN_STEPS = 8  # the time budget halves the steps down to this, then leaves the curves out
MAX_STEPS = 1024
# Maps whose sign is not evidence for or against the class (gradients): ranked by magnitude. The others
# (contributions: gradient x input, integrated gradients, LRP, occlusion's drop; Grad-CAM, >= 0) by value.
MAGNITUDE_METHODS = ("saliency", "smoothgrad", "guided_backprop", "deconvnet", "guided_grad_cam")


def fractions(steps):
    """The deleted fractions of a curve of `steps` points: 0 to 1, evenly spaced, float32 [steps]."""
    steps = int(steps)
    if steps < 2:
        raise ValueError("a deletion curve needs at least 2 points, got %d" % steps)
    return np.linspace(0.0, 1.0, steps, dtype=np.float32)


def curve_dataset(method, target):
    """The dataset of a method's (or RANDOM's) curves for a target: [n, steps]."""
    return "%s/%s/%s" % (GROUP, method, target)


def auc(curves, fraction_points):
    """The area under each curve [..., steps] over the fractions (trapezoids): [...]; NaN stays NaN."""
    curves = np.asarray(curves, dtype=np.float64)
    x = np.asarray(fraction_points, dtype=np.float64)
    if curves.shape[-1] != x.shape[0]:
        raise ValueError("curves of %d points for %d fractions" % (curves.shape[-1], x.shape[0]))
    widths = np.diff(x)
    return ((curves[..., 1:] + curves[..., :-1]) * 0.5 * widths).sum(axis=-1)


def mean_auc(curves, fraction_points):
    """The mean area over the samples whose curve is defined (not NaN), or None if none is."""
    areas = auc(curves, fraction_points)
    areas = areas[np.isfinite(areas)]
    return float(areas.mean()) if areas.size else None


def attrs_of(result):
    """The HDF5 attributes of the `attributions/deletion` group (JSON strings) of a DeletionResult."""
    return {
        "auc": json.dumps(
            {
                method: {target: mean_auc(curves, result.fractions) for target, curves in by_target.items()}
                for method, by_target in result.curves.items()
            },
            sort_keys=True,
        ),
        "undefined": json.dumps(result.undefined, sort_keys=True),
        "skipped": json.dumps(result.skipped, sort_keys=True),
        "baseline": json.dumps(result.baseline),
    }
