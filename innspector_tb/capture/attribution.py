"""Attribution maps of a Keras image classifier: what in an input a class score depends on.

    maps = innspector_tb.capture.attribution.attribute(model, x, y)
    maps["integrated_gradients"]["predicted"]      # [n, *x.shape[1:]]
    maps["grad_cam"]["true"]                       # [n, *spatial shape of the last convolution]

Methods (the ones of iNNvestigate-GUI):

  saliency              d score_c / d x (signed; take |.| or the max over channels to show it)
  gradient_x_input      saliency * x
  smoothgrad            the mean saliency over `smoothgrad_samples` copies of x with Gaussian noise of
                        standard deviation `smoothgrad_noise` * (max(x) - min(x)) (per sample)
  integrated_gradients  (x - baseline) * the mean gradient at `ig_steps` points of the straight path
                        from the baseline (zeros by default) to x (midpoint rule): the attributions of
                        a sample sum to score_c(x) - score_c(baseline) up to an O(1 / ig_steps^2) error
  grad_cam              ReLU(sum_k alpha_k A_k), A the output of a convolution (the last one by
                        default), alpha_k the mean over positions of d score_c / d A_k: non-negative,
                        with the convolution's spatial shape

for the class the model predicts ("predicted") and for the true class ("true"). Relevance propagation
(LRP-0/ε/γ/αβ/z⁺/w²/flat and the composites EpsilonPlusFlat, EpsilonGammaBox, DeepTaylor), Guided
Backprop, DeconvNet, Guided Grad-CAM and occlusion come from `innspector_tb.capture.relevance`, called
here through the same interface (`methods`, a `skipped` reason for a model a method cannot have).

**The score** is the class's pre-softmax logit when the model ends in a softmax (or sigmoid), whether a
Dense/Conv layer's activation or a Softmax/Activation layer: as iNNvestigate (whose analyzers run on
the model without its softmax, `innvestigate.model_wo_softmax`) and Grad-CAM (defined on y^c before the
softmax) do. The gradient of a softmax probability vanishes where the model is confident and mixes in
every other class; the logit's does not (integrated gradients then add up to a difference of logits).
`score="output"` attributes the model's output as it is (e.g. the probability). A model whose last
layer's softmax cannot be left out (a custom layer, a layer shared elsewhere) is attributed on its
output, and `AttributionResult.score` says so. Subclassed models without a functional graph are not
supported (their input and output are unknown before a call).

All the work of one call is batched: every (sample, class) pair, each SmoothGrad copy and each
integrated-gradients point is one row of a few large gradient calls through one compiled function
(the model's own graph walked with the softmax left out and the Grad-CAM layer's output watched).
Samples whose predicted and true class agree are computed once. Models must have one input and one
output of shape [samples, classes] (image classifiers; any input rank works, Grad-CAM needs a
convolution): others raise AttributionError. Layers run in inference mode.
"""

import logging
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import backend_ops
from innspector_tb.capture.attribution_setup import (  # noqa: F401 (the module's public names)
    _CONV_CLASSES,
    _STRIPPED_ACTIVATIONS,
    DEFAULT_METHODS,
    DEFAULT_OPTIONS,
    DEFAULT_SIZE,
    GRADIENT_METHODS,
    METHODS,
    SCORES,
    TARGETS,
    AttributionError,
    AttributionResult,
    _activation_name,
    _final_op,
    _flat,
    _strip_mode,
    attrs_of,
    check_methods,
    check_options,
    check_targets,
    default_grad_cam_layer,
    find_layer,
    image_classifier_reason,
    is_convolution,
    output_activation,
    target_classes,
)
from innspector_tb.capture.relevance import maps as relevance_maps

logger = logging.getLogger("innspector_tb")

# Input elements of one gradient call: bounds memory for big images, keeps small ones in one call.
_ELEMENTS_PER_CALL = 1 << 21


def smoothgrad_noise(x, index, samples, noise, seed=0):
    """The SmoothGrad noise of sample `index` of x: [samples, *x.shape[1:]], reproducible.

    Standard deviation `noise` * (max - min) of that sample; the generator is seeded with
    (seed, index), so a sample gets the same noise at every step and for every class.
    """
    sample = np.asarray(x[index])
    sigma = noise * float(sample.max() - sample.min()) if sample.size else 0.0
    rng = np.random.default_rng([int(seed), int(index)])
    return (rng.standard_normal((samples,) + sample.shape) * sigma).astype(sample.dtype)


