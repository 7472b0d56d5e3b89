"""The callback's arguments: checked and turned into what it runs with, before training starts.

Every problem is an errors.ConfigurationError naming the argument, so a misconfigured callback fails at
construction, not an hour into training.
"""

import logging
import re
import uuid
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from innspector_tb import errors, fs
from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import attribution_setup as attribution_lib
from innspector_tb.format import deletion as deletion_format
from innspector_tb.format import headers as headers_lib
from innspector_tb.format import stats
from innspector_tb.format import vocabulary as vocabulary_lib

logger = logging.getLogger("innspector_tb")


def check_writable(log_dir):
    """Fails before training, with a clear message, if the log directory cannot be written."""
    try:
        tf.io.gfile.makedirs(log_dir)
        probe_file = fs.join(log_dir, ".innspector-write-test-" + uuid.uuid4().hex[:8])
        with tf.io.gfile.GFile(probe_file, "w") as f:
            f.write("ok")
        tf.io.gfile.remove(probe_file)
    except (OSError, tf.errors.OpError) as e:
        raise errors.ConfigurationError("iNNspector cannot write to log_dir %r: %s" % (log_dir, e)) from None


_ATTRIBUTION_KEYS = ("methods", "targets", "size", "layer", "score", "batch_size", "deletion_steps") + tuple(
    attribution_lib.DEFAULT_OPTIONS
)


def attribution_config(value, probe_x, probe_y, seed):
    """The checked `attributions` argument: None (off) or a dict; "auto" marks the default."""
    if value is False:
        return None
    auto = value is None
    if auto or value is True:
        value = {}
    if not isinstance(value, dict):
        raise errors.ConfigurationError(
            "attributions must be None, True, False or a dict of options, got %r" % (value,)
        )
    unknown = sorted(set(value) - set(_ATTRIBUTION_KEYS))
    if unknown:
        raise errors.ConfigurationError(
            "unknown attributions option(s) %s; options: %s" % (unknown, ", ".join(_ATTRIBUTION_KEYS))
        )
    try:
        methods = attribution_lib.check_methods(value.get("methods", attribution_lib.DEFAULT_METHODS))
        targets = attribution_lib.check_targets(value.get("targets", attribution_lib.TARGETS))
        options = attribution_lib.check_options(
            {k: v for k, v in value.items() if k in attribution_lib.DEFAULT_OPTIONS}
        )
    except attribution_lib.AttributionError as e:
        raise errors.ConfigurationError("attributions: %s" % e) from None
    size = value.get("size", attribution_lib.DEFAULT_SIZE)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise errors.ConfigurationError("attributions size must be an integer >= 1, got %r" % (size,))
    batch_size = value.get("batch_size")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise errors.ConfigurationError("attributions batch_size must be an integer >= 1, got %r" % (batch_size,))
    deletion_steps = value.get("deletion_steps", deletion_format.DEFAULT_STEPS)
    if (
        isinstance(deletion_steps, bool)
        or not isinstance(deletion_steps, (int, np.integer))
        or not (deletion_steps == 0 or 3 <= deletion_steps <= deletion_format.MAX_STEPS)
    ):
        raise errors.ConfigurationError(
            "attributions deletion_steps must be 0 (no deletion curves) or an integer from 3 to %d, got %r"
            % (deletion_format.MAX_STEPS, deletion_steps)
        )
    score = value.get("score", "logit")
    if score not in attribution_lib.SCORES:
        raise errors.ConfigurationError(
            "attributions score must be one of %s, got %r" % (attribution_lib.SCORES, score)
        )
    layer = value.get("layer")
    if layer is not None and not isinstance(layer, (str, keras.layers.Layer)):
        raise errors.ConfigurationError("attributions layer must be a layer id or name, got %r" % (layer,))
    if probe_x is None:
        if auto:
            return None
        raise errors.ConfigurationError("attributions need a probe: pass probe=(x, y)")
    if len(attribution_lib._flat(probe_x)) != 1:
        if auto:
            return None
        raise errors.ConfigurationError(
            "attributions are computed for image classifiers with one input; the probe has %d"
            % len(attribution_lib._flat(probe_x))
        )
    labels = stats.labels_to_classes(probe_y)
    n = activations_lib.num_samples(probe_x)
    index = stats.balanced_indices(labels if labels is not None else n, int(size), seed=seed)
    return {
        "auto": auto,
        "methods": methods,
        "methods_given": "methods" in value,
        "targets": targets,
        "options": options,
        "index": index,
        "layer": layer,
        "score": score,
        "batch_size": batch_size,
        "seed": seed,
        "deletion_steps": int(deletion_steps),
    }


