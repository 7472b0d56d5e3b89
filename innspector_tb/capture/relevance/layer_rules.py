"""What each layer type does with relevance, and which layers relevance cannot pass.

Kinds (by class name, subclasses included):
  linear   Dense, Conv1D/2D/3D: the method's rule (rules.py, chosen by composites.py); the layer's
           activation is passed through (relevance of its output = of its pre-activation)
  maxpool  MaxPooling*, GlobalMaxPooling*: winner-take-all (the gradient routes R to the maximum)
  avgpool  AveragePooling*, GlobalAveragePooling*: proportional to each input's share of the mean
  move     Flatten, Reshape, Permute, ZeroPadding*, Cropping*, Concatenate: R moved with the values
  add      Add: R split in proportion to each input's contribution to the sum
  pass     InputLayer, Activation, ReLU, LeakyReLU, ELU, PReLU, Dropout and the noise layers,
           ActivityRegularization, Identity: R unchanged
  batchnorm  BatchNormalization: folded into the linear layer before it (canonize.py)

Anything else (recurrent and attention layers, depthwise or separable convolutions, custom layers, a
softmax inside the network, ...) has no rule: LRP is unavailable for the model, with the reason.
"""

import tensorflow as tf

from innspector_tb.capture.relevance import rules

LINEAR, MAXPOOL, AVGPOOL, MOVE, ADD, PASS, BATCHNORM = (
    "linear",
    "maxpool",
    "avgpool",
    "move",
    "add",
    "pass",
    "batchnorm",
)

_KINDS = {
    LINEAR: ("Dense", "Conv1D", "Conv2D", "Conv3D"),
    MAXPOOL: (
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
    ),
    AVGPOOL: (
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
    ),
    MOVE: (
        "Flatten",
        "Reshape",
        "Permute",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "Concatenate",
    ),
    ADD: ("Add",),
    PASS: (
        "InputLayer",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "ELU",
        "PReLU",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Identity",
    ),
    BATCHNORM: ("BatchNormalization",),
}
_BY_NAME = {name: kind for kind, names in _KINDS.items() for name in names}
_NOT_ELEMENTWISE = ("softmax", "log_softmax")


def kind_of(layer, stripped=False):
    """(kind, None) for a layer relevance can pass, else (None, the reason).

    `stripped`: the layer is the model's last, its softmax or sigmoid left out of the score."""
    name = type(layer).__name__
    kind = next((_BY_NAME[cls.__name__] for cls in type(layer).__mro__ if cls.__name__ in _BY_NAME), None)
    what = "layer %r (%s)" % (layer.name, name)
    if kind is None:
        return None, "%s has no relevance rule" % what
    if kind == LINEAR and getattr(layer, "quantization_mode", None):
        return None, "%s is quantized" % what
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if kind in (LINEAR, PASS) and activation in _NOT_ELEMENTWISE and not stripped:
        return None, "%s applies a %s inside the network" % (what, activation)
    return kind, None


def is_convolution(layer):
    return any(cls.__name__ in ("Conv1D", "Conv2D", "Conv3D") for cls in type(layer).__mro__)


def channel_axis(layer, rank):
    """The axis of the output channels of a linear layer's output of `rank`."""
    if is_convolution(layer) and getattr(layer, "data_format", "channels_last") == "channels_first":
        return 1
    return rank - 1


def forward_of(layer):
    """f(x, kernel, bias) of a linear layer: the layer's computation with other weights, no activation."""
    if is_convolution(layer):
        rank = len(layer.kernel_size)
        channels_first = layer.data_format == "channels_first"

        def conv(x, kernel, bias):
            z = layer.convolution_op(x, tf.cast(kernel, x.dtype))
            if bias is not None:
                shape = (1, -1) + (1,) * rank if channels_first else (1,) * (rank + 1) + (-1,)
                z = z + tf.reshape(tf.cast(bias, x.dtype), shape)
            return z

        return conv

    def dense(x, kernel, bias):
        z = tf.tensordot(x, tf.cast(kernel, x.dtype), [[len(x.shape) - 1], [0]])
        return z if bias is None else z + tf.cast(bias, x.dtype)

    return dense


def weights_of(layer):
    """(kernel, bias or None) of a linear layer, as tensors read now."""
    kernel = tf.convert_to_tensor(layer.kernel)
    bias = tf.convert_to_tensor(layer.bias) if getattr(layer, "use_bias", False) and layer.bias is not None else None
    return kernel, bias


def _gradient(fn, inputs, r):
    with tf.GradientTape() as tape:
        for t in inputs:
            tape.watch(t)
        out = fn(inputs)
    grads = tape.gradient(out, inputs, output_gradients=tf.cast(r, out.dtype))
    return [tf.zeros_like(t) if g is None else g for t, g in zip(inputs, grads, strict=True)]


def route(call, r):
    """R moved with the values (maxpool: to the maximum; move: to where each value came from)."""
    return _gradient(call.rerun, call.inputs, r)


def proportional(call, r):
    """R of a mean split in proportion to each input's share (average pooling)."""
    x = call.inputs[0]
    z = call.rerun([x])
    s = tf.cast(r, z.dtype) / rules.stabilize(z, rules.TINY)
    return [x * _gradient(call.rerun, [x], s)[0]]


def add(call, r):
    """R of a sum split by contribution: R_k = x_k / sum * R."""
    total = tf.add_n([tf.cast(t, call.inputs[0].dtype) for t in call.inputs])
    s = tf.cast(r, total.dtype) / rules.stabilize(total, rules.TINY)
    return [t * tf.cast(s, t.dtype) for t in call.inputs]
