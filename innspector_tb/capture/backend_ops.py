"""The capture side's seam between Keras backends: what runs the model under JAX.

Keras 3 picks its backend once per process (KERAS_BACKEND). Under TensorFlow the capture code compiles
its passes with tf.function and takes gradients with tf.GradientTape, as it always has. Under JAX those
cannot trace Keras layers (a layer's call runs jax.numpy on a symbolic tf.Tensor), so the three things
that touch the model are done here with JAX instead:

  (a) a compiled forward walk: `compile_with_state(model, fn)` jits any function of arrays that calls the
      model's layers (the probe pass's graph walk, the attribution scores), with the model's variables
      passed in at each call, so a trace never keeps stale weights;
  (b) statistics stay TensorFlow ops, run on the walk's outputs (TensorFlow eager and tf.function take
      numpy arrays; TensorFlow is in the process anyway to write TensorBoard's event files);
  (c) gradients: `gradient_norms` (the loss's gradient of every variable, jax.grad through the model's own
      `compute_loss_and_updates`) and `attribution_gradients` (d score / d input and the Grad-CAM layer's
      gradient, jax.vjp).

What has no JAX version yet says why through `unsupported_reason`, stored where the TensorFlow path
stores its skip reasons. `import jax` happens only when the backend is JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

JAX = "jax"
# Why relevance propagation, modified gradients and feature visualisation are off under JAX.
NO_TF_GRAPH = "it rewrites the model's TensorFlow gradients, which the JAX backend does not have"
# Rows per compiled attribution call: one trace serves every call (see compile_with_state).
ATTRIBUTION_BLOCK = 64
NO_TF_OPTIMISER = "its optimisation of the input is written with TensorFlow's GradientTape and optimisers"


def backend() -> str:
    return str(keras.backend.backend())


def is_jax() -> bool:
    return backend() == JAX


def unsupported_reason(what: str, why: str = NO_TF_GRAPH) -> str | None:
    """None when `what` can run under the current backend, else a one-line reason."""
    if not is_jax():
        return None
    return "%s is not available under the JAX backend: %s" % (what, why)


def to_host(value: Any) -> Any:
    """Arrays of any backend (nested in lists, tuples, dicts) as numpy arrays."""
    if isinstance(value, dict):
        return {k: to_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_host(v) for v in value)
    return np.asarray(value)


def compile_with_state(
    variables: Sequence[Any], fn: Callable[..., Any], block: int | None = None
) -> Callable[..., Any]:
    """fn(*args), jitted by JAX, reading `variables` (Keras variables) as arguments of each call.

    Inside the trace the variables' current values come from a StatelessScope, not from the closure: a
    plain jax.jit of a layer call would bake the weights of the first call in as constants.

    `block`: fn works row by row (every argument and output has the samples on axis 0); it is called on
    blocks of exactly `block` rows (the last one padded by repeating its last row) and the outputs are
    joined. jax.jit traces once per shape, unlike tf.function with a None batch dimension: without blocks
    every new number of rows would compile again (and the time budget would count the compile).
    """
    import jax

    variables = list(variables)

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return fn(*args)

    jitted = jax.jit(pure)

    def call(*args):
        values = [v.value for v in variables]
        host = [to_host(a) for a in args]
        if block is None:
            return jitted(values, *host)
        n = len(jax.tree_util.tree_leaves(host)[0])
        parts = []
        for start in range(0, n, block):
            rows = jax.tree_util.tree_map(lambda a, start=start: _padded(a[start : start + block], block), host)
            out = jitted(values, *rows)
            parts.append(jax.tree_util.tree_map(lambda o, start=start: np.asarray(o)[: min(block, n - start)], out))
        if not parts:
            raise ValueError("no rows to compute")
        return jax.tree_util.tree_map(lambda *pieces: np.concatenate(pieces, axis=0), *parts)

    return call


def _padded(rows: np.ndarray, size: int) -> np.ndarray:
    """`rows` with its last row repeated up to `size` rows."""
    missing = size - len(rows)
    if missing <= 0:
        return rows
    return np.concatenate([rows, np.repeat(rows[-1:], missing, axis=0)], axis=0)


def jit_on_host(fn: Callable[..., Any], static_argnums: tuple[int, ...] = ()) -> Callable[..., Any]:
    """fn jitted by JAX, taking arrays of any backend (None stays None): for keras.ops code without variables."""
    import jax

    jitted = jax.jit(fn, static_argnums=static_argnums)

    def call(*args):
        return jitted(*[a if k in static_argnums or a is None else to_host(a) for k, a in enumerate(args)])

    return call


def token_gradients(attributor: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(gradients(ids, classes, scale), scores(ids)) of a TokenAttributor under JAX, jitted: per token of every
    row, sum_d e * d score_c / d(scale e), like its TensorFlow version; the gradient of each scaled embedding
    comes from a zero shift added to it."""
    import jax
    import jax.numpy as jnp

    def forward(ids, scale, shifts):
        shifted = (lambda k, scaled: scaled) if shifts is None else (lambda k, scaled: scaled + shifts[k])
        scores, seen = attributor._forward(ids, scale, at_scaled=shifted)
        return scores, [embedded for embedded, _ in seen]

    def scores(ids):
        return forward(ids, jnp.ones((ids.shape[0],), attributor.float_dtype), None)[0]

    def gradients(ids, classes, scale):
        shapes = jax.eval_shape(lambda: forward(ids, scale, None)[1])
        shifts = [jnp.zeros(shape.shape, shape.dtype) for shape in shapes]

        def total(shifts):
            logits, embedded = forward(ids, scale, shifts)
            picked = jnp.take_along_axis(logits, classes[:, None].astype(jnp.int32), axis=1)
            return jnp.sum(picked.astype(jnp.float32)), embedded

        grads, embedded = jax.grad(total, has_aux=True)(shifts)
        per_token = [
            jnp.sum(e.astype(jnp.float32) * g.astype(jnp.float32), axis=-1)
            for e, g in zip(embedded, grads, strict=True)
        ]
        return sum(per_token[1:], per_token[0])

    variables = attributor.model.variables
    return (
        compile_with_state(variables, gradients, ATTRIBUTION_BLOCK),
        compile_with_state(variables, scores, ATTRIBUTION_BLOCK),
    )


