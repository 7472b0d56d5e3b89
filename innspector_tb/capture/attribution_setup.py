"""Attribution set-up: the methods and options, the result type, and what a model must be to be attributed.

Kept apart from the gradient machinery (`attribution.py`) so the callback can check its arguments and
the writer can describe a result without building an Attributor.
"""

import json

import keras
import numpy as np

from innspector_tb import errors
from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import architecture as architecture_lib
from innspector_tb.capture import relevance
from innspector_tb.format import attribution_methods, stats

# Methods of plain gradients (attribution.py), then LRP, modified gradients and occlusion (relevance/).
GRADIENT_METHODS = attribution_methods.GRADIENT_METHODS
METHODS = attribution_methods.METHODS
# Computed when the callback is not told which: the gradient methods, the LRP of the user study (ε) and
# of Zennit's recommendation (EpsilonPlusFlat), Guided Backprop, and occlusion (the time budget drops
# it first).
DEFAULT_METHODS = GRADIENT_METHODS + ("lrp_epsilon", "lrp_epsilon_plus_flat", "guided_backprop", "occlusion")
TARGETS = ("predicted", "true")
SCORES = ("logit", "output")
DEFAULT_SIZE = 32
DEFAULT_OPTIONS = {
    "smoothgrad_samples": 16,
    "smoothgrad_noise": 0.15,
    "ig_steps": 32,
    "ig_baseline": 0.0,
    **relevance.DEFAULT_OPTIONS,
}

_STRIPPED_ACTIVATIONS = ("softmax", "sigmoid")
_CONV_CLASSES = {
    "BaseConv",
    "BaseDepthwiseConv",
    "BaseSeparableConv",
    "BaseConvTranspose",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "SeparableConv1D",
    "SeparableConv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
}


class AttributionError(errors.ConfigurationError):
    """A model or a request attributions cannot be computed for."""


class AttributionResult(dict):
    """{method: {target: float array [n, ...]}} plus what was used.

    Attributes:
      classes: {target: int64 [n]} the class attributed for each sample.
      sample: int64 [n], the rows of the probe the samples are (set by the caller; 0..n-1 by default).
      skipped: {method or target: reason} of what was asked for and not computed.
      score: "logit" (pre-softmax) or "output".
      grad_cam_layer: the id of the Grad-CAM layer, or None.
      options: the method options used.
      deletion: the maps' deletion curves (capture/deletion.py: a DeletionResult), or None.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.classes = {}
        self.sample = None
        self.skipped = {}
        self.score = "output"
        self.grad_cam_layer = None
        self.options = {}
        self.deletion = None


def check_methods(methods):
    """The methods as a tuple in METHODS order; unknown names raise AttributionError."""
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise AttributionError("unknown attribution method(s) %s; choose from %s" % (unknown, ", ".join(METHODS)))
    if not methods:
        raise AttributionError("choose at least one attribution method from %s" % ", ".join(METHODS))
    return tuple(m for m in METHODS if m in methods)


def check_targets(targets):
    if isinstance(targets, str):
        targets = (targets,)
    targets = tuple(targets)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise AttributionError("attribution targets must be a non-empty subset of %s, got %r" % (TARGETS, targets))
    return tuple(t for t in TARGETS if t in targets)


def check_options(options):
    """Fills in DEFAULT_OPTIONS; refuses unknown keys and values out of range."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise AttributionError("unknown attribution option(s) %s; options: %s" % (unknown, ", ".join(DEFAULT_OPTIONS)))
    result = dict(DEFAULT_OPTIONS)
    result.update(options)
    for key in ("smoothgrad_samples", "ig_steps"):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 10_000:
            raise AttributionError("%s must be an integer from 1 to 10000, got %r" % (key, value))
        result[key] = int(value)
    noise = result["smoothgrad_noise"]
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating)) or not 0 <= noise <= 10:
        raise AttributionError(
            "smoothgrad_noise must be a number from 0 to 10 (a fraction of the input range), got %r" % (noise,)
        )
    result["smoothgrad_noise"] = float(noise)
    for key in ("lrp_epsilon", "lrp_gamma"):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= 1e6:
            raise AttributionError("%s must be a number from 0 to 1e6, got %r" % (key, value))
        result[key] = float(value)
    for key in ("occlusion_patch", "occlusion_stride"):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 100_000:
            raise AttributionError("%s must be an integer from 0 (automatic) to 100000, got %r" % (key, value))
        result[key] = int(value)
    baseline = result["occlusion_baseline"]
    if baseline != "grey" and (
        isinstance(baseline, bool) or not isinstance(baseline, (int, float, np.number)) or not np.isfinite(baseline)
    ):
        raise AttributionError('occlusion_baseline must be "grey" or a finite number, got %r' % (baseline,))
    result["occlusion_baseline"] = baseline if baseline == "grey" else float(baseline)
    return result


def is_convolution(layer):
    """A convolution layer (1-3D, separable, depthwise, transposed), recognised by its classes."""
    return any(cls.__name__ in _CONV_CLASSES for cls in type(layer).__mro__)


def _activation_name(layer):
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", None) if fn is not None else None


def _flat(x):
    return list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]


def _final_op(graph):
    """The leaf operation producing the graph's (only) output, looking inside nested models."""
    tensor = graph.outputs[0]
    for _ in range(100):
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        op, _, tensor_index = history
        nested = activations_lib.functional_graph(op) if isinstance(op, keras.Model) else None
        if nested is None:
            return op
        tensor = nested.outputs[tensor_index]
    return None


