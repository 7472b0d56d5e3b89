"""The LRP rules of a linear layer z = f(x, W) + b (Dense or convolution), by the gradient trick.

For a rule whose modified layer is z' = f(x, W') + b', the relevance of the inputs is

    R_in = x * grad_x( f(x, W') . stop_gradient(R_out / stab(z')) )

(Montavon et al. 2019, "Layer-wise relevance propagation: an overview", section 10.2.2). `f` is linear
in x, so the gradient is W'^T s: one backward pass of the layer per term. `stab(z) = z + ε sign(z)`
(sign(0) = +1) keeps the division finite.

What each rule keeps of R_out (sum of R_in against sum of R_out, the "absorption"):
  Z (LRP-0)    z-rule, ε = 1e-9: the bias's share b_j / z_j of R_j stays with the bias
  Epsilon(ε)   the bias's share and ε / (|z_j| + ε) of R_j are absorbed
  Gamma(γ)     W' = W + γ W⁺, b' = b + γ b⁺; absorbs the bias's share of z'
  AlphaBeta    α R from the positive contributions (x⁺W⁺, x⁻W⁻, b⁺) minus β R from the negative
               ones (x⁺W⁻, x⁻W⁺, b⁻); α - β = 1 conserves up to the bias shares
  ZPlus (z⁺)   the positive contributions only, biases ignored: conserves exactly, except R_j of a
               neuron with no positive contribution (lost)
  WSquare (w²) R_i = sum_j w_ij² / sum_i' w_i'j² R_j, independent of x: conserves
  Flat         w² with every weight 1: R_j spread evenly over its receptive field: conserves
  ZBox (z^B)   for inputs bounded in [low, high]: z = xW - low W⁺ - high W⁻ (>= 0), biases cancel:
               conserves
"""

import dataclasses

import tensorflow as tf

TINY = 1e-9  # the stabiliser of rules without an ε of their own


def stabilize(z, epsilon):
    """z + ε sign(z), with sign(0) = +1: never 0 for ε > 0."""
    return z + epsilon * tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))


def backward(forward, x, weights, s):
    """grad_x sum(f(x, W) * s) = W^T s, f without bias (f is linear in x)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = forward(x, weights, None)
    grad = tape.gradient(z, x, output_gradients=s)
    return tf.zeros_like(x) if grad is None else grad


def _pos(t):
    return tf.maximum(t, tf.zeros_like(t))


def _neg(t):
    return tf.minimum(t, tf.zeros_like(t))


def _bias(bias, like):
    return tf.zeros_like(like) if bias is None else bias


@dataclasses.dataclass(frozen=True)
class Epsilon:
    """LRP-ε (ε = TINY: LRP-0, the z-rule)."""

    epsilon: float = TINY

    def relevance(self, forward, x, r, kernel, bias, bounds=None):
        z = forward(x, kernel, bias)
        return x * backward(forward, x, kernel, r / stabilize(z, self.epsilon))


def Z():
    return Epsilon(TINY)


@dataclasses.dataclass(frozen=True)
class Gamma:
    """LRP-γ: positive weights favoured by γ (the form for non-negative inputs, Montavon et al. 2019)."""

    gamma: float = 0.25

    def relevance(self, forward, x, r, kernel, bias, bounds=None):
        kernel = kernel + self.gamma * _pos(kernel)
        bias = None if bias is None else bias + self.gamma * _pos(bias)
        z = forward(x, kernel, bias)
        return x * backward(forward, x, kernel, r / stabilize(z, TINY))


@dataclasses.dataclass(frozen=True)
class AlphaBeta:
    """LRP-αβ: α times the relevance by positive contributions minus β times by negative ones."""

    alpha: float = 1.0
    beta: float = 0.0

    def relevance(self, forward, x, r, kernel, bias, bounds=None):
        xp, xn, wp, wn = _pos(x), _neg(x), _pos(kernel), _neg(kernel)
        bp = None if bias is None else _pos(bias)
        positive = forward(xp, wp, bp) + forward(xn, wn, None)
        s = r / stabilize(positive, TINY)
        result = self.alpha * (xp * backward(forward, xp, wp, s) + xn * backward(forward, xn, wn, s))
        if self.beta:
            bn = None if bias is None else _neg(bias)
            negative = forward(xp, wn, bn) + forward(xn, wp, None)
            s = r / stabilize(negative, TINY)
            result -= self.beta * (xp * backward(forward, xp, wn, s) + xn * backward(forward, xn, wp, s))
        return result


@dataclasses.dataclass(frozen=True)
class ZPlus:
    """z⁺: the positive contributions x⁺W⁺ + x⁻W⁻ only, biases ignored."""

    def relevance(self, forward, x, r, kernel, bias, bounds=None):
        xp, xn, wp, wn = _pos(x), _neg(x), _pos(kernel), _neg(kernel)
        z = forward(xp, wp, None) + forward(xn, wn, None)
        s = r / stabilize(z, TINY)
        return xp * backward(forward, xp, wp, s) + xn * backward(forward, xn, wn, s)


@dataclasses.dataclass(frozen=True)
class WSquare:
    """w²: R spread by squared weights, whatever the input (biases ignored)."""

    def _weights(self, kernel):
        return tf.square(kernel)

    def relevance(self, forward, x, r, kernel, bias, bounds=None):
        ones, weights = tf.ones_like(x), self._weights(kernel)
        z = forward(ones, weights, None)
        return backward(forward, ones, weights, r / stabilize(z, TINY))


@dataclasses.dataclass(frozen=True)
class Flat(WSquare):
    """flat: every weight 1, R spread evenly over the receptive field."""

    def _weights(self, kernel):
        return tf.ones_like(kernel)


@dataclasses.dataclass(frozen=True)
class ZBox:
    """z^B for an input layer whose inputs lie in [low, high] (`bounds`: two scalar tensors)."""

    def relevance(self, forward, x, r, kernel, bias, bounds=None):
        if bounds is None:
            raise ValueError("the z^B rule needs the input bounds")
        low, high = tf.cast(bounds[0], x.dtype) * tf.ones_like(x), tf.cast(bounds[1], x.dtype) * tf.ones_like(x)
        wp, wn = _pos(kernel), _neg(kernel)
        z = forward(x, kernel, None) - forward(low, wp, None) - forward(high, wn, None)
        s = r / stabilize(z, TINY)
        return (
            x * backward(forward, x, kernel, s)
            - low * backward(forward, low, wp, s)
            - high * backward(forward, high, wn, s)
        )
