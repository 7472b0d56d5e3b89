"""Reduce a classifier's reliance on some neurons: NeuroInspect's mitigation stage.

Given a Keras classifier, its decision layer (a Dense layer, logits
z = f W + b, softmax), the feature neurons found responsible for mistakes
(`innspector_tb.analysis.mistakes`) and the class c they mislead, only the decision
layer is retrained, on features computed once by the frozen feature
extractor, with

    loss = CE(softmax(f W + b), y) + lam * | mean_{x of class c} p_c(f) / p_c(f * mask) - gamma |

where `mask` zeroes the neurons: the ratio says how much class c's probability
depends on them (1: not at all). Training stops early when validation accuracy
has not improved for `patience` epochs, and the best epoch's weights are kept
(epoch 0, the parent's weights, included). The result is a copy of the model
with the new decision weights; with `log_dir` it is logged as a branched child
model (header with the parent's id, the Keras callback's data at step 0, the
parent's weights, and at every epoch up to the kept one, metrics as `metrics/*`
scalars), so the tree of models shows the fix beside its parent. Like fit's
`initial_epoch`, `initial_step` (best: the parent's last logged step) numbers
the child's epochs after the parent's: its epoch k is step initial_step + k,
so its curves continue the parent's and it is compared with the parent's final
state (divergence from parent, interestingness at each run's last step).

    neurons = mistakes.analyse(...)["neurons"]          # or the mistakes route's answer
    child = reduce_reliance(model, "classifier", neurons, 3, (x_train, y_train), (x_val, y_val),
                            log_dir="logs/cnn_fixed", parent_header=head)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from innspector_tb import errors
from innspector_tb.format import headers as headers_lib

# lam weighs the reliance term against the crossentropy (the ratio starts far
# above 1 for a strong spurious feature, so 1.0 already dominates early
# epochs); gamma = 1 asks that masking the neurons leave p_c unchanged.
DEFAULT_LAMBDA = 1.0
DEFAULT_GAMMA = 1.0
DEFAULT_EPOCHS = 50
DEFAULT_PATIENCE = 5
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 1e-2


class RelianceError(errors.ConfigurationError):
    """A model, layer, neuron list or data set that reduce_reliance cannot work with."""


@dataclasses.dataclass
class DecisionFit:
    """The result of retraining a decision layer on fixed features."""

    kernel: np.ndarray  # the kept (best) epoch's
    bias: np.ndarray | None  # None when the bias was not trained
    best_epoch: int  # 0: no epoch beat the starting weights
    epochs_run: int
    history: list  # one dict of metrics per epoch, epoch 0 (the start) first
    epoch_weights: list  # (kernel, bias) after each epoch 1..epochs_run


def _neuron_indices(neurons, features):
    indices = []
    for neuron in neurons:
        index = neuron.get("index") if isinstance(neuron, dict) else neuron
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise RelianceError("a neuron must be an index or a dict with 'index', got %r" % (neuron,))
        if not 0 <= int(index) < features:
            raise RelianceError("neuron %d is not one of the %d features" % (index, features))
        indices.append(int(index))
    indices = sorted(set(indices))
    if not indices:
        raise RelianceError("no neurons given: nothing to reduce the reliance on")
    return indices


def fit_decision_layer(
    train_features,
    train_labels,
    val_features,
    val_labels,
    kernel,
    bias,
    neurons,
    cls,
    lam=DEFAULT_LAMBDA,
    gamma=DEFAULT_GAMMA,
    epochs=DEFAULT_EPOCHS,
    patience=DEFAULT_PATIENCE,
    batch_size=DEFAULT_BATCH_SIZE,
    learning_rate=DEFAULT_LEARNING_RATE,
    seed=0,
):
    """Retrains logits = f W + b on fixed features with the reliance loss; returns a DecisionFit."""
    f_train = np.asarray(train_features, dtype=np.float32).reshape(len(train_features), -1)
    f_val = np.asarray(val_features, dtype=np.float32).reshape(len(val_features), -1)
    y_train = np.asarray(train_labels, dtype=np.int64).reshape(-1)
    y_val = np.asarray(val_labels, dtype=np.int64).reshape(-1)
    kernel = np.asarray(kernel, dtype=np.float32)
    F, C = kernel.shape
    if f_train.shape != (y_train.size, F) or f_val.shape != (y_val.size, F):
        raise RelianceError(
            "features %s / %s and labels %d / %d do not fit a kernel of shape %s"
            % (list(f_train.shape), list(f_val.shape), y_train.size, y_val.size, [F, C])
        )
    if not 0 <= int(cls) < C:
        raise RelianceError("class %r is not one of the decision layer's %d classes" % (cls, C))
    if not (y_train == int(cls)).any():
        raise RelianceError("the training data has no sample of class %d" % int(cls))
    if y_val.size == 0:
        raise RelianceError("validation data is needed for early stopping")
    cls = int(cls)
    mask_np = np.ones(F, dtype=np.float32)
    mask_np[_neuron_indices(neurons, F)] = 0.0
    mask = tf.constant(mask_np)
    W = tf.Variable(kernel)
    b = tf.Variable(np.zeros(C, np.float32) if bias is None else np.asarray(bias, dtype=np.float32))
    train_bias = bias is not None
    variables = [W, b] if train_bias else [W]
    optimizer = keras.optimizers.Adam(learning_rate)
    lam = float(lam)
    gamma = float(gamma)

    def losses(f, y):
        logits = tf.matmul(f, W) + b
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        of_class = tf.equal(y, cls)
        f_c = tf.boolean_mask(f, of_class)
        log_p = tf.nn.log_softmax(tf.matmul(f_c, W) + b)[:, cls]
        log_p_masked = tf.nn.log_softmax(tf.matmul(f_c * mask, W) + b)[:, cls]
        ratio = tf.exp(tf.clip_by_value(log_p - log_p_masked, -50.0, 50.0))
        has = tf.size(ratio) > 0
        mean_ratio = tf.where(has, tf.reduce_mean(ratio), tf.constant(gamma))
        reliance = tf.abs(mean_ratio - gamma)
        return ce + lam * reliance, ce, reliance, mean_ratio, logits

    @tf.function(reduce_retracing=True)
    def train_step(f, y):
        with tf.GradientTape() as tape:
            total = losses(f, y)[0]
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return total

    def evaluate():
        total, ce, reliance, ratio, logits = losses(tf.constant(f_train), tf.constant(y_train))
        val_total, val_ce, _, _, val_logits = losses(tf.constant(f_val), tf.constant(y_val))
        predicted = np.argmax(val_logits.numpy(), axis=1)
        of_class = y_val == cls
        return {
            "loss": float(total),
            "crossentropy": float(ce),
            "reliance": float(reliance),
            "reliance_ratio": float(ratio),
            "accuracy": float(np.mean(np.argmax(logits.numpy(), axis=1) == y_train)),
            "val_loss": float(val_ce),
            "val_accuracy": float(np.mean(predicted == y_val)),
            "val_class_accuracy": float(np.mean(predicted[of_class] == cls)) if of_class.any() else float("nan"),
        }

    history = [evaluate()]
    best = (history[0]["val_accuracy"], 0, kernel.copy(), b.numpy().copy())
    epoch_weights = []
    rng = np.random.default_rng(seed)
    waited = 0
    epochs_run = 0
    for epoch in range(1, int(epochs) + 1):
        order = rng.permutation(y_train.size)
        for start in range(0, order.size, int(batch_size)):
            batch = order[start : start + int(batch_size)]
            train_step(tf.constant(f_train[batch]), tf.constant(y_train[batch]))
        epochs_run = epoch
        history.append(evaluate())
        epoch_weights.append((W.numpy().copy(), b.numpy().copy()))
        if history[-1]["val_accuracy"] > best[0]:
            best = (history[-1]["val_accuracy"], epoch, epoch_weights[-1][0], epoch_weights[-1][1])
            waited = 0
        else:
            waited += 1
            if waited >= int(patience):
                break
    return DecisionFit(
        kernel=best[2],
        bias=best[3] if train_bias else None,
        best_epoch=best[1],
        epochs_run=epochs_run,
        history=history,
        epoch_weights=epoch_weights,
    )


def _decision_layer(model, decision_layer):
    if decision_layer is None:
        layer = model.layers[-1] if model.layers else None
    elif isinstance(decision_layer, keras.layers.Layer):
        layer = decision_layer
    else:
        layer = None
        try:
            layer = model.get_layer(decision_layer)
        except ValueError:
            from innspector_tb.capture import architecture as architecture_lib

            for layer_id, candidate in architecture_lib.iter_leaf_layers(model):
                if layer_id == decision_layer:
                    layer = candidate
        if layer is None:
            raise RelianceError("the model has no layer %r" % (decision_layer,))
    if not isinstance(layer, keras.layers.Dense):
        raise RelianceError(
            "the decision layer must be Dense, got %r (%s)" % (getattr(layer, "name", None), type(layer).__name__)
        )
    activation = keras.activations.serialize(layer.activation)
    activation = activation if isinstance(activation, str) else getattr(layer.activation, "__name__", activation)
    if activation not in ("softmax", "linear"):
        raise RelianceError(
            "the decision layer %r has a %s activation; softmax or linear (logits) is needed" % (layer.name, activation)
        )
    return layer


def _find_same_layer(model, child, layer):
    """The layer of `child` (a clone of `model`) with the id `layer` has in `model`."""
    from innspector_tb.capture import architecture as architecture_lib

    ids = [layer_id for layer_id, candidate in architecture_lib.iter_leaf_layers(model) if candidate is layer]
    if ids:
        for layer_id, candidate in architecture_lib.iter_leaf_layers(child):
            if layer_id == ids[0]:
                return candidate
    raise RelianceError("the decision layer %r is not a layer of the model" % (layer.name,))


def features_of(model, layer, x, batch_size=256):
    """The input of `layer` (the features it decides on) for the samples x, by the frozen model."""
    extractor = keras.Model(model.inputs, layer.input)
    return np.asarray(extractor.predict(x, batch_size=batch_size, verbose=0))


def reduce_reliance(
    model: keras.Model,
    decision_layer: str | keras.layers.Layer | None,
    neurons: Iterable[int | Mapping[str, Any]],
    cls: int,
    train: tuple[Any, Any],
    validation: tuple[Any, Any],
    lam: float = DEFAULT_LAMBDA,
    gamma: float = DEFAULT_GAMMA,
    epochs: int = DEFAULT_EPOCHS,
    patience: int = DEFAULT_PATIENCE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    log_dir: str | None = None,
    header: Mapping[str, Any] | None = None,
    parent_header: Mapping[str, Any] | None = None,
    name: str | None = None,
    probe: tuple[Any, Any] | None = None,
    probe_size: int = 512,
    class_names: Sequence[str] | None = None,
    initial_step: int = 0,
    seed: int = 0,
    return_fit: bool = False,
) -> keras.Model | tuple[keras.Model, DecisionFit]:
    """Returns a copy of `model` whose decision layer relies less on `neurons` for class `cls`.

    Args:
      model: a Keras classifier (Sequential or functional); it is not changed.
      decision_layer: its Dense decision layer (name, layer id or the layer;
        None: the model's last layer), softmax or linear.
      neurons: indices of the decision layer's input features, or the
        `neurons` of a mistakes answer (dicts with "index").
      cls: the class whose reliance on the neurons to reduce.
      train, validation: (x, y) with int labels; the features are computed
        once by the frozen layers before the decision layer.
      lam, gamma: the reliance term's weight and target (module docstring).
      epochs, patience: the epoch cap and early stopping on validation accuracy.
      log_dir: when given, the copy is logged there as a child model.
      header: the child's header (its parents should name the parent), or
      parent_header: the parent's header, to branch a child named `name`.
      probe: (x, y) the child's probe (default: the validation data).
      initial_step: the child's epoch k is logged at step initial_step + k
        (step 0 is always its starting state, the parent's weights).
      return_fit: also return the DecisionFit (history, best epoch).

    Returns:
      the child model, or (child, DecisionFit) with return_fit.
    """
    if not isinstance(model, keras.Model):
        raise RelianceError("reduce_reliance needs a Keras model, got %s" % type(model).__name__)
    if isinstance(initial_step, bool) or not isinstance(initial_step, (int, np.integer)) or initial_step < 0:
        raise RelianceError("initial_step must be a non-negative integer, got %r" % (initial_step,))
    if log_dir is not None and header is None and parent_header is None:
        raise RelianceError("logging the child needs its header, or the parent's header to branch from")
    layer = _decision_layer(model, decision_layer)
    (x_train, y_train), (x_val, y_val) = train, validation
    kernel = layer.kernel.numpy()
    bias = layer.bias.numpy() if layer.use_bias else None
    fit = fit_decision_layer(
        features_of(model, layer, x_train),
        y_train,
        features_of(model, layer, x_val),
        y_val,
        kernel,
        bias,
        neurons,
        cls,
        lam=lam,
        gamma=gamma,
        epochs=epochs,
        patience=patience,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    child = keras.models.clone_model(model)
    child.set_weights(model.get_weights())
    child_layer = _find_same_layer(model, child, layer)
    from_logits = keras.activations.serialize(layer.activation) == "linear"
    child.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy"],
    )
    if log_dir is not None:
        _log_child(
            child,
            child_layer,
            fit,
            kernel,
            bias,
            log_dir,
            header,
            parent_header,
            name,
            int(initial_step),
            probe if probe is not None else validation,
            probe_size,
            class_names,
            _settings(layer, neurons, cls, lam, gamma, epochs, patience, batch_size, learning_rate, fit, kernel),
        )
    _set_decision(child_layer, fit.kernel, fit.bias)
    return (child, fit) if return_fit else child


def _set_decision(layer, kernel, bias):
    layer.kernel.assign(kernel)
    if bias is not None and layer.use_bias:
        layer.bias.assign(bias)


def _settings(layer, neurons, cls, lam, gamma, epochs, patience, batch_size, learning_rate, fit, kernel):
    return {
        "method": "NeuroInspect reliance reduction (decision layer retrained)",
        "decision_layer": layer.name,
        "neurons": _neuron_indices(neurons, kernel.shape[0]),
        "class": int(cls),
        "lambda": float(lam),
        "gamma": float(gamma),
        "max_epochs": int(epochs),
        "patience": int(patience),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "start_val_accuracy": fit.history[0]["val_accuracy"],
        "best_val_accuracy": fit.history[fit.best_epoch]["val_accuracy"],
    }


def _log_child(
    child,
    child_layer,
    fit,
    kernel,
    bias,
    log_dir,
    header,
    parent_header,
    name,
    initial_step,
    probe,
    probe_size,
    class_names,
    settings,
):
    """Logs the child through the Keras callback: step 0 (the parent's weights), then epochs 1..best_epoch
    at steps initial_step + 1, ..."""
    from innspector_tb.capture.callback import InnspectorCallback

    if header is None:
        if parent_header is None:
            raise RelianceError("logging the child needs its header, or the parent's header to branch from")
        header = headers_lib.branch(
            parent_header,
            name or "%s_reduced_reliance" % parent_header.get("name", "model"),
            label="%s with less reliance of class %d on neurons %s"
            % (parent_header.get("name", "model"), settings["class"], settings["neurons"]),
        )
    header = headers_lib.merge_hparams(header, {"reduce_reliance": dict(settings, initial_step=initial_step)})
    callback = InnspectorCallback(log_dir, header, probe=probe, probe_size=probe_size, class_names=class_names)
    callback.set_model(child)
    callback.set_params({"epochs": fit.best_epoch, "steps": None})
    _set_decision(child_layer, kernel, bias)
    callback.on_train_begin()  # step 0
    # The callback counts epochs itself (it ignores on_epoch_end's argument):
    # start its count where the parent's ended.
    callback._epochs_done = initial_step
    # Training ran on the features alone; the kept epochs are replayed so the
    # run ends at the weights returned (the epochs after the best are dropped,
    # as early stopping with restored weights would).
    for epoch in range(1, fit.best_epoch + 1):
        _set_decision(child_layer, *fit.epoch_weights[epoch - 1])
        logs = {k: v for k, v in fit.history[epoch].items() if np.isfinite(v)}
        callback.on_epoch_end(epoch - 1, logs)
    callback.on_train_end()
