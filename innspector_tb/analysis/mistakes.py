"""Mistake neurons: NeuroInspect's counterfactual stage, computed from logged data.

For a classifier whose last layer is dense over a feature layer (logits
z = f W + b, softmax), each misclassified probe sample of the chosen true
class c gets a sparse edit w of its feature vector f that makes c win:

    minimise  CE(softmax((f + w) W + b), c) + alpha * |w|_1 / F + beta * |w|_2^2 / F

by FISTA (proximal gradient with Nesterov momentum: a gradient step on the
smooth part, soft-thresholding for the L1 part), vectorised over the mistakes,
each sample stopping as soon as argmax is c (or at the iteration cap). Each
edit votes for its 5 largest and its 5 most negative entries; the neurons voted
in more than 3% of the mistakes are reported with their vote share. The
importance ratio of feature i is p_c(f_bar) / p_c(f_bar with f_i = 0) on the
class-mean feature vector f_bar.

Pure numpy: no TensorFlow. `analyse` finds the decision and feature layers in
an architecture (docs/format.md) and reads the arrays through a callable, so
the plugin's `mistakes` route (over TensorBoard's data) and a script (over a
run directory, `format.step_files.run_dir_reader`) run the same code.
"""

import math

import numpy as np

from innspector_tb import errors
from innspector_tb.format import step_files
from innspector_tb.format.architecture import layer_h5_name

DEFAULT_ALPHA = 0.1
DEFAULT_BETA = 0.01
DEFAULT_MAX_ITERATIONS = 1000
MAX_ITERATIONS = 10_000
TOP_PER_DIRECTION = 5
MIN_SHARE = 0.03
TOP_IMPORTANCE = 10
# n_mistakes * features * classes * iterations: a few seconds of numpy at most.
MAX_WORK = 4_000_000_000

_SOFTMAX_TYPES = ("Softmax",)
_PASSTHROUGH_ACTIVATIONS = (None, "linear", "softmax")


class MistakeError(errors.BadRequest):
    """The model or its data cannot be analysed this way (not a classifier, no labels, ...)."""


class MissingData(MistakeError, errors.NotFound):
    """Data the analysis needs was not logged (labels, predictions, activations)."""


class WorkLimitError(MistakeError):
    """The counterfactual search would take too long."""


# Numerics.


def log_softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits):
    return np.exp(log_softmax(logits))


def counterfactual_edits(
    features, kernel, bias, targets, alpha=DEFAULT_ALPHA, beta=DEFAULT_BETA, max_iterations=DEFAULT_MAX_ITERATIONS
):
    """Sparse edits w [n, F] making each target class win, and which samples flipped.

    Returns (edits, solved [n] bool, iterations [n] int). Deterministic: FISTA
    from w = 0 with the step 1 / L, L = |W|_2^2 / 2 + 2 beta / F (the Hessian
    of the softmax crossentropy in the logits is at most 1/2 in norm); a sample
    stops being updated as soon as its edited features are classified as its
    target.
    """
    f = np.asarray(features, dtype=np.float64)
    W = np.asarray(kernel, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    n, F = f.shape
    C = W.shape[1]
    onehot = np.zeros((n, C))
    onehot[np.arange(n), t] = 1.0
    l1 = float(alpha) / F
    l2 = float(beta) / F
    lipschitz = 0.5 * float(np.linalg.norm(W, 2)) ** 2 + 2.0 * l2
    step = 1.0 / max(lipschitz, 1e-12)
    threshold = step * l1

    w = np.zeros((n, F))
    solved = np.argmax(f @ W + b, axis=1) == t
    iterations = np.zeros(n, dtype=np.int64)
    y = w.copy()
    momentum = np.ones(n)
    for _ in range(int(max_iterations)):
        active = np.flatnonzero(~solved)
        if active.size == 0:
            break
        ya = y[active]
        p = softmax((f[active] + ya) @ W + b)
        grad = (p - onehot[active]) @ W.T + 2.0 * l2 * ya
        z = ya - step * grad
        w_next = np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)
        m = momentum[active]
        m_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * m * m))
        y[active] = w_next + ((m - 1.0) / m_next)[:, None] * (w_next - w[active])
        w[active] = w_next
        momentum[active] = m_next
        iterations[active] += 1
        solved[active] = np.argmax((f[active] + w_next) @ W + b, axis=1) == t[active]
    return w, solved, iterations