def _strip_mode(op):
    """How to get the pre-activation score of the final op: "input", "activation" or None."""
    if op is None or len(getattr(op, "_inbound_nodes", [])) > 1:
        return None  # a shared last layer: leave it alone
    if isinstance(op, keras.layers.Softmax):
        return "input"
    name = _activation_name(op)
    if name in _STRIPPED_ACTIVATIONS:
        return "input" if isinstance(op, keras.layers.Activation) else "activation"
    return None


def output_activation(model):
    """The activation name of the layer producing the model's single output ("softmax", ...), or None."""
    graph = activations_lib.functional_graph(model)
    if graph is None or len(graph.outputs) != 1:
        return None
    op = _final_op(graph)
    if isinstance(op, keras.layers.Softmax):
        return "softmax"
    return _activation_name(op)


def find_layer(model, layer):
    """(layer id, layer) of a leaf layer given as an id ("features/conv_1"), a name or the object."""
    leaves = architecture_lib.iter_leaf_layers(model)
    for layer_id, obj in leaves:
        if obj is layer or layer_id == layer:
            return layer_id, obj
    matches = [(layer_id, obj) for layer_id, obj in leaves if obj.name == layer]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise AttributionError("layer name %r is ambiguous; use its id: %s" % (layer, [m[0] for m in matches]))
    raise AttributionError(
        "the model has no layer %r (layer ids: %s)" % (getattr(layer, "name", layer), ", ".join(i for i, _ in leaves))
    )


def default_grad_cam_layer(model):
    """(id, layer) of the last convolution in graph order (nested models included), or None."""
    convolutions = [
        (layer_id, layer) for layer_id, layer in architecture_lib.iter_leaf_layers(model) if is_convolution(layer)
    ]
    return convolutions[-1] if convolutions else None


def image_classifier_reason(model, labels=None):
    """None if `model` is an image classifier attributions are on by default for, else why not.

    An image classifier: one 4-D input (images), one output [samples, classes >= 2] ending in a
    softmax or trained with a crossentropy, and probe labels that are classes of that output.
    """
    graph = activations_lib.functional_graph(model)
    inputs = list(graph.inputs if graph is not None else getattr(model, "inputs", None) or [])
    outputs = list(graph.outputs if graph is not None else getattr(model, "outputs", None) or [])
    if not inputs and not outputs:
        return "it has no functional graph (a subclassed model?)"
    if len(inputs) != 1 or len(outputs) != 1:
        return "it has %d inputs and %d outputs (image classifiers have one of each)" % (len(inputs), len(outputs))
    if len(inputs[0].shape) != 4:
        return "its input is not an image batch (rank %d, not 4)" % len(inputs[0].shape)
    return classifier_output_reason(model, outputs[0], labels)


def classifier_output_reason(model, output, labels):
    """None if `output` is [samples, classes >= 2] of a classifier and `labels` its classes, else why not.

    A classifier's output ends in a softmax or is trained with a crossentropy.
    """
    shape = tuple(output.shape)
    if len(shape) != 2 or not shape[1] or shape[1] < 2:
        return "its output %s is not one score per class" % (list(shape),)
    loss = getattr(model, "loss", None)
    loss_name = (
        loss
        if isinstance(loss, str)
        else getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    )
    crossentropy = loss is not None and "crossentropy" in str(loss_name).lower().replace("_", "")
    if output_activation(model) != "softmax" and not crossentropy:
        return "its output is neither a softmax nor trained with a crossentropy"
    if labels is None:
        return "the probe has no class labels"
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= shape[1]):
        return "the probe labels are not classes of its %d outputs" % shape[1]
    return None


def target_classes(targets, n, n_classes, y, predicted, scores, skipped):
    """The classes to attribute per target ("predicted", "true"), each [n] ints in [0, n_classes).

    `predicted` is computed as the argmax of `scores()` when not given; a "true" target
    without labels is recorded in `skipped`. Raises AttributionError on classes that do not fit.
    """
    classes = {}
    if "predicted" in targets:
        if predicted is None:
            predicted = scores().argmax(axis=1)
        classes["predicted"] = np.asarray(predicted, dtype=np.int64).reshape(-1)
    if "true" in targets:
        labels = stats.labels_to_classes(y) if y is not None else None
        if labels is None:
            skipped["true"] = "no class labels given"
        else:
            classes["true"] = labels
    for target, values in classes.items():
        if values.shape[0] != n:
            raise AttributionError("%d %s classes for %d samples" % (values.shape[0], target, n))
        if values.min() < 0 or values.max() >= n_classes:
            raise AttributionError(
                "%s classes must be in [0, %d), got %d..%d" % (target, n_classes, values.min(), values.max())
            )
    return classes


def attrs_of(result):
    """The HDF5 attributes of the `attributions` group describing a result (JSON-safe values)."""
    return {
        "score": result.score,
        "grad_cam_layer": result.grad_cam_layer or "",
        "skipped": json.dumps(result.skipped, sort_keys=True),
        "options": json.dumps(result.options, sort_keys=True),
        "targets": json.dumps(sorted(result.classes, key=TARGETS.index)),
        "methods": json.dumps([m for m in METHODS if m in result]),
    }
