"""Gradients at logging time: the loss's gradient of every trainable variable on a probe batch, in one
compiled pass, and the update of every variable since the previous logged step.

The pass costs one forward and backward pass over at most `max_samples` probe samples (64 by default) per
logged step, about one training batch. After the first epoch the callback fits it into the time budget
(`fit_to`: the same share of an epoch as the attribution maps get, capture/time_budget.py), halving the
samples down to 8, or turning it off. The update ratio
|W_t - W_prev| / |W_t| is computed from the weights the step logs anyway (one copy of the previous step's
kept). Models without a compiled loss (a custom train_step, such as keras.io's VAE) get no gradients.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import tensorflow as tf

from innspector_tb.capture import architecture as architecture_lib
from innspector_tb.capture import backend_ops
from innspector_tb.format import gradients as gradients_lib

logger = logging.getLogger("innspector_tb")

MAX_SAMPLES = 64
MIN_SAMPLES = 8


class GradientPass:
    """Per-variable gradient norms of the compiled loss on the first `max_samples` probe samples."""

    def __init__(self, model: Any, x: Any, y: Any, max_samples: int = MAX_SAMPLES) -> None:
        self.model = model
        self.ready = y is not None and getattr(model, "loss", None) is not None
        self.x = _head(x, max_samples)
        self.y = _head(y, max_samples) if y is not None else None
        self.units: list[tuple[str, str]] = []
        self.variables: list[Any] = []
        if self.ready:
            trainable = {id(v) for v in model.trainable_variables}
            for layer_id, layer in architecture_lib.iter_leaf_layers(model):
                for variable, name in zip(layer.weights, architecture_lib.layer_variable_names(layer), strict=False):
                    if id(variable) in trainable and (layer_id, name) not in self.units:
                        self.units.append((layer_id, name))
                        self.variables.append(variable)
            # Under JAX the same norms come from jax.grad of the loss the JAX trainer differentiates.
            self._compiled = (
                backend_ops.gradient_norms(model, self.variables) if backend_ops.is_jax() else tf.function(self._norms)
            )
        self.previous: dict[tuple[str, str], np.ndarray] = {}
        self.batches_at_previous: int | None = None
        self.seconds: float | None = None  # the last pass's time (the compiled pass only)

    def _norms(self, x, y):
        with tf.GradientTape() as tape:
            prediction = self.model(x, training=False)
            loss = self.model.compute_loss(x=x, y=y, y_pred=prediction, training=False)
        grads = tape.gradient(loss, self.variables)
        return [tf.zeros([]) if g is None else tf.norm(tf.cast(g, tf.float32)) for g in grads]

    def __call__(self, weights: dict[tuple[str, str], np.ndarray] | None, batches_done: int) -> dict[str, list]:
        """{"layer/variable": GRADIENT_FIELDS values} at this step; {} when the model has no loss."""
        if not self.ready or not self.variables:
            return {}
        if self.seconds is None:
            self._compiled(self.x, self.y)  # the first call traces: time the second
        started = time.perf_counter()
        norms = [float(n) for n in self._compiled(self.x, self.y)]
        self.seconds = time.perf_counter() - started
        batches = None if self.batches_at_previous is None else batches_done - self.batches_at_previous
        result = {}
        for (layer_id, name), variable, norm in zip(self.units, self.variables, norms, strict=True):
            current = weights.get((layer_id, name)) if weights is not None else None
            if current is None:
                current = np.asarray(variable.numpy())
            weight_norm = float(np.linalg.norm(current.ravel()))
            before = self.previous.get((layer_id, name))
            ratio = np.nan
            if before is not None and before.shape == current.shape and weight_norm > 0:
                ratio = float(np.linalg.norm((current - before).ravel())) / weight_norm
            result["%s/%s" % (layer_id, name)] = gradients_lib.vector(
                norm, int(np.prod(current.shape)), weight_norm, ratio, batches
            ).tolist()
            self.previous[(layer_id, name)] = np.array(current, copy=True)
        self.batches_at_previous = batches_done
        return result

    def samples(self) -> int:
        """The probe samples of the pass (the first input's rows)."""
        first = self.x
        if isinstance(first, dict):
            first = next(iter(first.values()), None)
        elif isinstance(first, (list, tuple)):
            first = first[0] if first else None
        return 0 if first is None else len(first)

    def fit_to(self, seconds_allowed: float) -> str | None:
        """Halves the probe batch (down to MIN_SAMPLES) until the last pass's time, scaled, fits the
        allowance, or turns the pass off; says what it reduced, None when nothing."""
        if not self.ready or self.seconds is None:
            return None
        before = n = self.samples()
        while n > MIN_SAMPLES and self.seconds * n / before > seconds_allowed:
            n = max(MIN_SAMPLES, n // 2)
        if self.seconds * n / before > seconds_allowed:
            self.ready = False
            return "gradients off: a pass on %d samples takes %.2f s, over the %.2f s allowed" % (
                n,
                self.seconds * n / before,
                seconds_allowed,
            )
        if n == before:
            return None
        self.x, self.y = _head(self.x, n), _head(self.y, n)
        return "gradients on %d probe samples instead of %d" % (n, before)


def _head(values: Any, n: int) -> Any:
    if isinstance(values, (list, tuple)):
        return type(values)(_head(v, n) for v in values)
    if isinstance(values, dict):
        return {k: _head(v, n) for k, v in values.items()}
    return np.asarray(values)[:n]
