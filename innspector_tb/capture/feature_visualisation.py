"""Class-conditional feature visualisation: an input that raises a neuron and a class score together.

NeuroInspect's second stage (CLIP-Illusion) without CLIP: for a neuron (a Dense unit) or a channel (a
convolution's, its mean over positions) and a class c, optimise an input x from seeded noise to

    maximise  unit(x) / sd_unit + class_weight * log p_c(x) - tv_weight * TV(x)

where sd_unit is the standard deviation of the unit's values on the probe (so the terms weigh alike
whatever the unit's scale), log p_c the log-softmax of the class's logit (the softmax left out, as for
the attribution maps): minus the cross-entropy CLIP-Illusion uses, which stops pulling once the class
wins and leaves the rest to the unit; TV the mean absolute difference of neighbouring values of x
scaled to [0, 1]. With no unit, the class's logit / sd is raised alone: a class visualisation. The
usual regularisers of feature visualisation:

- **Fourier-space parameterisation** (image inputs [H, W, C]): x is the inverse real FFT of a spectrum
  scaled by 1/frequency, so every frequency moves at the same speed and high-frequency noise does not
  win; three-channel images are also decorrelated (a fixed colour matrix). Other inputs are optimised
  element by element.
- **Robustness**: at each step every image is moved by a random affine transform before the model sees
  it: a translation of up to `jitter` pixels, a scale within 1 ± `scale`, a rotation within ± `rotation`
  degrees (bilinear, reflected at the border), so what is found does not hang on one exact pixel grid.
- **Range**: x = low + (high - low) * sigmoid(.), low and high the probe's minimum and maximum, so an
  image never leaves the values the model was shown.

`results` diverse images per target come from different seeds. Every (target, seed) pair is one row of
one batch, optimised together by Adam inside one compiled function (a `tf.while_loop`): the whole
optimisation is one call. The result says, for each image, the unit's value it reaches, its percentile
among the probe's values of that unit, and the class's rank (1: the model's top class) and probability.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import attribution_setup

DEFAULT_OPTIONS: dict[str, Any] = {
    "steps": 256,
    "results": 4,
    "class_weight": 1.5,
    "tv_weight": 1.0,
    "learning_rate": 0.05,
    "jitter": None,  # pixels; None: 1/16 of the shorter side, at least 1
    "scale": 0.05,
    "rotation": 5.0,  # degrees
}
# Lucid's square root of the ImageNet colour correlation, rows normalised below: decorrelated colour.
_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)
SOURCES = ("user", "mistakes", "class")


class VisualisationError(ValueError):
    """The model or a target cannot be visualised (the reason says why)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """What to visualise: a unit of a layer for a class, or the class alone (layer and unit None)."""

    layer: str | None
    unit: int | None
    cls: int
    source: str = "user"  # "user" (visualize=), "mistakes" (named by the mistake finder) or "class"

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "unit": self.unit, "class": self.cls, "source": self.source}