def layer_filter(layers):
    if layers is None:
        return lambda layer_id, layer: True
    if callable(layers):
        return layers
    if isinstance(layers, str):
        pattern = re.compile(layers)
        return lambda layer_id, layer: bool(pattern.search(layer_id))
    wanted = set(layers)
    return lambda layer_id, layer: layer_id in wanted or layer.name in wanted


def select_probe(probe, size, seed):
    """Returns (x, class labels or raw targets, indices) of a class-balanced probe subset."""
    if probe is None:
        return None, None, None
    if isinstance(probe, tuple) and len(probe) == 2:
        x, y = probe
    else:
        x, y = probe, None
    n = activations_lib.num_samples(x)
    if n == 0:
        raise errors.ConfigurationError("the probe has no samples")
    labels = stats.labels_to_classes(y)
    if y is not None and np.asarray(y).shape[0] != n:
        raise errors.ConfigurationError("probe x has %d samples but y has %d" % (n, np.asarray(y).shape[0]))
    if y is None:
        logger.warning("iNNspector: the probe has no labels; per-class mean activations are not logged")
    elif labels is None:
        logger.warning("iNNspector: probe targets are not class labels; per-class means are not logged")
    if size < 1:
        raise errors.ConfigurationError("probe_size must be >= 1, got %d" % size)
    if size > n:
        logger.info("iNNspector: probe_size %d is larger than the %d probe samples; using all", size, n)
    index = stats.balanced_indices(labels if labels is not None else n, size, seed=seed)

    def take(a):
        return np.asarray(a)[index]

    if isinstance(x, dict):
        x = {k: take(v) for k, v in x.items()}
    elif isinstance(x, (list, tuple)):
        x = [take(v) for v in x]
    else:
        x = take(x)
    y = None if y is None else take(y)
    return x, y, index


def compiled_hparams(model, arch, params):
    """Hyper-parameters readable from a compiled model and fit()'s params."""
    hparams: dict[str, Any] = {}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        hparams["optimizer"] = type(optimizer).__name__
        try:
            hparams["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        except Exception:
            pass
        try:
            hparams["optimizer_config"] = headers_lib.to_json_safe(optimizer.get_config())
        except Exception:
            pass
    loss = getattr(model, "loss", None)
    if loss is not None:
        hparams["loss"] = _loss_description(loss)
    outputs = {layer["id"]: layer for layer in arch.get("layers", [])}
    activations = []
    for output in arch.get("outputs", []):
        layer = outputs.get(output["layer"], {})
        activations.append(layer.get("config", {}).get("activation") or _activation_of_type(layer))
    if activations:
        hparams["output_activations"] = activations
    for key in ("epochs", "steps"):
        if params and params.get(key) is not None:
            hparams[key if key == "epochs" else "steps_per_epoch"] = params[key]
    return hparams


def _activation_of_type(layer):
    kind = layer.get("type", "")
    return {"Softmax": "softmax", "ReLU": "relu"}.get(kind, "linear" if kind else None)


def _loss_description(loss):
    """{name, config} of a loss given as a string, a Loss object, a function, or a list/dict of those."""
    if isinstance(loss, (list, tuple)):
        return [_loss_description(item) for item in loss]
    if isinstance(loss, dict):
        return {k: _loss_description(v) for k, v in loss.items()}
    if isinstance(loss, str):
        return {"name": loss, "config": {}}
    if hasattr(loss, "get_config"):
        try:
            config = headers_lib.to_json_safe(loss.get_config())
        except Exception:
            config = {}
        return {"name": type(loss).__name__, "config": config}
    return {"name": getattr(loss, "__name__", type(loss).__name__), "config": {}}


def vocabulary(value):
    """The checked `vocabulary` argument: None or a list of token strings."""
    if value is None:
        return None
    try:
        return vocabulary_lib.check(list(value) if not isinstance(value, (str, bytes, dict)) else value)
    except (vocabulary_lib.VocabularyError, TypeError) as e:
        raise errors.ConfigurationError(str(e)) from None
