"""The maps of the relevance and modified-gradient methods, as the Attributor asks for them.

Each distinct (sample, class) pair is computed once (a sample predicted right serves both targets),
in batches through one compiled function per method; occlusion runs forward passes of the
Attributor's compiled scores. `skipped` says which asked-for methods a model cannot have, and why.
"""

import logging

import numpy as np
import tensorflow as tf

from innspector_tb.capture import backend_ops
from innspector_tb.capture.relevance import GUIDED_METHODS, LRP_METHODS, composites, guided, occlusion, propagate

logger = logging.getLogger("innspector_tb")

_ELEMENTS_PER_CALL = 1 << 21


class ExtraMaps:
    """The LRP, guided and occlusion maps of one Attributor's model."""

    def __init__(self, attributor):
        self.attributor = attributor
        self._functions: dict = {}
        self._lrp_reason: str | None = None
        self._lrp_checked = False

    def lrp_reason(self):
        """None if relevance can pass every layer, else why not (found once, by walking one example)."""
        if not self._lrp_checked:
            a = self.attributor
            if a.graph is None:
                self._lrp_reason = "the model has no functional graph to propagate relevance through"
            else:
                example = np.zeros((1,) + a.input_shape, a.dtype)
                self._lrp_reason = propagate.unsupported_reason(a.graph, example, a._final, a._strip)
            self._lrp_checked = True
            if self._lrp_reason:
                logger.info("iNNspector: no LRP for %s: %s", a.model.name, self._lrp_reason)
        return self._lrp_reason

    def skipped(self, methods):
        """{method: reason} of the asked-for methods this model cannot have."""
        a, result = self.attributor, {}
        for method in methods:
            rewrites_gradients = method in LRP_METHODS or method in GUIDED_METHODS or method == "guided_grad_cam"
            jax_reason = backend_ops.unsupported_reason(method) if rewrites_gradients else None
            if jax_reason:  # occlusion only needs forward passes, which run under any backend
                result[method] = jax_reason
            elif method in LRP_METHODS and self.lrp_reason():
                result[method] = self.lrp_reason()
            elif method in GUIDED_METHODS and a.graph is None:
                result[method] = "the model has no functional graph to modify the ReLUs of"
            elif method == "guided_grad_cam" and a._cam_layer is None:
                result[method] = "no Grad-CAM: %s" % a.grad_cam_reason
            elif method == "guided_grad_cam" and len(occlusion.spatial_shape(a.input_shape)) > 2:
                result[method] = "Guided Grad-CAM resizes maps of 1-D and 2-D inputs only"
        return result

    def _function(self, method, options):
        a = self.attributor
        key = (method, float(options["lrp_epsilon"]), float(options["lrp_gamma"]))
        if key in self._functions:
            return self._functions[key]
        if method in LRP_METHODS:

            def fn(x, classes, bounds):
                return propagate.relevance(a.graph, x, classes, method, options, bounds, a._final, a._strip)[0]
        else:
            mode = "deconvnet" if method == "deconvnet" else "guided"

            def fn(x, classes, bounds):
                return guided.gradient(a.graph, x, classes, mode, a._final, a._strip)

        spec = [
            tf.TensorSpec((None,) + a.input_shape, tf.as_dtype(a.dtype)),
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((2,), tf.as_dtype(a.dtype)),
        ]
        compiled = tf.function(fn, input_signature=spec, autograph=False) if a._compiled is not None else None
        self._functions[key] = (compiled, fn)
        return self._functions[key]

    def _run(self, method, options, rows, classes, bounds):
        compiled, eager = self._function(method, options)
        args = (tf.convert_to_tensor(rows), tf.convert_to_tensor(classes, tf.int32), tf.convert_to_tensor(bounds))
        if compiled is not None:
            try:
                return np.asarray(compiled(*args))
            except Exception as e:  # tracing is an optimisation: fall back
                logger.info("iNNspector: compiled %s failed (%s); computing eagerly", method, e)
                self._functions[(method, float(options["lrp_epsilon"]), float(options["lrp_gamma"]))] = (None, eager)
        return np.asarray(eager(*args))

    def __call__(self, x, classes, methods, options, batch_size=None, grad_cam=None):
        """{method: {target: [n, ...]}} of x for the targets' classes ({target: int [n]}).

        `grad_cam`: {target: Grad-CAM maps} for guided_grad_cam (which needs guided_backprop's too).
        """
        a = self.attributor
        pairs = sorted({(i, int(c)) for values in classes.values() for i, c in enumerate(values)})
        pair_sample = np.array([p[0] for p in pairs], dtype=np.int64)
        pair_class = np.array([p[1] for p in pairs], dtype=np.int32)
        lookup = {p: k for k, p in enumerate(pairs)}
        size = int(np.prod(x.shape[1:])) or 1
        chunk = int(batch_size) if batch_size else int(np.clip(_ELEMENTS_PER_CALL // size, 8, 4096))
        bounds = np.array([x.min(), x.max()], a.dtype)
        computed = {}
        gradient_methods = [m for m in methods if m in LRP_METHODS or m in ("guided_backprop", "deconvnet")]
        if "guided_grad_cam" in methods and "guided_backprop" not in gradient_methods:
            gradient_methods.append("guided_backprop")
        for method in gradient_methods:
            if method in LRP_METHODS and not composites.needs_bounds(method):
                bounds_used = np.zeros(2, a.dtype)
            else:
                bounds_used = bounds
            parts = [
                self._run(method, options, x[pair_sample[s : s + chunk]], pair_class[s : s + chunk], bounds_used)
                for s in range(0, len(pairs), chunk)
            ]
            computed[method] = np.concatenate(parts).astype(a.dtype, copy=False)
        if "occlusion" in methods:
            wanted: dict[int, list[int]] = {}
            for i, c in pairs:
                wanted.setdefault(i, []).append(c)
            found = occlusion.maps(lambda rows: a.scores(rows), x, wanted, options)
            computed["occlusion"] = np.stack([found[i][c] for i, c in pairs]).astype(a.dtype, copy=False)
        result = {}
        for method in methods:
            if method == "guided_grad_cam":
                continue
            result[method] = {
                target: computed[method][[lookup[(i, int(c))] for i, c in enumerate(values)]]
                for target, values in classes.items()
            }
        if "guided_grad_cam" in methods and grad_cam is not None:
            guided_maps = {
                target: computed["guided_backprop"][[lookup[(i, int(c))] for i, c in enumerate(values)]]
                for target, values in classes.items()
            }
            result["guided_grad_cam"] = {
                target: guided_maps[target] * upsample(grad_cam[target], x.shape[1:]) for target in classes
            }
        return result


def upsample(cam, sample_shape):
    """Grad-CAM maps [n, *spatial of the convolution] resized (bilinear) to the input, channels axis kept."""
    cam = np.asarray(cam)
    spatial = occlusion.spatial_shape(sample_shape)
    if tuple(cam.shape[1:]) == tuple(spatial):
        resized = cam
    elif cam.ndim - 1 == 1:
        resized = tf.image.resize(cam[:, :, None, None], (spatial[0], 1), method="bilinear")[:, :, 0, 0]
    else:
        resized = tf.image.resize(cam[..., None], spatial[:2], method="bilinear")[..., 0]
    resized = np.asarray(resized, dtype=cam.dtype)
    return resized[..., None] if len(sample_shape) >= 2 else resized