def unit_moments_jit() -> Callable[..., Any]:
    """unit_moments.batch_moments(x, labels, num_classes, edges) for the JAX backend, in two jitted parts.

    jax.jit traces once per shape, and a layer's histogram edges change length as they are extended over
    training: one jitted batch_moments would compile the whole statistics again at every extension (about a
    second per layer on CPU). So the moments are jitted without edges (once per layer shape), and the
    histogram, a small function, separately, with the branch batch_moments takes: the clamped count when
    every value is finite, the masked one otherwise.
    """
    import jax

    from innspector_tb.capture import unit_moments

    moments = jit_on_host(unit_moments.batch_moments, static_argnums=(2,))
    clamped = jax.jit(unit_moments._clamped_histogram)
    masked = jax.jit(lambda flat, edges, finite: unit_moments._histogram(flat, edges, False, finite))

    def call(x, labels=None, num_classes=0, edges=None):
        result = dict(moments(x, labels, num_classes, None))
        if edges is None:
            return result
        flat = np.asarray(x).reshape(-1).astype(np.float32, copy=False)  # batch_moments' float32 sums
        edges = np.asarray(edges)
        finite = np.isfinite(flat)
        if finite.all():
            counts = clamped(flat, edges, np.min(result["min"]), np.max(result["max"]))
        else:
            counts = masked(flat, edges, finite)
        result["hist"], result["under"], result["over"] = counts
        result["edges"] = edges
        return result

    return call


def gradient_norms(model: Any, variables: Sequence[Any]) -> Callable[[Any, Any], list[Any]]:
    """(x, y) -> the L2 norm of the compiled loss's gradient of each of `variables` (trainable ones),
    in inference mode; the same loss the JAX trainer differentiates."""
    import jax
    import jax.numpy as jnp

    trainable = list(model.trainable_variables)
    position = {id(v): k for k, v in enumerate(trainable)}
    wanted = [position[id(v)] for v in variables]

    def loss(trainable_values, non_trainable_values, metrics_values, x, y):
        value, _ = model.compute_loss_and_updates(
            trainable_values, non_trainable_values, metrics_values, x, y, None, training=False
        )
        return value

    def norms(trainable_values, non_trainable_values, metrics_values, x, y):
        grads = jax.grad(loss)(trainable_values, non_trainable_values, metrics_values, x, y)
        return [jnp.linalg.norm(jnp.ravel(grads[k]).astype(jnp.float32)) for k in wanted]

    jitted = jax.jit(norms)

    def call(x, y):
        return jitted(
            [v.value for v in trainable],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.metrics_variables],
            to_host(x),
            to_host(y),
        )

    return call


def attribution_gradients(attributor: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(gradients(x, classes), scores(x)) of an Attributor under JAX, jitted: gradients returns
    (d score_c / d x, Grad-CAM map or an empty [n, 0] array) like the Attributor's TensorFlow version."""
    import jax
    import jax.numpy as jnp

    def forward(x, cam_shift):
        # The Grad-CAM layer's output plus `cam_shift` (zeros): d total / d cam_shift is its gradient.
        return attributor._forward(x, at_cam=(lambda a: a) if cam_shift is None else (lambda a: a + cam_shift))

    def scores(x):
        return forward(x, None)[0]

    def gradients(x, classes):
        if attributor._cam_layer is None:

            def total(x):
                picked = jnp.take_along_axis(scores(x), classes[:, None].astype(jnp.int32), axis=1)
                return jnp.sum(picked.astype(x.dtype))

            return jax.grad(total)(x), jnp.zeros((x.shape[0], 0), dtype=x.dtype)
        cam_shape = jax.eval_shape(lambda x: forward(x, None)[1], x)
        shift = jnp.zeros(cam_shape.shape, cam_shape.dtype)

        def total_and_cam(x, shift):
            logits, cam = forward(x, shift)
            picked = jnp.take_along_axis(logits, classes[:, None].astype(jnp.int32), axis=1)
            return jnp.sum(picked.astype(x.dtype)), cam

        (dx, dcam), cam = jax.grad(total_and_cam, argnums=(0, 1), has_aux=True)(x, shift)
        a, da = cam.astype(x.dtype), dcam.astype(x.dtype)
        if attributor._channels_first:
            a, da = jnp.moveaxis(a, 1, -1), jnp.moveaxis(da, 1, -1)
        alpha = jnp.mean(da, axis=tuple(range(1, a.ndim - 1)), keepdims=True)
        return dx, jax.nn.relu(jnp.sum(alpha * a, axis=-1))

    variables = attributor.model.variables
    return (
        compile_with_state(variables, gradients, ATTRIBUTION_BLOCK),
        compile_with_state(variables, scores, ATTRIBUTION_BLOCK),
    )