def vote(edits, top=TOP_PER_DIRECTION, min_share=MIN_SHARE):
    """Neurons among the `top` largest (increase) and most negative (decrease) entries of each edit.

    Only nonzero entries vote. Returns [{index, direction, votes, share}] for
    the (neuron, direction) pairs voted by more than `min_share` of the edits,
    most voted first (ties: larger mean |edit| first, then index).
    """
    edits = np.asarray(edits, dtype=np.float64)
    n, F = edits.shape
    if n == 0:
        return []
    k = min(int(top), F)
    votes = {"increase": np.zeros(F, dtype=np.int64), "decrease": np.zeros(F, dtype=np.int64)}
    magnitude = {"increase": np.zeros(F), "decrease": np.zeros(F)}
    order = np.argsort(-edits, axis=1, kind="stable")
    for direction, picks in (("increase", order[:, :k]), ("decrease", order[:, ::-1][:, :k])):
        values = np.take_along_axis(edits, picks, axis=1)
        keep = values > 0 if direction == "increase" else values < 0
        np.add.at(votes[direction], picks[keep], 1)
        np.add.at(magnitude[direction], picks[keep], np.abs(values[keep]))
    result = []
    for direction in ("increase", "decrease"):
        for index in np.flatnonzero(votes[direction] > min_share * n):
            count = int(votes[direction][index])
            result.append(
                {
                    "index": int(index),
                    "direction": direction,
                    "votes": count,
                    "share": count / n,
                    "mean_edit": float(magnitude[direction][index] / count)
                    * (1.0 if direction == "increase" else -1.0),
                }
            )
    result.sort(key=lambda r: (-r["votes"], -abs(r["mean_edit"]), r["index"], r["direction"]))
    return result


def importance_ratios(mean_features, kernel, bias, cls):
    """p_c(f_bar) / p_c(f_bar with feature i zeroed), for every feature i: [F]."""
    f = np.asarray(mean_features, dtype=np.float64)
    W = np.asarray(kernel, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64)
    logits = f @ W + b
    zeroed = logits[None, :] - f[:, None] * W  # row i: the logits with f_i = 0
    log_full = log_softmax(logits)[cls]
    log_zeroed = log_softmax(zeroed)[:, cls]
    return np.exp(np.clip(log_full - log_zeroed, -700.0, 700.0))