@dataclasses.dataclass
class VisualisationResult:
    targets: list[Target]
    images: np.ndarray  # [K, R, *input shape]
    activation: np.ndarray  # [K, R]: the unit's value (a class visualisation: the class score)
    percentile: np.ndarray  # [K, R]: % of probe samples whose value is below it
    class_rank: np.ndarray  # int [K, R]: 1 = the model's top class
    class_probability: np.ndarray  # [K, R]: softmax of the scores
    options: dict[str, Any]
    score: str  # "logit" or "output"
    value_range: tuple[float, float]
    notes: list[str] = dataclasses.field(default_factory=list)


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """DEFAULT_OPTIONS updated with `options`, checked; VisualisationError names a bad one."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise VisualisationError("unknown option(s) %s; options: %s" % (unknown, ", ".join(DEFAULT_OPTIONS)))
    merged = dict(DEFAULT_OPTIONS, **options)
    for name in ("steps", "results"):
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise VisualisationError("%s must be an integer >= 1, got %r" % (name, value))
        merged[name] = int(value)
    for name in ("class_weight", "tv_weight", "learning_rate", "scale", "rotation"):
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise VisualisationError("%s must be a number >= 0, got %r" % (name, value))
        merged[name] = float(value)
    if merged["learning_rate"] <= 0:
        raise VisualisationError("learning_rate must be > 0")
    if merged["scale"] >= 1:
        raise VisualisationError("scale must be below 1, got %r" % merged["scale"])
    jitter = merged["jitter"]
    if jitter is not None and (isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or jitter < 0):
        raise VisualisationError("jitter must be None or a number of pixels >= 0, got %r" % (jitter,))
    return merged


class Visualiser:
    """The feature visualisations of one model, compiled once and called at every visualised step.

    Args:
      model: a built Keras model with one input of fixed shape and one output [samples, classes].
      layers: ids (or names) of the layers whose units may be targets.
      value_range: (low, high) of the inputs, usually the probe's minimum and maximum.
      score: "logit" (the final softmax or sigmoid left out, as the attribution maps do) or "output".
    """

    def __init__(self, model, layers=(), value_range=(0.0, 1.0), score="logit"):
        graph = activations_lib.functional_graph(model)
        if graph is None:
            raise VisualisationError("%s has no functional graph (a subclassed model?)" % model.name)
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise VisualisationError(
                "feature visualisation needs one input and one output; %s has %d and %d"
                % (model.name, len(graph.inputs), len(graph.outputs))
            )
        out_shape = tuple(graph.outputs[0].shape)
        if len(out_shape) != 2 or not out_shape[1] or out_shape[1] < 2:
            raise VisualisationError("the output %s is not one score per class" % (list(out_shape),))
        self.model, self.graph = model, graph
        self.classes = int(out_shape[1])
        self.input_shape = tuple(graph.inputs[0].shape[1:])
        if any(d is None for d in self.input_shape):
            raise VisualisationError("the input shape %s is not fixed" % ([None] + list(self.input_shape),))
        self.dtype = tf.as_dtype(keras.backend.standardize_dtype(graph.inputs[0].dtype))
        if not self.dtype.is_floating:
            raise VisualisationError("the input is %s, not a float: it cannot be optimised" % self.dtype.name)
        low, high = float(value_range[0]), float(value_range[1])
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise VisualisationError("the input range must be finite with high > low, got %r" % ((low, high),))
        self.value_range = (low, high)
        self._final = attribution_setup._final_op(graph)
        self._strip = attribution_setup._strip_mode(self._final) if score == "logit" else None
        self.score = "logit" if self._strip else "output"
        # Scores that are probabilities already: a softmax output that could not be left out.
        self._probabilities = self.score == "output" and attribution_setup.output_activation(model) == "softmax"
        self.layer_ids: list[str] = []
        self._layers: list[Any] = []
        self._channels_first: list[bool] = []
        self.units: list[int] = []
        for layer in layers:
            try:
                layer_id, obj = attribution_setup.find_layer(model, layer)
            except attribution_setup.AttributionError as e:
                raise VisualisationError(str(e)) from None
            if layer_id in self.layer_ids:
                continue
            shape = _output_shape(obj)
            if shape is None or len(shape) < 2:
                raise VisualisationError("layer %r has no single output with units to visualise" % layer_id)
            first = getattr(obj, "data_format", "channels_last") == "channels_first" and len(shape) > 2
            self.layer_ids.append(layer_id)
            self._layers.append(obj)
            self._channels_first.append(first)
            self.units.append(int(shape[1] if first else shape[-1]))
        # Fourier parameterisation for images [H, W, C] big enough to have frequencies worth shaping.
        self.image = len(self.input_shape) == 3 and min(self.input_shape[:2]) >= 4
        rows = tf.TensorSpec([None], tf.int32)
        self._optimise = tf.function(
            self._optimise_graph,
            input_signature=[
                tf.TensorSpec([None] + list(self._param_shape()), tf.float32),
                rows,
                rows,
                rows,
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([7], tf.float32),
                tf.TensorSpec([2], tf.int32),
            ],
        )
        self._evaluate = tf.function(
            self._evaluate_graph, input_signature=[tf.TensorSpec([None] + list(self.input_shape), self.dtype)]
        )

    # The model, walked: the class scores and the reduced outputs of the watched layers.

    def _forward(self, x):
        captured: list[Any] = [None] * len(self._layers)

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
            for k, layer in enumerate(self._layers):
                if op is layer and captured[k] is None:
                    captured[k] = outputs
            return outputs

        scores = attribution_setup._flat(self.graph._run_through_graph([x], call_fn=call))[0]
        reduced = []
        for k, value in enumerate(captured):
            if value is None:
                raise VisualisationError("layer %r is not on the path to the output" % self.layer_ids[k])
            value = tf.cast(attribution_setup._flat(value)[0], tf.float32)
            if self._channels_first[k]:
                value = tf.experimental.numpy.moveaxis(value, 1, -1)
            if len(value.shape) > 2:  # a channel: its mean over positions
                value = tf.reduce_mean(value, axis=list(range(1, len(value.shape) - 1)))
            reduced.append(value)
        return tf.cast(scores, tf.float32), reduced

    def _unit_value(self, reduced, layer_index, unit):
        """Per row: the value of unit `unit` of layer `layer_index` (0 where layer_index is -1)."""
        total = tf.zeros(tf.shape(layer_index), tf.float32)
        for k, values in enumerate(reduced):
            picked = tf.gather(values, tf.clip_by_value(unit, 0, self.units[k] - 1)[:, None], batch_dims=1)[:, 0]
            total += tf.where(tf.equal(layer_index, k), picked, tf.zeros_like(picked))
        return total

    # The parameterisation.

    def _param_shape(self):
        if not self.image:
            return self.input_shape
        h, w, c = self.input_shape
        return (c, h, w // 2 + 1, 2)

    def _spectrum_scale(self):
        h, w, _ = self.input_shape
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        frequencies = np.sqrt(fy * fy + fx * fx)
        return (1.0 / np.maximum(frequencies, 1.0 / max(h, w)) * math.sqrt(h * w)).astype(np.float32)

    def _image(self, params):
        """The inputs x [B, *input shape] of the parameters, within the value range."""
        low, high = self.value_range
        if self.image:
            h, w, c = self.input_shape
            spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(self._spectrum_scale(), tf.complex64)
            pixels = tf.signal.irfft2d(spectrum, fft_length=[h, w]) / 4.0  # [B, C, H, W]
            pixels = tf.transpose(pixels, [0, 2, 3, 1])
            if c == 3:
                colour = _COLOUR_SQRT / np.max(np.linalg.norm(_COLOUR_SQRT, axis=0))
                pixels = tf.tensordot(pixels, tf.constant(colour.T), axes=1)
            unit = tf.sigmoid(pixels)
        else:
            unit = tf.sigmoid(params)
        return unit, tf.cast(low + (high - low) * unit, self.dtype)

    def _transform(self, x, seed, jitter, scale, rotation):
        """Each image moved by its own random translation, scale and rotation (images only)."""
        if not self.image:
            return x
        h, w, _ = self.input_shape
        b = tf.shape(x)[0]
        u = tf.random.stateless_uniform([b, 4], seed=seed, minval=-1.0, maxval=1.0)
        tx, ty = u[:, 0] * jitter, u[:, 1] * jitter
        s = 1.0 + u[:, 2] * scale
        theta = u[:, 3] * rotation * (math.pi / 180.0)
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        a0, a1 = tf.cos(theta) / s, tf.sin(theta) / s
        b0, b1 = -tf.sin(theta) / s, tf.cos(theta) / s
        a2 = cx - tx - (a0 * cx + a1 * cy)
        b2 = cy - ty - (b0 * cx + b1 * cy)
        zeros = tf.zeros_like(a0)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        moved = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.cast(x, tf.float32),
            transforms=transforms,
            output_shape=tf.constant([h, w], tf.int32),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )
        return tf.cast(moved, self.dtype)

    @staticmethod
    def _total_variation(unit):
        """Mean |difference| of neighbouring values along each spatial axis of x in [0, 1], per row."""
        rank = len(unit.shape)
        axes = list(range(1, rank - 1)) if rank > 2 else [1]
        total = tf.zeros(tf.shape(unit)[:1], tf.float32)
        for axis in axes:
            n = unit.shape[axis]
            if n is None or n < 2:
                continue
            diff = tf.abs(tf.gather(unit, tf.range(1, n), axis=axis) - tf.gather(unit, tf.range(0, n - 1), axis=axis))
            total += tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)
        return total

    def _objective(self, params, layer_index, unit, cls, unit_scale, class_scale, settings, transform):
        class_weight, tv_weight = settings[0], settings[1]
        unit_image, x = self._image(params)
        scores, reduced = self._forward(transform(x))
        value = self._unit_value(reduced, layer_index, unit) * unit_scale
        # A class visualisation raises the class score (in probe standard deviations); a unit's is
        # conditioned on the class by its log-probability (minus the cross-entropy, as NeuroInspect's
        # CLIP-Illusion does), which stops pulling once the class wins and leaves the rest to the unit.
        logit = tf.gather(scores, cls[:, None], batch_dims=1)[:, 0] * class_scale
        log_p = (
            tf.math.log(scores + 1e-12)
            if self._probabilities
            else scores - tf.reduce_logsumexp(scores, axis=1, keepdims=True)
        )
        log_p = tf.gather(log_p, cls[:, None], batch_dims=1)[:, 0]
        condition = tf.where(tf.equal(layer_index, -1), logit, class_weight * log_p)
        return value + condition - tv_weight * self._total_variation(unit_image)

    def _optimise_graph(self, params, layer_index, unit, cls, unit_scale, class_scale, steps, settings, seed):
        """Adam on the parameters for `steps` steps; settings: class_weight, tv_weight, learning_rate,
        jitter, scale, rotation, unused."""
        lr = settings[2]
        jitter, scale, rotation = settings[3], settings[4], settings[5]
        beta1, beta2, eps = 0.9, 0.999, 1e-8

        def body(i, p, m, v):
            step_seed = tf.stack([seed[0], seed[1] + i])
            with tf.GradientTape() as tape:
                tape.watch(p)
                objective = self._objective(
                    p,
                    layer_index,
                    unit,
                    cls,
                    unit_scale,
                    class_scale,
                    settings,
                    lambda x: self._transform(x, step_seed, jitter, scale, rotation),
                )
                loss = -tf.reduce_sum(objective)
            g = tape.gradient(loss, p)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            t = tf.cast(i + 1, tf.float32)
            update = lr * (m / (1 - beta1**t)) / (tf.sqrt(v / (1 - beta2**t)) + eps)
            return i + 1, p - update, m, v

        zeros = tf.zeros_like(params)
        _, params, _, _ = tf.while_loop(lambda i, *_: i < steps, body, [tf.constant(0), params, zeros, zeros])
        return params, self._image(params)[1]

    def _evaluate_graph(self, x):
        return self._forward(x)

    def evaluate(self, x, batch_size=256):
        """(scores [n, classes], [reduced outputs [n, units] of each watched layer]) as numpy."""
        x = np.asarray(x)
        scores: list[np.ndarray] = []
        reduced: list[list[np.ndarray]] = [[] for _ in self._layers]
        for start in range(0, x.shape[0], batch_size):
            s, r = self._evaluate(tf.convert_to_tensor(x[start : start + batch_size], self.dtype))
            scores.append(np.asarray(s))
            for k, values in enumerate(r):
                reduced[k].append(np.asarray(values))
        return np.concatenate(scores), [np.concatenate(parts) for parts in reduced]

    # The call.

    def __call__(self, targets, probe_x, seed=0, probe_values=None, **options):
        """Visualises `targets` (Targets); returns a VisualisationResult.

        probe_x: the probe inputs, for the percentiles (probe_values: `evaluate(probe_x)` when known
        already: one forward of the probe less); options: see DEFAULT_OPTIONS.
        """
        options = check_options(options)
        targets = list(targets)
        if not targets:
            raise VisualisationError("nothing to visualise")
        layer_index, units = [], []
        for target in targets:
            if not 0 <= int(target.cls) < self.classes:
                raise VisualisationError("class %r is not one of the %d classes" % (target.cls, self.classes))
            if target.layer is None:
                layer_index.append(-1)
                units.append(0)
                continue
            if target.layer not in self.layer_ids:
                raise VisualisationError(
                    "layer %r is not one of the watched layers %s" % (target.layer, self.layer_ids)
                )
            k = self.layer_ids.index(target.layer)
            if not 0 <= int(target.unit) < self.units[k]:
                raise VisualisationError(
                    "unit %r of layer %r is not one of its %d units" % (target.unit, target.layer, self.units[k])
                )
            layer_index.append(k)
            units.append(int(target.unit))
        results = options["results"]
        rows_layer = np.repeat(np.asarray(layer_index, np.int32), results)
        rows_unit = np.repeat(np.asarray(units, np.int32), results)
        rows_class = np.repeat(np.asarray([t.cls for t in targets], np.int32), results)
        params = np.concatenate(
            [
                np.random.default_rng([int(seed), k, r]).normal(0.0, 0.01, (1,) + tuple(self._param_shape()))
                for k in range(len(targets))
                for r in range(results)
            ]
        ).astype(np.float32)
        # Both terms in standard deviations of the probe's values: a unit and a class score weigh alike
        # whatever their scales.
        probe_scores, probe_reduced = self.evaluate(probe_x) if probe_values is None else probe_values
        unit_scale = np.ones(len(targets), np.float32)
        class_scale = np.ones(len(targets), np.float32)
        for i, target in enumerate(targets):
            class_scale[i] = 1.0 / max(float(np.std(probe_scores[:, target.cls])), 1e-6)
            if target.layer is not None:
                j = self.layer_ids.index(target.layer)
                unit_scale[i] = 1.0 / max(float(np.std(probe_reduced[j][:, target.unit])), 1e-6)
        side = min(self.input_shape[:2]) if self.image else 0
        jitter = options["jitter"] if options["jitter"] is not None else max(1.0, round(side / 16))
        settings = np.array(
            [
                options["class_weight"],
                options["tv_weight"],
                options["learning_rate"],
                jitter,
                options["scale"],
                options["rotation"],
                0.0,
            ],
            np.float32,
        )
        _, images = self._optimise(
            tf.constant(params),
            tf.constant(rows_layer),
            tf.constant(rows_unit),
            tf.constant(rows_class),
            tf.constant(np.repeat(unit_scale, results)),
            tf.constant(np.repeat(class_scale, results)),
            tf.constant(options["steps"], tf.int32),
            tf.constant(settings),
            tf.constant([int(seed) % 2**31, 0], tf.int32),
        )
        images = np.asarray(images)
        scores, reduced = self.evaluate(images)
        k, r = len(targets), results
        activation = np.zeros((k, r), np.float32)
        percentile = np.zeros((k, r), np.float32)
        for i, target in enumerate(targets):
            rows = slice(i * r, (i + 1) * r)
            if target.layer is None:
                reached, probe = scores[rows, target.cls], probe_scores[:, target.cls]
            else:
                j = self.layer_ids.index(target.layer)
                reached, probe = reduced[j][rows, target.unit], probe_reduced[j][:, target.unit]
            activation[i] = reached
            percentile[i] = [100.0 * float(np.mean(probe < a)) for a in reached]
        order = np.argsort(-scores, axis=1, kind="stable")
        rank = np.argmax(order == rows_class[:, None], axis=1) + 1
        shifted = scores - scores.max(axis=1, keepdims=True)
        probability = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        if self.score == "output" and self._probabilities:
            probability = scores  # the model's output is a softmax already
        return VisualisationResult(
            targets=targets,
            images=images.reshape((k, r) + self.input_shape),
            activation=activation,
            percentile=percentile,
            class_rank=rank.reshape(k, r).astype(np.int64),
            class_probability=probability[np.arange(k * r), rows_class].reshape(k, r).astype(np.float32),
            options=dict(options, jitter=float(jitter)),
            score=self.score,
            value_range=self.value_range,
        )


def _output_shape(layer):
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return tuple(shape) if shape is not None else None
