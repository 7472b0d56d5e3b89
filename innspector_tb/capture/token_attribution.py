"""Token attributions of a text classifier: which tokens of a sequence a class score depends on.

    attributor = TokenAttributor(model)             # one input of token ids [n, T] feeding an Embedding
    result = attributor(tokens, y, methods=("gradient_x_embedding", "integrated_gradients"))
    result["integrated_gradients"]["predicted"]     # [n, T]: one value per token

Token ids have no gradient, so the attribution goes through the embedding (as Captum's
LayerIntegratedGradients on the word embeddings does): every Embedding layer the token input [n, T]
goes into is watched, and a token's attribution is summed over the embedding's features:

  gradient_x_embedding  sum_d e_td * d score_c / d e_td
  integrated_gradients  sum_d e_td * the mean of d score_c / d e_td at `ig_steps` points of the path
                        from the zero embedding to e (midpoint rule): a sample's values add up to
                        score_c(x) - score_c(no tokens), up to O(1 / ig_steps^2)

Position embeddings (an Embedding of `arange(T)`, without the batch axis) are left as they are: the
baseline is "no token at any position", not "no position". The token id DELETED (-1) means exactly
that baseline: its embedding is zero. Deletion curves delete tokens to it, so "absent" is the same for
both methods and for the curves (capture/deletion.py).

The forward pass is the image Attributor's walk (the softmax left out for the logit, layers in
inference mode), with each token Embedding's `call` wrapped for the duration of the trace.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from innspector_tb.capture import attribution as attribution_lib
from innspector_tb.capture import backend_ops
from innspector_tb.capture.attribution_setup import (
    AttributionError,
    AttributionResult,
    check_methods,
    check_options,
    check_targets,
    classifier_output_reason,
    target_classes,
)
from innspector_tb.format import attribution_methods

TOKEN_METHODS = attribution_methods.TOKEN_METHODS
DELETED = -1
_ROWS_PER_CALL = 1024


def token_embeddings(model):
    """The Embedding layers of a model, nested and inside custom layers included."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Embedding) and layer not in found:
            found.append(layer)
    return found


def takes_tokens(model):
    """Whether a model has one input [samples, tokens] and an Embedding to attribute it through.

    Any dtype: keras.io's text classifier takes its token ids as float32 (`layers.Input(shape=(maxlen,))`)
    and its Embedding casts them. Whether an Embedding takes that input itself shows at the first call.
    """
    inputs = list(getattr(model, "inputs", None) or [])
    return len(inputs) == 1 and len(inputs[0].shape) == 2 and bool(token_embeddings(model))


_TOKEN_ATTRIBUTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attributor_for(model, grad_cam_layer=None, score="logit"):
    """The model's TokenAttributor if it takes tokens, else its image Attributor; kept while it lives."""
    if not takes_tokens(model):
        return attribution_lib.attributor(model, grad_cam_layer, score)
    cache = _TOKEN_ATTRIBUTORS.setdefault(model, {})
    if score not in cache:
        cache[score] = TokenAttributor(model, score)
    return cache[score]


def token_classifier_reason(model, labels=None):
    """None if `model` is a text classifier token attributions are on by default for, else why not.

    A text classifier: one input [samples, tokens] (token ids, of any dtype), an Embedding layer, one output
    [samples, classes >= 2] ending in a softmax or trained with a crossentropy, and probe labels that
    are classes of that output.
    """
    inputs = list(getattr(model, "inputs", None) or [])
    outputs = list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or len(outputs) != 1:
        return "it has %d inputs and %d outputs (text classifiers have one of each)" % (len(inputs), len(outputs))
    if len(inputs[0].shape) != 2:
        return "its input is not a batch of token sequences (rank %d, not 2)" % len(inputs[0].shape)
    if not token_embeddings(model):
        return "it has no Embedding layer to attribute the tokens through"
    return classifier_output_reason(model, outputs[0], labels)