def find_mistake_neurons(
    features,
    labels,
    predicted,
    kernel,
    bias,
    cls=None,
    alpha=DEFAULT_ALPHA,
    beta=DEFAULT_BETA,
    max_iterations=DEFAULT_MAX_ITERATIONS,
    top=TOP_PER_DIRECTION,
    min_share=MIN_SHARE,
    top_importance=TOP_IMPORTANCE,
):
    """The mistake neurons of class `cls` (None: every class) from arrays.

    features [n, F] (the decision layer's input), labels [n] and predicted [n]
    class indices (the logged predictions' argmax), the decision layer's kernel
    [F, C] and bias [C]. Returns a JSON-safe dict: mistakes, solved, neurons,
    importance, mistake_samples, note.
    """
    features = np.asarray(features, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    bias = np.zeros(kernel.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    n, F = features.shape
    C = kernel.shape[1]
    if kernel.shape[0] != F or bias.shape != (C,):
        raise MistakeError(
            "the decision layer's kernel %s and bias %s do not fit %d features"
            % (list(kernel.shape), list(bias.shape), F)
        )
    if labels.shape != (n,) or predicted.shape != (n,):
        raise MistakeError(
            "labels %s and predictions %s do not match the %d feature vectors"
            % (list(labels.shape), list(predicted.shape), n)
        )
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise MistakeError("labels outside the decision layer's %d classes" % C)
    if cls is not None and not 0 <= int(cls) < C:
        raise MistakeError("class %r is not one of the decision layer's %d classes (0 to %d)" % (cls, C, C - 1))
    of_class = np.ones(n, dtype=bool) if cls is None else labels == int(cls)
    wrong = np.flatnonzero(of_class & (predicted != labels))
    work = wrong.size * F * C * int(max_iterations)
    if work > MAX_WORK:
        raise WorkLimitError(
            "the counterfactual search would take %d mistakes x %d features x %d classes x %d "
            "iterations, over the limit of %d; choose a class or fewer iterations"
            % (wrong.size, F, C, max_iterations, MAX_WORK)
        )
    result = {
        "samples": int(of_class.sum()),
        "mistakes": int(wrong.size),
        "solved": 0,
        "mistake_samples": [int(i) for i in wrong],
        "neurons": [],
        "importance": [],
        "note": None,
    }
    if wrong.size == 0:
        result["note"] = "no misclassified probe samples%s at this step: nothing to explain" % (
            "" if cls is None else " of class %d" % int(cls)
        )
        return result
    targets = labels[wrong]
    edits, solved, _ = counterfactual_edits(features[wrong], kernel, bias, targets, alpha, beta, max_iterations)
    result["solved"] = int(solved.sum())
    # Importance on each mistaken class's mean feature vector; with every class,
    # averaged with the classes' numbers of mistakes as weights.
    mistaken, counts = np.unique(targets, return_counts=True)
    ratios = np.zeros(F)
    for c, count in zip(mistaken, counts, strict=True):
        ratios += count * importance_ratios(features[labels == c].mean(axis=0), kernel, bias, int(c))
    ratios /= counts.sum()
    neurons = vote(edits, top=top, min_share=min_share)
    for neuron in neurons:
        neuron["importance_ratio"] = _number(ratios[neuron["index"]])
    result["neurons"] = neurons
    order = np.argsort(-ratios, kind="stable")[:top_importance]
    result["importance"] = [{"index": int(i), "ratio": _number(ratios[i])} for i in order]
    if not neurons:
        result["note"] = "no neuron was voted by more than %g%% of the mistakes" % (100 * min_share)
    return result


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


# The model's decision layer, from its architecture.


def _layers_by_id(arch):
    return {layer.get("id"): layer for layer in arch.get("layers", [])}


def _predecessor(arch, layer_id):
    for edge in arch.get("edges", []):
        if edge.get("to") == layer_id and edge.get("to_input", 0) == 0:
            return edge.get("from")
    return None


def _activation(layer):
    config = layer.get("config") or {}
    if layer.get("type") in _SOFTMAX_TYPES:
        return "softmax"
    if layer.get("type") == "Activation":
        return config.get("activation")
    return config.get("activation")


def decision_layers(arch):
    """(decision layer id, feature layer id) of a classifier's first output, or MistakeError saying why not."""
    layers = _layers_by_id(arch)
    outputs = arch.get("outputs") or []
    if not outputs:
        raise MistakeError("the model has no outputs in its architecture")
    layer_id = outputs[0].get("layer")
    layer = layers.get(layer_id)
    if layer is None:
        raise MistakeError("the model's output layer %r is not in its architecture" % (layer_id,))
    if layer.get("type") in _SOFTMAX_TYPES or layer.get("type") == "Activation":
        if _activation(layer) != "softmax":
            raise MistakeError(
                "the model's output %r is a %s activation, not a softmax classifier" % (layer_id, _activation(layer))
            )
        layer_id = _predecessor(arch, layer_id)
        layer = layers.get(layer_id)
    if layer is None or layer.get("type") != "Dense":
        raise MistakeError(
            "the model's last layer%s is not Dense: only a classifier whose last layer is "
            "dense over a feature layer can be analysed"
            % ("" if layer is None else " %r (%s)" % (layer_id, layer.get("type")))
        )
    if _activation(layer) not in _PASSTHROUGH_ACTIVATIONS:
        raise MistakeError(
            "the decision layer %r has a %s activation; a softmax (or linear, logits) classifier "
            "is needed" % (layer_id, _activation(layer))
        )
    variables = {v.get("name") for v in layer.get("variables", [])}
    if "kernel" not in variables:
        raise MistakeError("the decision layer %r has no kernel" % (layer_id,))
    feature_id = _predecessor(arch, layer_id)
    feature = layers.get(feature_id)
    if feature is None or feature.get("is_input") or feature.get("type") == "InputLayer":
        raise MistakeError(
            "the decision layer %r reads the model's input directly: there is no feature layer "
            "whose neurons could be blamed" % (layer_id,)
        )
    return layer_id, feature_id


def analyse(
    arch,
    read,
    labels,
    cls=None,
    alpha=DEFAULT_ALPHA,
    beta=DEFAULT_BETA,
    max_iterations=DEFAULT_MAX_ITERATIONS,
    layer_dataset=None,
):
    """The mistake neurons of a logged classifier at one step.

    arch: its architecture; read(dataset): an array of the step's step file
    (raises LookupError when absent); labels: the probe's int labels (None:
    no labels); layer_dataset(layer id, name): the dataset path of a layer's
    array (default: the step file layout). The answer of the `mistakes` route
    without run and step.
    """
    if layer_dataset is None:
        layer_dataset = _layer_dataset
    decision, feature = decision_layers(arch)
    if labels is None:
        raise MissingData("the probe has no class labels: mistakes cannot be told")
    bias_names = {v.get("name") for v in _layers_by_id(arch)[decision].get("variables", [])}
    try:
        kernel = np.asarray(read(layer_dataset(decision, "weights/kernel")))
        bias = np.asarray(read(layer_dataset(decision, "weights/bias"))) if "bias" in bias_names else None
    except LookupError:
        raise MissingData("the decision layer %r has no logged weights at this step" % (decision,)) from None
    if kernel.ndim != 2 or kernel.shape[1] < 2:
        raise MistakeError(
            "the decision layer %r has a kernel of shape %s; a classifier over 2 or more classes "
            "is needed" % (decision, list(kernel.shape))
        )
    try:
        activations = np.asarray(read(layer_dataset(feature, "activations")))
    except LookupError:
        raise MissingData("the feature layer %r has no logged activations at this step" % (feature,)) from None
    try:
        predictions = np.asarray(read("data_samples/y_prediction"))
    except LookupError:
        raise MissingData("no predictions were logged at this step") from None
    labels = np.asarray(labels)
    n = labels.shape[0]
    if activations.shape[0] != n or predictions.shape[0] != n:
        raise MistakeError(
            "the probe has %d labels but %d feature vectors and %d predictions"
            % (n, activations.shape[0], predictions.shape[0])
        )
    features = activations.reshape(n, -1)
    if features.shape[1] != kernel.shape[0]:
        raise MistakeError(
            "the feature layer %r has %d values per sample but the decision layer %r expects %d"
            % (feature, features.shape[1], decision, kernel.shape[0])
        )
    if predictions.ndim != 2 or predictions.shape[1] != kernel.shape[1]:
        raise MistakeError(
            "the predictions of shape %s are not scores of the decision layer's %d classes"
            % (list(predictions.shape), kernel.shape[1])
        )
    result = {
        "decision_layer": decision,
        "feature_layer": feature,
        "class": None if cls is None else int(cls),
        "features": int(features.shape[1]),
        "classes": int(kernel.shape[1]),
    }
    result.update(
        find_mistake_neurons(
            features, labels, np.argmax(predictions, axis=1), kernel, bias, cls, alpha, beta, max_iterations
        )
    )
    result["parameters"] = {
        "alpha": float(alpha),
        "beta": float(beta),
        "max_iterations": int(max_iterations),
        "top_per_direction": TOP_PER_DIRECTION,
        "min_share": MIN_SHARE,
        "solver": "FISTA",
        "importance_on": "class-mean feature vector",
    }
    return result


def _layer_dataset(layer_id, name):
    return "%s/%s" % (step_files.layer_group(layer_h5_name(layer_id)), name)
