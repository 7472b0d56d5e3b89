"""Guided Backpropagation and DeconvNet: the gradient with the ReLUs' backward pass modified.

  guided_backprop   a ReLU passes back the gradient where its input was positive AND the gradient is
                    positive (Springenberg et al. 2015)
  deconvnet         a ReLU passes back the positive gradient, whatever its input (Zeiler & Fergus 2014)

Every other layer (max pooling's switches included) back-propagates as usual. ReLUs are a Dense or
convolution with activation "relu", an Activation("relu") or a plain ReLU layer (no max value,
threshold or slope); other activations keep their gradient, as in iNNvestigate.
"""

import keras
import tensorflow as tf

from innspector_tb.capture.relevance import trace


@tf.custom_gradient
def guided_relu(x):
    def grad(dy):
        return dy * tf.cast(x > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)

    return tf.nn.relu(x), grad


@tf.custom_gradient
def deconv_relu(x):
    def grad(dy):
        return tf.nn.relu(dy)

    return tf.nn.relu(x), grad


def _is_plain_relu_layer(layer):
    if isinstance(layer, keras.layers.ReLU):
        return not layer.max_value and not layer.negative_slope and not layer.threshold
    return False


def _has_relu(layer):
    return getattr(getattr(layer, "activation", None), "__name__", None) == "relu"


def caller(mode):
    """A call_layer for trace.walk that replaces ReLUs by the mode's ("guided" or "deconvnet")."""
    relu = guided_relu if mode == "guided" else deconv_relu

    def call_layer(layer, args, kwargs):
        if _is_plain_relu_layer(layer) or (isinstance(layer, keras.layers.Activation) and _has_relu(layer)):
            return relu(args[0])
        if _has_relu(layer):
            saved = layer.activation
            layer.activation = keras.activations.linear
            try:
                return relu(layer(*args, **kwargs))
            finally:
                layer.activation = saved
        return layer(*args, **kwargs)

    return call_layer


def gradient(graph, x, classes, mode, final=None, strip=None):
    """The modified gradient of each row's class score [n, ...] ("guided" or "deconvnet")."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores, _ = trace.walk(graph, x, final, strip, call_layer=caller(mode))
        picked = tf.gather(scores, tf.cast(classes, tf.int32)[:, None], batch_dims=1)
        total = tf.reduce_sum(tf.cast(picked, x.dtype))
    grad = tape.gradient(total, x)
    return tf.zeros_like(x) if grad is None else grad
