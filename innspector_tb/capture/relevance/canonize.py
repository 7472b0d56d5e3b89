"""The walk's calls as propagation steps, BatchNormalization folded into the linear layer before it.

In inference mode BN is affine per channel, y = γ (z - μ) / sqrt(σ² + eps) + β, so after a Dense or
convolution without an activation it folds into that layer: W' = W * scale, b' = (b - μ) * scale + β,
scale = γ / sqrt(σ² + eps) (Zennit's `MergeBatchNorm`, iNNvestigate's BN handling). The pair is then
one linear layer for the rules. A BN anywhere else (after an activation, on the input, after a layer
whose output something else reads too) cannot be folded: LRP is unavailable for the model.
"""

import dataclasses
from typing import Any

import tensorflow as tf

from innspector_tb.capture.relevance import layer_rules
from innspector_tb.capture.relevance.trace import Call


class Unsupported(Exception):
    """Relevance cannot pass this model; the message says which layer and why."""


@dataclasses.dataclass
class Step:
    kind: str
    call: Call  # the call whose layer the step's rule is about (the linear one of a folded pair)
    inputs: list
    output: Any
    kernel: Any = None
    bias: Any = None


def _activation_is_linear(layer):
    return getattr(getattr(layer, "activation", None), "__name__", "linear") == "linear"


def _fold(linear: Call, bn: Call):
    """(kernel, bias) of the linear layer with the BN after it folded in."""
    layer, norm = linear.layer, bn.layer
    kernel, bias = layer_rules.weights_of(layer)
    dtype = kernel.dtype
    variance = tf.cast(tf.convert_to_tensor(norm.moving_variance), dtype)
    mean = tf.cast(tf.convert_to_tensor(norm.moving_mean), dtype)
    scale = tf.math.rsqrt(variance + tf.cast(norm.epsilon, dtype))
    if norm.scale:
        scale = scale * tf.cast(tf.convert_to_tensor(norm.gamma), dtype)
    shift = tf.cast(tf.convert_to_tensor(norm.beta), dtype) if norm.center else tf.zeros_like(mean)
    bias = tf.zeros_like(mean) if bias is None else tf.cast(bias, dtype)
    return kernel * scale, (bias - mean) * scale + shift


def steps_of(calls, outputs=(), stripped=None):
    """[Step] of the calls in topological order; raises Unsupported (with the reason) for a layer without a rule.

    `outputs`: tensors read outside the calls (the model's output), which a folded layer must not produce.
    `stripped`: the last layer, when its activation was left out of the score.
    """
    produced = {id(c.output): c for c in calls}
    readers: dict[int, int] = {}
    for c in calls:
        for t in c.inputs:
            readers[id(t)] = readers.get(id(t), 0) + 1
    for t in outputs:
        readers[id(t)] = readers.get(id(t), 0) + 1
    folded: dict[int, Call] = {}  # id of a BN call -> the linear call folded into it
    for c in calls:
        kind, reason = layer_rules.kind_of(c.layer, c.layer is stripped)
        if kind is None:
            raise Unsupported(reason)
        if kind != layer_rules.BATCHNORM:
            continue
        source = produced.get(id(c.inputs[0])) if len(c.inputs) == 1 else None
        why = None
        if source is None or layer_rules.kind_of(source.layer)[0] != layer_rules.LINEAR:
            why = "it does not follow a Dense or convolution layer"
        elif not _activation_is_linear(source.layer):
            why = "%r before it has an activation" % source.layer.name
        elif readers.get(id(source.output), 0) != 1:
            why = "the output of %r before it is read elsewhere too" % source.layer.name
        else:
            rank = len(c.output.shape)
            axes = c.layer.axis if isinstance(c.layer.axis, (list, tuple)) else [c.layer.axis]
            axes = sorted(a % rank for a in axes)
            if axes != [layer_rules.channel_axis(source.layer, rank)]:
                why = "it normalises axis %s, not the channels of %r" % (axes, source.layer.name)
        if why or source is None:
            raise Unsupported("BatchNormalization %r cannot be folded into a linear layer: %s" % (c.layer.name, why))
        folded[id(c)] = source
    skipped = {id(source) for source in folded.values()}
    steps = []
    for c in calls:
        if id(c) in skipped:
            continue
        kind = layer_rules.kind_of(c.layer, c.layer is stripped)[0]
        if kind == layer_rules.BATCHNORM:
            source = folded[id(c)]
            kernel, bias = _fold(source, c)
            steps.append(Step(layer_rules.LINEAR, source, source.inputs, c.output, kernel, bias))
        elif kind == layer_rules.LINEAR:
            kernel, bias = layer_rules.weights_of(c.layer)
            steps.append(Step(kind, c, c.inputs, c.output, kernel, bias))
        else:
            steps.append(Step(kind, c, c.inputs, c.output))
    return steps
