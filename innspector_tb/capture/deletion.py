"""Deletion (pixel-flipping) curves: how fast the attributed score falls when the input features a map
ranks first are deleted, for each method, beside a random ranking (docs/format.md, "Deletion curves").

    result = deletion.curves(attributor.scores, x, maps, classes, steps=16, baseline=0.0, sample=rows)
    result.curves["integrated_gradients"]["predicted"]     # [n, 16], 1 at fraction 0, 0 at fraction 1

Features are the positions of the input: every axis but the last (channels) of a sample of rank >= 2,
each element of a rank-1 sample (as occlusion's patches). A feature's relevance is the map summed
over its channels (its magnitude for the gradient methods of format.deletion.MAGNITUDE_METHODS);
Grad-CAM's coarser map is upsampled to the positions (nearest). Ties, and the random ranking, follow
a permutation seeded by (seed, probe row), so a sample is deleted in the same random order at every
step and in every model. Deleting a feature sets all its channels to the baseline: the one integrated
gradients integrate from (`ig_baseline`, 0 by default), so "absent" means the same for every method.

The score is the attributor's (the logit, or the output) of the class each target attributes; curve
point k is (score(x with the first fraction_k deleted) - score(baseline)) / (score(x) - score(baseline)).
A sample whose score at x is not above the all-baseline input's has no curve (NaN row): its score
rests on nothing deletion can take away. Cost: (steps - 2) forward passes per sample, class and ranking
(the two ends are shared), batched; the time budget counts them (time_budget.rows).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from innspector_tb.format import deletion as deletion_format

logger = logging.getLogger("innspector_tb")

_ELEMENTS_PER_CALL = 1 << 21  # input elements per forward call, as for the gradient calls
_RANDOM_SALT = 0x5EED  # keeps the ranking's stream apart from the SmoothGrad noise of the same seed


class DeletionError(ValueError):
    """A map or input deletion curves cannot be computed for."""


@dataclasses.dataclass
class DeletionResult:
    fractions: np.ndarray  # float32 [steps]
    curves: dict[str, dict[str, np.ndarray]]  # {method or RANDOM: {target: float32 [n, steps]}}
    undefined: dict[str, int]  # {target: samples without a curve (score not above the baseline's)}
    skipped: dict[str, str]  # {method: why it has no curve}
    baseline: Any  # the number, or "array"


def feature_grid(sample_shape):
    """The feature positions of a sample: its axes but the last (channels) at rank >= 2, else its own."""
    shape = tuple(int(d) for d in sample_shape)
    return shape[:-1] if len(shape) >= 2 else shape


def feature_scores(maps, method, sample_shape):
    """The relevance of each feature: [n, features] from maps [n, *sample shape] (or Grad-CAM's grid)."""
    maps = np.asarray(maps, dtype=np.float64)
    shape = tuple(int(d) for d in sample_shape)
    grid = feature_grid(shape)
    if method in deletion_format.MAGNITUDE_METHODS:
        maps = np.abs(maps)
    n = maps.shape[0]
    if maps.shape[1:] == shape:
        values = maps.sum(axis=-1) if len(shape) >= 2 else maps
    elif maps.ndim - 1 == len(grid) and all(d > 0 for d in maps.shape[1:]):
        # A coarser grid (Grad-CAM at a convolution's resolution): each feature takes its cell's value.
        index = [
            np.minimum(((np.arange(g) + 0.5) * m / g).astype(np.int64), m - 1)
            for g, m in zip(grid, maps.shape[1:], strict=True)
        ]
        values = maps[np.ix_(np.arange(n), *index)]
    else:
        raise DeletionError(
            "a %s map of shape %s cannot rank the features %s of inputs %s"
            % (method, list(maps.shape[1:]), list(grid), list(shape))
        )
    return values.reshape(n, -1)


def random_orders(sample_rows, features, seed=0):
    """The random deletion order of each sample [n, features], seeded by (seed, probe row)."""
    return (
        np.stack(
            [np.random.default_rng([int(seed), _RANDOM_SALT, int(row)]).permutation(features) for row in sample_rows]
        ).astype(np.int64)
        if len(sample_rows)
        else np.zeros((0, features), np.int64)
    )


def ranks(scores, tiebreak_orders):
    """The position of each feature in the deletion order [n, features]: highest score first, ties in
    the tie-break order."""
    scores = np.asarray(scores, dtype=np.float64)
    tiebreak = np.empty_like(tiebreak_orders)
    rows = np.arange(scores.shape[0])[:, None]
    tiebreak[rows, tiebreak_orders] = np.arange(scores.shape[1])[None, :]  # each feature's random rank
    order = np.stack([np.lexsort((t, -s)) for s, t in zip(scores, tiebreak, strict=True)]) if len(scores) else tiebreak
    positions = np.empty(order.shape, np.int32)  # int32: the rankings of every method are held at once
    positions[rows, order] = np.arange(scores.shape[1])[None, :]
    return positions


def deleted_counts(fraction_points, features):
    """Features deleted at each fraction: round(fraction * features)."""
    return np.rint(np.asarray(fraction_points, dtype=np.float64) * features).astype(np.int64)


def normalise(scores, unperturbed, deleted):
    """(scores - deleted) / (unperturbed - deleted) per row [n, k]; NaN rows where unperturbed is not
    above deleted (beyond float noise)."""
    scores = np.asarray(scores, dtype=np.float64)
    top, bottom = np.asarray(unperturbed, np.float64), np.asarray(deleted, np.float64)
    span = top - bottom
    defined = span > 1e-6 * np.maximum(1.0, np.maximum(np.abs(top), np.abs(bottom)))
    out = np.full(scores.shape, np.nan)
    out[defined] = (scores[defined] - bottom[defined, None]) / span[defined, None]
    return out


def forward_rows(size, targets, rankings, steps):
    """Forward passes of the curves of `size` samples, `targets` classes each and `rankings` (methods and
    the random one): (steps - 2) per curve, the samples' own scores and the baseline's."""
    if steps <= 0 or rankings <= 0:
        return 0
    return size * max(targets, 1) * rankings * max(steps - 2, 0) + size + 1


def curves(
    scores_of,
    x,
    maps,
    classes,
    steps=deletion_format.DEFAULT_STEPS,
    baseline=0.0,
    seed=0,
    sample=None,
    rows_per_call=None,
):
    """The deletion curves of every method of `maps` and of the random ranking.

    Args:
      scores_of: batch [m, ...] -> scores [m, classes] (numpy), the score the maps explain.
      x: the attributed samples [n, ...].
      maps: {method: {target: [n, ...]}} (an AttributionResult).
      classes: {target: int [n]}, the class each target attributes.
      steps: points of a curve (fractions 0..1).
      baseline: a number or an array of one sample's shape: what a deleted feature becomes.
      sample: the probe rows of x (seeds the random ranking; 0..n-1 when None).
    """
    x = np.asarray(x)
    n, shape = x.shape[0], tuple(x.shape[1:])
    points = deletion_format.fractions(steps)
    grid = feature_grid(shape)
    features = int(np.prod(grid)) if grid else 1
    channels = int(np.prod(shape)) // features if features else 1
    base = np.broadcast_to(np.asarray(baseline, dtype=x.dtype), shape)
    sample = np.arange(n) if sample is None else np.asarray(sample, dtype=np.int64)
    orders = random_orders(sample, features, seed)
    # The distinct (sample, class) pairs: a sample whose targets agree is deleted once.
    pairs = sorted({(i, int(c)) for values in classes.values() for i, c in enumerate(np.asarray(values))})
    pair_sample = np.array([p[0] for p in pairs], dtype=np.int64)
    pair_class = np.array([p[1] for p in pairs], dtype=np.int64)
    lookup = {p: k for k, p in enumerate(pairs)}
    full = scores_of(x)
    unperturbed = np.asarray(full, np.float64)[pair_sample, pair_class]
    deleted = np.asarray(scores_of(base[None]), np.float64)[0, pair_class]
    # Each ranking's positions per pair: the methods' (from the map of a target holding the pair), random.
    rankings: dict[str, np.ndarray] = {}
    skipped = {}
    for method, by_target in maps.items():
        positions = np.zeros((len(pairs), features), np.int32)
        try:
            for target, values in by_target.items():
                rows = [lookup[(i, int(c))] for i, c in enumerate(np.asarray(classes[target]))]
                positions[rows] = ranks(feature_scores(values, method, shape), orders)
        except DeletionError as e:
            skipped[method] = str(e)
            continue
        rankings[method] = positions
    rankings[deletion_format.RANDOM] = ranks(np.zeros((len(pairs), features)), orders[pair_sample])
    counts = deleted_counts(points, features)[1:-1]
    inner = _scores_of_deletions(
        scores_of,
        x.reshape(n, features, channels),
        base.reshape(features, channels),
        shape,
        list(rankings.values()),
        pair_sample,
        pair_class,
        counts,
        rows_per_call,
    )
    result = {}
    for k, name in enumerate(rankings):
        scores = np.concatenate([unperturbed[:, None], inner[k], deleted[:, None]], axis=1)
        curve = normalise(scores, unperturbed, deleted).astype(np.float32)
        result[name] = {
            target: curve[[lookup[(i, int(c))] for i, c in enumerate(np.asarray(values))]]
            for target, values in classes.items()
        }
    undefined_pairs = ~np.isfinite(normalise(np.zeros((len(pairs), 1)), unperturbed, deleted)[:, 0])
    undefined = {
        target: int(sum(undefined_pairs[lookup[(i, int(c))]] for i, c in enumerate(np.asarray(values))))
        for target, values in classes.items()
    }
    baseline_json = float(np.asarray(baseline)) if np.ndim(baseline) == 0 else "array"
    return DeletionResult(points, result, undefined, skipped, baseline_json)


def _scores_of_deletions(scores_of, xf, base, shape, rankings, pair_sample, pair_class, counts, rows_per_call):
    """The score of every (ranking, pair, inner fraction): a list (per ranking) of [pairs, counts]."""
    pairs, steps = pair_sample.shape[0], counts.shape[0]
    total = len(rankings) * pairs * steps
    out = np.zeros(total, np.float64)
    if not total:
        return [out.reshape(pairs, steps) for _ in rankings]
    size = int(np.prod(shape)) or 1
    chunk = int(rows_per_call) if rows_per_call else int(np.clip(_ELEMENTS_PER_CALL // size, 8, 4096))
    stacked = np.stack(rankings)  # [rankings, pairs, features]
    for start in range(0, total, chunk):
        row = np.arange(start, min(start + chunk, total))
        which, rest = np.divmod(row, pairs * steps)
        pair, k = np.divmod(rest, steps)
        mask = stacked[which, pair] < counts[k][:, None]  # [rows, features]
        batch = np.where(mask[:, :, None], base[None], xf[pair_sample[pair]]).reshape((row.size,) + shape)
        scores = np.asarray(scores_of(batch), np.float64)
        out[row] = scores[np.arange(row.size), pair_class[pair]]
    return list(out.reshape(len(rankings), pairs, steps))


def batch_scores(attributor):
    """An Attributor's scores of a whole batch in one compiled call (`curves` bounds its batches already;
    the Attributor's own 256-row slices would cost a call's overhead per slice)."""
    return lambda batch: attributor.scores(batch, batch_size=max(1, len(batch)))


def add_to(result, scores_of, x, steps, baseline=0.0, seed=0, rows_per_call=None):
    """Sets `result.deletion` (an AttributionResult's curves), or says in `result.skipped["deletion"]`
    why there are none. A failure costs the curves, never the maps."""
    if not steps or not len(result) or not result.classes:
        return result
    try:
        result.deletion = curves(
            scores_of, x, result, result.classes, steps, baseline, seed, result.sample, rows_per_call
        )
    except Exception as e:  # the maps are still worth logging
        logger.warning("iNNspector: deletion curves failed and were skipped: %s", e, exc_info=True)
        result.skipped["deletion"] = "failed: %s" % e
    return result