class TokenAttributor:
    """The token attributions of one text classifier, compiled once and called at every logged step.

    The same interface as attribution.Attributor (the callback and the deletion curves use either):
    `classes`, `input_shape`, `dtype`, `score`, `grad_cam_id`, `grad_cam_reason`, `scores(x)`,
    `__call__(x, y, methods, targets, ...)` and `deletion_baseline(options)`.
    """

    grad_cam_id = None
    grad_cam_reason = "token inputs have no convolution map"

    def __init__(self, model, score="logit", compile=True):
        self._walker = attribution_lib.Attributor(model, None, score, compile=False)
        if len(self._walker.input_shape) != 1:
            raise AttributionError(
                "token attributions need one input of token ids [samples, tokens]; %s takes %s"
                % (model.name, [None] + list(self._walker.input_shape))
            )
        self.model = model
        self.embeddings = token_embeddings(model)
        if not self.embeddings:
            raise AttributionError("%s has no Embedding layer to attribute its tokens through" % model.name)
        self.classes = self._walker.classes
        self.input_shape = self._walker.input_shape
        self.dtype = self._walker.dtype
        self.score = self._walker.score
        self.float_dtype = np.dtype(keras.backend.standardize_dtype(self.embeddings[0].compute_dtype))
        self._compiled: Any = None
        jax = backend_ops.is_jax()
        self._forward(  # checks
            np.zeros((1,) + self.input_shape, self.dtype),
            np.ones((1,), self.float_dtype),
            at_scaled=(lambda k, scaled: scaled) if jax else None,
        )
        if compile and jax:  # the same gradients, jitted by JAX
            self._compiled, self._compiled_scores = backend_ops.token_gradients(self)
        elif compile:
            ids = tf.TensorSpec((None,) + self.input_shape, tf.as_dtype(self.dtype))
            scale = tf.TensorSpec((None,), tf.as_dtype(self.float_dtype))
            self._compiled = tf.function(
                self._gradients, input_signature=[ids, tf.TensorSpec((None,), tf.int32), scale]
            )
            self._compiled_scores = tf.function(self._scores, input_signature=[ids])

    # The walk, with the token embeddings wrapped.

    @contextlib.contextmanager
    def _watched_embeddings(self, scale, tape, at_scaled=None):
        """Wraps each token Embedding's call: DELETED ids embed to zero, the embedding is scaled per row
        by `scale` [n] and watched; yields the list (embedding, scaled embedding) the walk fills.

        `at_scaled(k, scaled)` replaces the k-th scaled embedding instead of the tape's watch (JAX's way)."""
        seen: list = []
        width = len(self.input_shape) + 1

        def wrap(layer, original):
            def call(inputs, *args, **kwargs):
                if len(inputs.shape) != width or tuple(inputs.shape[1:]) != self.input_shape:
                    return original(inputs, *args, **kwargs)  # not the token input (positions, say)
                present = ops.cast(ops.greater_equal(inputs, 0), layer.compute_dtype)
                embedded = original(ops.maximum(inputs, ops.zeros_like(inputs)), *args, **kwargs)
                embedded = embedded * present[..., None]
                scaled = embedded * ops.cast(scale, embedded.dtype)[:, None, None]
                if at_scaled is not None:
                    scaled = at_scaled(len(seen), scaled)
                else:
                    scaled = tf.identity(scaled)
                    if tape is not None:
                        tape.watch(scaled)
                seen.append((embedded, scaled))
                return scaled

            return call

        for layer in self.embeddings:
            layer.call = wrap(layer, layer.call)  # an instance attribute: Layer.__call__ calls self.call
        try:
            yield seen
        finally:
            for layer in self.embeddings:
                del layer.call

    def _forward(self, ids, scale, tape=None, at_scaled=None):
        with self._watched_embeddings(scale, tape, at_scaled) as seen:
            scores = self._walker._forward(ids, at_cam=None if at_scaled is None else (lambda a: a))[0]
        if not seen:
            raise AttributionError("no Embedding layer of %s takes the token input itself" % self.model.name)
        return scores, seen

    def _scores(self, ids):
        return self._forward(ids, tf.ones(tf.shape(ids)[:1], self.float_dtype))[0]

    def _gradients(self, ids, classes, scale):
        """Per token of every row: (sum_d e * d score_c / d(scale e), at the row's scale) and nothing else."""
        with tf.GradientTape() as tape:
            scores, seen = self._forward(ids, scale, tape)
            picked = tf.gather(scores, classes[:, None], batch_dims=1)
            total = tf.reduce_sum(tf.cast(picked, tf.float32))
        grads = tape.gradient(total, [scaled for _, scaled in seen], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        per_token = [
            tf.reduce_sum(tf.cast(embedded, tf.float32) * tf.cast(g, tf.float32), axis=-1)
            for (embedded, _), g in zip(seen, grads, strict=True)
        ]
        return tf.add_n(per_token)

    def _call(self, compiled, eager, *args):
        if self._compiled is not None:
            try:
                return compiled(*args)
            except Exception as e:  # tracing is an optimisation: fall back, once
                attribution_lib.logger.info("iNNspector: compiled token attribution failed (%s); eager", e)
                self._compiled = None
        return eager(*args)

    def scores(self, x, batch_size=256):
        """The attributed scores [n, classes] as numpy; DELETED ids are tokens left out."""
        x = self._walker._input(x)
        parts = []
        for start in range(0, x.shape[0], batch_size):
            chunk = tf.convert_to_tensor(x[start : start + batch_size])
            compiled = self._compiled_scores if self._compiled is not None else None
            parts.append(np.asarray(self._call(compiled, self._scores, chunk)))
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)

    def deletion_baseline(self, options):
        """What a deleted token becomes in the deletion curves: no token (a zero embedding)."""
        return DELETED

    # Attribution.

    def __call__(
        self,
        x,
        y=None,
        methods=TOKEN_METHODS,
        targets=("predicted", "true"),
        predicted=None,
        seed=0,
        batch_size=None,
        **options,
    ):
        """An AttributionResult of token ids x [n, T]: {method: {target: float32 [n, T]}}.

        Image methods asked for are listed in `skipped`; `ig_baseline` is not used (the path starts at
        the zero embedding). Arguments as attribution.Attributor.__call__.
        """
        methods = check_methods(methods)
        targets = check_targets(targets)
        options = check_options(options)
        x = self._walker._input(x)
        n = x.shape[0]
        if n == 0:
            raise AttributionError("no samples to attribute")
        result = AttributionResult()
        result.score = self.score
        result.sample = np.arange(n, dtype=np.int64)
        result.options = {"ig_steps": options["ig_steps"], "ig_baseline": "zero embedding"}
        for method in methods:
            if method not in TOKEN_METHODS:
                result.skipped[method] = "an image method: token inputs are attributed through their embedding"
        methods = tuple(m for m in methods if m in TOKEN_METHODS)
        classes = target_classes(targets, n, self.classes, y, predicted, lambda: self.scores(x), result.skipped)
        result.classes = classes
        if not classes or not methods:
            return result
        maps = self._maps(x, classes, methods, options["ig_steps"], batch_size)
        for method in methods:
            result[method] = maps[method]
        return result

    def _maps(self, x, classes, methods, ig_steps, batch_size):
        pairs = sorted({(i, int(c)) for values in classes.values() for i, c in enumerate(values)})
        pair_sample = np.array([p[0] for p in pairs], dtype=np.int64)
        pair_class = np.array([p[1] for p in pairs], dtype=np.int32)
        lookup = {p: k for k, p in enumerate(pairs)}
        base = int("gradient_x_embedding" in methods)
        ig = ig_steps if "integrated_gradients" in methods else 0
        # Rows of a pair: the embedding itself (scale 1), then the integrated-gradients points.
        scales = np.concatenate([np.ones(base), (np.arange(ig) + 0.5) / max(ig, 1)]).astype(self.float_dtype)
        row_pair = np.repeat(np.arange(len(pairs)), scales.size)
        row_scale = np.tile(scales, len(pairs))
        row_is_path = np.tile(np.arange(scales.size) >= base, len(pairs))
        plain = np.zeros((len(pairs),) + self.input_shape, np.float32)
        path = np.zeros((len(pairs),) + self.input_shape, np.float32)
        chunk = int(batch_size) if batch_size else _ROWS_PER_CALL
        for start in range(0, row_pair.size, chunk):
            rp = row_pair[start : start + chunk]
            values = np.asarray(
                self._call(
                    self._compiled,
                    self._gradients,
                    tf.convert_to_tensor(x[pair_sample[rp]]),
                    tf.convert_to_tensor(pair_class[rp]),
                    tf.convert_to_tensor(row_scale[start : start + chunk]),
                )
            )
            on_path = row_is_path[start : start + chunk]
            plain[rp[~on_path]] = values[~on_path]
            np.add.at(path, rp[on_path], values[on_path])
        by_method = {"gradient_x_embedding": plain, "integrated_gradients": path / max(ig, 1)}
        return {
            method: {
                target: by_method[method][[lookup[(i, int(c))] for i, c in enumerate(attributed)]]
                for target, attributed in classes.items()
            }
            for method in methods
        }