class Attributor:
    """The attributions of one model, compiled once and called at every logged step.

    Args:
      model: a built Keras model with one input and one output [samples, classes].
      grad_cam_layer: the convolution for Grad-CAM (id, name or layer); the last one when None.
      score: "logit" (default: the softmax or sigmoid of the last layer left out) or "output".
      compile: trace the gradient computation into a tf.function (falls back to eager if tracing fails).

    Raises AttributionError for a model that is not a single-input, single-output classifier and
    for a Grad-CAM layer that is not a convolution.
    """

    def __init__(self, model, grad_cam_layer=None, score="logit", compile=True):
        if score not in SCORES:
            raise AttributionError("score must be one of %s, got %r" % (SCORES, score))
        self.model = model
        self.graph = activations_lib.functional_graph(model)
        inputs = list(getattr(model, "inputs", None) or [])
        outputs = list(getattr(model, "outputs", None) or [])
        if self.graph is not None:
            inputs, outputs = list(self.graph.inputs), list(self.graph.outputs)
        if not inputs and not outputs:
            raise AttributionError(
                "%s has no functional graph (a subclassed model?): its inputs and outputs are unknown" % model.name
            )
        if len(inputs) != 1 or len(outputs) != 1:
            raise AttributionError(
                "attributions are computed for image classifiers with one input and one output; %s has %d "
                "input(s) and %d output(s)" % (model.name, len(inputs), len(outputs))
            )
        out_shape = tuple(outputs[0].shape)
        if len(out_shape) != 2 or not out_shape[1]:
            raise AttributionError(
                "attributions need an output of shape [samples, classes]; %s outputs %s" % (model.name, list(out_shape))
            )
        self.classes = int(out_shape[1])
        self.input_shape = tuple(inputs[0].shape[1:])
        if any(d is None for d in self.input_shape):
            raise AttributionError(
                "attributions need a fixed input shape; %s takes %s" % (model.name, [None] + list(self.input_shape))
            )
        self.dtype = np.dtype(keras.backend.standardize_dtype(inputs[0].dtype))
        self._final: Any = _final_op(self.graph) if self.graph is not None else None  # a Keras operation
        self._strip = _strip_mode(self._final) if score == "logit" else None
        self.score = "logit" if self._strip else "output"
        self.grad_cam_id, self._cam_layer, self.grad_cam_reason = None, None, None
        if grad_cam_layer is not None:
            layer_id, layer = find_layer(model, grad_cam_layer)
            if not is_convolution(layer):
                raise AttributionError(
                    "the Grad-CAM layer must be a convolution; %r is a %s" % (layer_id, type(layer).__name__)
                )
            self.grad_cam_id, self._cam_layer = layer_id, layer
        else:
            found = default_grad_cam_layer(model)
            if found is None:
                self.grad_cam_reason = "the model has no convolution"
            else:
                self.grad_cam_id, self._cam_layer = found
        if self._cam_layer is not None and self.graph is None:
            self.grad_cam_id, self._cam_layer = None, None
            self.grad_cam_reason = "the model has no functional graph to take a convolution's output from"
        self._channels_first = getattr(self._cam_layer, "data_format", "channels_last") == "channels_first"
        self._compiled = None
        self._extra = relevance_maps.ExtraMaps(self)  # LRP, guided gradients, occlusion
        if compile and backend_ops.is_jax():  # the same gradients, jitted by JAX
            self._compiled, self._compiled_scores = backend_ops.attribution_gradients(self)
        elif compile:
            spec = [
                tf.TensorSpec((None,) + self.input_shape, tf.as_dtype(self.dtype)),
                tf.TensorSpec((None,), tf.int32),
            ]
            self._compiled = tf.function(self._gradients, input_signature=spec)
            self._compiled_scores = tf.function(self._scores, input_signature=spec[:1])

    # The model, walked.

    def _forward(self, x, tape=None, at_cam=None):
        """(scores [n, classes], output of the Grad-CAM layer or None), in inference mode.

        `at_cam` replaces the Grad-CAM layer's output by at_cam(output) (the JAX backend's way to watch it)."""
        if self.graph is None:
            return _flat(self.model(x, training=False))[0], None
        captured = [None]  # the Grad-CAM layer's output, once the walk reaches it

        def call(op, *args, **kwargs):
            nested = activations_lib.functional_graph(op) if isinstance(op, keras.Model) else None
            if nested is not None:
                inner = list(args[0]) if isinstance(args[0], (list, tuple)) else [args[0]]
                return nested._run_through_graph(inner, call_fn=call)
            if getattr(op, "_call_has_training_arg", False):
                kwargs["training"] = False
            if op is self._final and self._strip == "input":
                outputs = args[0]
            elif op is self._final and self._strip == "activation":
                saved = op.activation
                op.activation = keras.activations.linear
                try:
                    outputs = op(*args, **kwargs)
                finally:
                    op.activation = saved
            else:
                outputs = op(*args, **kwargs)
            if op is self._cam_layer:
                outputs = tf.identity(outputs) if at_cam is None else at_cam(outputs)
                if tape is not None:
                    tape.watch(outputs)
                captured[0] = outputs
            return outputs

        outputs = self.graph._run_through_graph([x], call_fn=call)
        return _flat(outputs)[0], captured[0]

    def _scores(self, x):
        return self._forward(x)[0]

    def _gradients(self, x, classes):
        """(d score_c / d x, Grad-CAM map or an empty tensor) of every row, c = classes[row]."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores, cam_input = self._forward(x, tape)
            picked = tf.gather(scores, tf.cast(classes, tf.int32)[:, None], batch_dims=1)
            total = tf.reduce_sum(tf.cast(picked, x.dtype))
        sources = [x] if cam_input is None else [x, cam_input]
        grads = tape.gradient(total, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if cam_input is None:
            return grads[0], tf.zeros((tf.shape(x)[0], 0), dtype=x.dtype)
        a, da = tf.cast(cam_input, x.dtype), tf.cast(grads[1], x.dtype)
        if self._channels_first:
            a, da = tf.experimental.numpy.moveaxis(a, 1, -1), tf.experimental.numpy.moveaxis(da, 1, -1)
        spatial = list(range(1, len(a.shape) - 1))
        alpha = tf.reduce_mean(da, axis=spatial, keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(alpha * a, axis=-1))
        return grads[0], cam

    def _call(self, fn, eager, *args):
        if self._compiled is not None:
            try:
                return fn(*args)
            except Exception as e:  # tracing is an optimisation: fall back, once
                logger.info("iNNspector: compiled attribution failed (%s); computing eagerly", e)
                self._compiled = None
        return eager(*args)

    def scores(self, x, batch_size=256):
        """The attributed scores [n, classes] (logits unless `score` says otherwise) as numpy."""
        x = self._input(x)
        parts = []
        for start in range(0, x.shape[0], batch_size):
            chunk = tf.convert_to_tensor(x[start : start + batch_size])
            fn = self._compiled_scores if self._compiled is not None else None
            parts.append(np.asarray(self._call(fn, self._scores, chunk)))
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), self.dtype)

    def deletion_baseline(self, options):
        """What a deleted input feature becomes in the deletion curves: the integrated-gradients baseline."""
        return options["ig_baseline"]

    def _input(self, x):
        values = _flat(x)
        if len(values) != 1:
            raise AttributionError("the model has one input; got %d arrays" % len(values))
        x = np.asarray(values[0], dtype=self.dtype)
        if tuple(x.shape[1:]) != self.input_shape:
            raise AttributionError(
                "inputs of shape %s do not fit the model's input %s" % (list(x.shape), [None] + list(self.input_shape))
            )
        return x

    # Attribution.

    def __call__(
        self, x, y=None, methods=DEFAULT_METHODS, targets=TARGETS, predicted=None, seed=0, batch_size=None, **options
    ):
        """Returns an AttributionResult of x (one input array [n, ...]) for the methods and targets.

        Args:
          y: class labels (ints or one-hot) for the "true" target; without them "true" is skipped.
          predicted: the predicted classes, if already known (else computed from the scores).
          seed: seed of the SmoothGrad noise (see smoothgrad_noise).
          batch_size: rows per gradient call (default: about 2M input elements per call).
          options: smoothgrad_samples (16), smoothgrad_noise (0.15), ig_steps (32), ig_baseline (0.0:
            a number or an array of one sample's shape).
        """
        methods = check_methods(methods)
        targets = check_targets(targets)
        options = check_options(options)
        x = self._input(x)
        n = x.shape[0]
        if n == 0:
            raise AttributionError("no samples to attribute")
        result = AttributionResult()
        result.score, result.grad_cam_layer = self.score, self.grad_cam_id
        result.sample = np.arange(n, dtype=np.int64)
        result.options = {
            k: (v if isinstance(v, (int, str)) else float(v) if np.ndim(v) == 0 else "array")
            for k, v in options.items()
        }
        if "grad_cam" in methods and self._cam_layer is None:
            result.skipped["grad_cam"] = self.grad_cam_reason
            methods = tuple(m for m in methods if m != "grad_cam")
        if "gradient_x_embedding" in methods:
            result.skipped["gradient_x_embedding"] = "a token method: the input is not token ids into an Embedding"
        methods = tuple(m for m in methods if m != "gradient_x_embedding")
        result.skipped.update(self._extra.skipped(methods))
        methods = tuple(m for m in methods if m not in result.skipped)
        classes = target_classes(targets, n, self.classes, y, predicted, lambda: self.scores(x), result.skipped)
        result.classes = classes
        if not classes or not methods:
            return result
        gradient_methods = tuple(m for m in methods if m in GRADIENT_METHODS)
        if "guided_grad_cam" in methods and "grad_cam" not in gradient_methods:
            gradient_methods += ("grad_cam",)  # Guided Grad-CAM is Guided Backprop times the Grad-CAM map
        maps = self._maps(x, classes, gradient_methods, options, seed, batch_size) if gradient_methods else {}
        extra = tuple(m for m in methods if m not in GRADIENT_METHODS)
        if extra:
            maps.update(self._extra(x, classes, extra, options, batch_size, grad_cam=maps.get("grad_cam")))
        for method in methods:
            result[method] = maps[method]
        return result

    def _maps(self, x, classes, methods, options, seed, batch_size):
        # The distinct (sample, class) pairs: a sample predicted right is computed once for both targets.
        pairs = sorted({(i, int(c)) for values in classes.values() for i, c in enumerate(values)})
        pair_sample = np.array([p[0] for p in pairs], dtype=np.int64)
        pair_class = np.array([p[1] for p in pairs], dtype=np.int32)
        lookup = {p: k for k, p in enumerate(pairs)}
        base_needed = any(m in methods for m in ("saliency", "gradient_x_input", "grad_cam"))
        sg = options["smoothgrad_samples"] if "smoothgrad" in methods else 0
        ig = options["ig_steps"] if "integrated_gradients" in methods else 0
        per_pair = int(base_needed) + sg + ig
        # Row r of pair p: kind 0 (x itself), 1 (a SmoothGrad copy k) or 2 (an integrated-gradients point k).
        kinds = np.array([0] * int(base_needed) + [1] * sg + [2] * ig, dtype=np.int8)
        ks = np.concatenate([np.zeros(int(base_needed), np.int64), np.arange(sg), np.arange(ig)])
        row_pair = np.repeat(np.arange(len(pairs)), per_pair)
        row_kind = np.tile(kinds, len(pairs))
        row_k = np.tile(ks, len(pairs))
        baseline = np.broadcast_to(np.asarray(options["ig_baseline"], dtype=self.dtype), x.shape[1:])
        shape = x.shape[1:]
        saliency = np.zeros((len(pairs),) + shape, self.dtype)
        # The gradients summed over the rows of kind 1 (SmoothGrad) and 2 (integrated gradients), when asked.
        sums = {kind: np.zeros((len(pairs),) + shape, self.dtype) for kind, count in ((1, sg), (2, ig)) if count}
        cam: np.ndarray | None = None
        noise_cache: dict[int, np.ndarray] = {}
        size = int(np.prod(shape)) or 1
        chunk = int(batch_size) if batch_size else int(np.clip(_ELEMENTS_PER_CALL // size, 8, 4096))
        for start in range(0, row_pair.size, chunk):
            rp, rk, rkk = row_pair[start : start + chunk], row_kind[start : start + chunk], row_k[start : start + chunk]
            samples = pair_sample[rp]
            rows = x[samples].copy()
            for r in np.flatnonzero(rk == 1):
                i = int(samples[r])
                if i not in noise_cache:
                    noise_cache.clear()  # rows are ordered by sample: earlier samples are done
                    noise_cache[i] = smoothgrad_noise(x, i, sg, options["smoothgrad_noise"], seed)
                rows[r] += noise_cache[i][rkk[r]]
            on_path = rk == 2
            if on_path.any():
                alpha = ((rkk[on_path] + 0.5) / ig).astype(self.dtype).reshape((-1,) + (1,) * len(shape))
                rows[on_path] = baseline + alpha * (rows[on_path] - baseline)
            grads, maps = self._call(
                self._compiled, self._gradients, tf.convert_to_tensor(rows), tf.convert_to_tensor(pair_class[rp])
            )
            grads, maps = np.asarray(grads), np.asarray(maps)
            base = np.flatnonzero(rk == 0)
            saliency[rp[base]] = grads[base]
            if "grad_cam" in methods and base.size:
                if cam is None:
                    cam = np.zeros((len(pairs),) + maps.shape[1:], self.dtype)
                cam[rp[base]] = maps[base]
            for kind, total in sums.items():
                rows_of_kind = np.flatnonzero(rk == kind)
                if rows_of_kind.size:
                    np.add.at(total, rp[rows_of_kind], grads[rows_of_kind])
        x_pair = x[pair_sample]
        by_method = {}
        if "saliency" in methods:
            by_method["saliency"] = saliency
        if "gradient_x_input" in methods:
            by_method["gradient_x_input"] = saliency * x_pair
        if sg:
            by_method["smoothgrad"] = sums[1] / sg
        if ig:
            by_method["integrated_gradients"] = (x_pair - baseline) * (sums[2] / ig)
        if "grad_cam" in methods:
            assert cam is not None  # grad_cam needs the base rows, and every pair has one
            by_method["grad_cam"] = cam
        result = {}
        for method in methods:
            values = by_method[method]
            result[method] = {
                target: values[[lookup[(i, int(c))] for i, c in enumerate(attributed)]]
                for target, attributed in classes.items()
            }
        return result


_ATTRIBUTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attributor(model, grad_cam_layer=None, score="logit"):
    """The Attributor of a model, kept while the model lives (so repeated calls are traced once)."""
    try:
        cache = _ATTRIBUTORS.setdefault(model, {})
    except TypeError:
        return Attributor(model, grad_cam_layer, score)
    key = (id(grad_cam_layer) if isinstance(grad_cam_layer, keras.layers.Layer) else grad_cam_layer, score)
    if key not in cache:
        cache[key] = Attributor(model, grad_cam_layer, score)
    return cache[key]


# The plain functions.


def attribute(model, x, y=None, methods=DEFAULT_METHODS, targets=TARGETS, grad_cam_layer=None, score="logit", **kwargs):
    """{method: {target: array [n, ...]}} (an AttributionResult) of a Keras classifier on x.

    `kwargs`: `predicted`, `seed`, `batch_size` and the method options of Attributor.__call__.
    """
    return attributor(model, grad_cam_layer, score)(x, y, methods=methods, targets=targets, **kwargs)


def _classes_of(x, classes):
    return np.broadcast_to(np.asarray(classes, dtype=np.int64), (np.asarray(_flat(x)[0]).shape[0],))


def saliency(model, x, classes, score="logit"):
    """d score_c / d x for each sample and its class c: [n, *x.shape[1:]]."""
    c = _classes_of(x, classes)
    return attributor(model, None, score)(x, methods="saliency", targets="predicted", predicted=c)["saliency"][
        "predicted"
    ]


def gradient_x_input(model, x, classes, score="logit"):
    """saliency * x."""
    c = _classes_of(x, classes)
    return attributor(model, None, score)(x, methods="gradient_x_input", targets="predicted", predicted=c)[
        "gradient_x_input"
    ]["predicted"]


def smoothgrad(model, x, classes, samples=16, noise=0.15, seed=0, score="logit"):
    """The mean saliency over `samples` noisy copies of each sample (noise: a fraction of its range)."""
    c = _classes_of(x, classes)
    return attributor(model, None, score)(
        x,
        methods="smoothgrad",
        targets="predicted",
        predicted=c,
        seed=seed,
        smoothgrad_samples=samples,
        smoothgrad_noise=noise,
    )["smoothgrad"]["predicted"]


def integrated_gradients(model, x, classes, steps=32, baseline=0.0, score="logit"):
    """Integrated gradients from `baseline` (zeros) to x, midpoint rule with `steps` points."""
    c = _classes_of(x, classes)
    return attributor(model, None, score)(
        x, methods="integrated_gradients", targets="predicted", predicted=c, ig_steps=steps, ig_baseline=baseline
    )["integrated_gradients"]["predicted"]


def grad_cam(model, x, classes, layer=None, score="logit"):
    """Grad-CAM maps [n, *spatial shape of the layer] (the last convolution when `layer` is None)."""
    c = _classes_of(x, classes)
    found = attributor(model, layer, score)
    result = found(x, methods="grad_cam", targets="predicted", predicted=c)
    if "grad_cam" not in result:
        raise AttributionError("Grad-CAM of %s: %s" % (model.name, result.skipped.get("grad_cam")))
    return result["grad_cam"]["predicted"]


# What the callback needs to decide.
