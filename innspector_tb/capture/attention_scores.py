"""What the probe pass keeps of an attention layer's scores, computed where the scores are.

An attention layer's scores ([batch, heads, queries, keys], each query's row a distribution over keys) are
heads x queries x keys per sample: for long sequences far more than the layer's output. The probe pass
keeps, per attention layer:
- `attention_entropy` [probe, heads]: the entropy of each query's distribution, averaged over queries and
  divided by log(keys), so 1 is uniform attention and 0 every query on one key (collapse);
- the scores of every probe sample (`attention_scores`) when the layer's activations are kept in full and
  a sample's scores are small (PER_SAMPLE_FULL_BYTES), else of the plan's sample subset
  (`sample_attention_scores`, rows in `data_samples/subset`);
- per-class means of the scores (`mean_class_attention/class_<k>`) when they fit CLASS_MEANS_BYTES.
Attention over several axes (scores of rank above 4) keeps its entropy only.
"""

from __future__ import annotations

import math

import tensorflow as tf

# A sample's scores kept for every probe sample only below this (2 heads x 64 x 64 queries and keys is
# 32 KB): 512 probe samples then hold at most 32 MB.
PER_SAMPLE_FULL_BYTES = 64 * 2**10
# Per-class means of the scores of one layer, all classes together.
CLASS_MEANS_BYTES = 16 * 2**20
EPSILON = 1e-12


def _static_values(scores) -> int | None:
    """Values per sample of the scores, when the shape is known at trace time."""
    dims = scores.shape[1:]
    if dims.rank is None or any(d is None for d in dims):
        return None
    return math.prod(int(d) for d in dims)


def normalised_entropy(scores):
    """[batch, heads]: each query's entropy over the keys, averaged over the queries, over log(keys)."""
    keys = tf.cast(tf.shape(scores)[-1], tf.float32)
    entropy = -tf.reduce_sum(scores * tf.math.log(tf.maximum(scores, EPSILON)), axis=-1)
    axes = list(range(2, len(scores.shape) - 1))  # every query axis
    mean = tf.reduce_mean(entropy, axis=axes) if axes else entropy
    return mean / tf.maximum(tf.math.log(keys), EPSILON)


def device_arrays(scores, keep_all: bool, in_subset, labels, num_classes: int, class_sums) -> dict:
    """The arrays to keep of one batch's scores, by part name ("entropy", "full", "samples", "class_sum"),
    as tensors. `keep_all`: the layer's activations are kept in full; `in_subset`: the batch's rows in the
    plan's sample subset, or None without one. `class_sums(tensor, labels, C)` sums per class
    (probe_pass._class_sums)."""
    scores = tf.cast(scores, tf.float32)
    arrays = {"entropy": normalised_entropy(scores)}
    if len(scores.shape) != 4:
        return arrays
    per_sample = _static_values(scores)
    if keep_all and per_sample is not None and per_sample * 4 <= PER_SAMPLE_FULL_BYTES:
        arrays["full"] = scores
    elif in_subset is not None:
        arrays["samples"] = tf.boolean_mask(scores, in_subset)
    if num_classes and per_sample is not None and per_sample * 4 * num_classes <= CLASS_MEANS_BYTES:
        arrays["class_sum"] = class_sums(scores, labels, num_classes)
    return arrays
