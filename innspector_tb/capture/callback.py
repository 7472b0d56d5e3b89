"""The Keras callback: everything iNNspector needs, logged during `model.fit`.

    callback = innspector_tb.keras.InnspectorCallback("logs/cnn", head, probe=(x_val, y_val))
    model.fit(x, y, epochs=10, callbacks=[callback])

At train begin: the header (with hyper-parameters read from the compiled
model), the architecture, the probe samples and step 0, the baseline before
the first update. At every logged step: weights, activations of every layer on
the probe, per-class mean activations, predictions and runtime statistics.
Every epoch: the metrics Keras reports, as ordinary scalars.

The training thread only copies arrays and runs the probe forward pass;
statistics, compression and writing happen on a low-priority background
thread (or, optionally, a writer process), with a bounded number of steps in flight.
A failure while logging is reported and skipped: it never stops training.
"""

import logging
import os
import re
import time
import uuid

import numpy as np
import tensorflow as tf

import keras

from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import architecture as architecture_lib
from innspector_tb.capture import attribution as attribution_lib
from innspector_tb.format import headers as headers_lib
from innspector_tb.capture import log_jobs
from innspector_tb.capture import runtime_stats
from innspector_tb.format import stats
from innspector_tb.format import step_files
from innspector_tb.capture import summary
from innspector_tb.capture import writer_process
from innspector_tb import errors

logger = logging.getLogger("innspector_tb")

DATA_KINDS = ("weights", "activations", "predictions", "samples", "runtime", "metrics")


# Kept for code written against earlier versions: the callback raises errors.ConfigurationError.
InnspectorError = errors.InnspectorError


class InnspectorCallback(keras.callbacks.Callback):
    """Logs a model for iNNspector during training.

    Args:
      log_dir: the run directory of this model (TensorBoard's --logdir is
        usually its parent, holding one directory per model).
      header: the model's header from `innspector_tb.header()` or `branch()`;
        a header named after the model is made when omitted.
      probe: `(x, y)` samples to record activations and predictions on, with
        class labels (ints or one-hot) for per-class means; `x` alone, or
        `(x, None)`, logs no class means. Without a probe only weights,
        metrics and runtime are logged.
      probe_size: samples kept from `probe`, balanced over classes (default 512).
      freq: log every `freq` epochs (or batches, see `freq_unit`). Step 0 and
        the last step are always logged.
      freq_unit: "epoch" (steps count epochs) or "batch" (steps count batches).
      layers: which layers to log: None for all, a regex on layer ids, a list
        of ids, or a callable `(layer_id, layer) -> bool`.
      dtype: storage dtype of bulk arrays, "float32" or "float16".
      precision: "rounded" (default) stores float32 arrays with 10 mantissa bits (relative error
        <= 4.9e-4, about half the bytes; statistics and histograms are computed before rounding);
        "exact" stores them losslessly.
      log: the kinds of data to log, a subset of DATA_KINDS.
      class_names: names of the classes, in label order, for display.
      histogram_bins: bins of each unit's histogram summary.
      max_pending: logged steps that may wait for the writer before training waits.
      writer: "thread" (default) writes from a low-priority background thread;
        "process" from a separate low-priority process, so training never
        waits for Python's interpreter lock (it costs a second Python with
        TensorFlow, ~3 s to start; worth it for long runs with Python-heavy
        training loops). Falls back to "thread" if the process cannot start.
      seed: seed of the balanced probe selection.
      attributions: attribution maps of a subset of the probe at every logged step (saliency,
        gradient x input, SmoothGrad, integrated gradients, Grad-CAM; for the predicted and the true
        class; see innspector_tb.capture.attribution). None (default): on for image classifiers (one 4-D
        input, one softmax or crossentropy output with a score per class, a probe with class labels),
        off otherwise. False: off. True: on with the defaults. A dict: on, with any of `methods`
        (default all), `targets` (("predicted", "true")), `size` (32 probe samples, balanced over
        classes), `layer` (the Grad-CAM convolution: id or name; default the last one), `score`
        ("logit", the default, or "output"), `smoothgrad_samples` (16), `smoothgrad_noise` (0.15),
        `ig_steps` (32), `ig_baseline` (0.0), `batch_size` (rows per gradient call).
    """

    def __init__(
        self,
        log_dir,
        header=None,
        probe=None,
        probe_size=512,
        freq=1,
        freq_unit="epoch",
        layers=None,
        dtype="float32",
        precision="rounded",
        log=DATA_KINDS,
        class_names=None,
        histogram_bins=stats.DEFAULT_BINS,
        max_pending=2,
        writer="thread",
        seed=0,
        attributions=None,
    ):
        super().__init__()
        if freq_unit not in ("epoch", "batch"):
            raise errors.ConfigurationError("freq_unit must be 'epoch' or 'batch', got %r" % (freq_unit,))
        if int(freq) < 1:
            raise errors.ConfigurationError("freq must be >= 1, got %r" % (freq,))
        unknown = sorted(set(log) - set(DATA_KINDS))
        if unknown:
            raise errors.ConfigurationError("unknown data kinds %s; choose from %s" % (unknown, DATA_KINDS))
        if writer not in ("process", "thread"):
            raise errors.ConfigurationError("writer must be 'process' or 'thread', got %r" % (writer,))
        if np.dtype(dtype) not in (np.dtype("float32"), np.dtype("float16")):
            raise errors.ConfigurationError("dtype must be 'float32' or 'float16', got %r" % (dtype,))
        if precision not in step_files.PRECISIONS:
            raise errors.ConfigurationError("precision must be 'rounded' or 'exact', got %r" % (precision,))
        self.log_dir = str(log_dir)
        _check_writable(self.log_dir)
        self.header = headers_lib.validate(header) if header is not None else None
        self.freq = int(freq)
        self.freq_unit = freq_unit
        self.layer_filter = _layer_filter(layers)
        self.dtype = dtype
        self.precision = precision
        self.kinds = frozenset(log)
        self.class_names = list(class_names) if class_names is not None else None
        self.histogram_bins = histogram_bins
        self.max_pending = max_pending
        self.writer_kind = writer
        self.probe_x, self.probe_y, self.probe_index = _select_probe(probe, int(probe_size), seed)
        self._attr_config = _attribution_config(attributions, self.probe_x, self.probe_y, seed)
        self._attributor = None
        # Start the writer now: its start-up (importing TensorFlow) overlaps
        # the user's own preparation instead of the first epoch.
        self._sink = self._open_sink()
        self._layer_ids = None
        self._save_size = (None, None)
        self._inference = None
        self._extractor = None
        self._epochs_done = 0
        self._batches_done = 0
        self._last_logged = None
        self._last_log_time = None
        self._started = False

    # Keras hooks. Each is guarded: logging problems are reported, training goes on.

    def on_train_begin(self, logs=None):
        if not self._started:
            # Outside the guard: a misconfiguration stops fit() before the first batch.
            self._prepare_attributions(self.model)
        self._guard("train begin", self._begin)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done += 1
        step = self._epochs_done if self.freq_unit == "epoch" else self._batches_done
        if "metrics" in self.kinds and logs:
            # With batch steps, the epoch's averages would collide with the last
            # batch's values at the same step: they get their own tags.
            prefix = "metrics/" if self.freq_unit == "epoch" else "metrics/epoch_"
            self._guard("metrics", self._submit_metrics, dict(logs), step, prefix)
        if self.freq_unit == "epoch" and self._epochs_done % self.freq == 0:
            self._guard("epoch %d" % step, self._log_step, step)

    def on_train_batch_end(self, batch, logs=None):
        self._batches_done += 1
        if self.freq_unit != "batch" or self._batches_done % self.freq:
            return
        step = self._batches_done
        if "metrics" in self.kinds and logs:
            self._guard("metrics", self._submit_metrics, dict(logs), step)
        self._guard("batch %d" % step, self._log_step, step)

    def on_train_end(self, logs=None):
        final = self._epochs_done if self.freq_unit == "epoch" else self._batches_done
        if self._sink is not None and final != self._last_logged:
            self._guard("final step", self._log_step, final, True)
        self._guard("train end", self._finish)

    # The work.

    def _guard(self, what, fn, *args):
        try:
            fn(*args)
        except Exception as e:
            logger.warning("iNNspector: logging at %s failed and was skipped: %s", what, e, exc_info=True)

    def _open_sink(self):
        options = dict(
            dtype=self.dtype, precision=self.precision, histogram_bins=self.histogram_bins, max_pending=self.max_pending
        )
        if self.writer_kind == "process":
            try:
                return writer_process.ProcessSink(self.log_dir, **options)
            except (OSError, ValueError) as e:
                logger.warning("iNNspector: cannot start the writer process (%s); writing from a thread", e)
        return writer_process.ThreadSink(self.log_dir, labels=self.probe_y, **options)

    def _submit(self, job):
        try:
            self._sink.submit(job)
        except writer_process.WriterError as e:
            # The writer process died: go on writing from a thread, nothing else lost.
            logger.warning("iNNspector: %s; writing from a thread from now on", e)
            self._sink = writer_process.ThreadSink(
                self.log_dir,
                dtype=self.dtype,
                precision=self.precision,
                histogram_bins=self.histogram_bins,
                max_pending=self.max_pending,
                labels=self.probe_y,
            )
            self._sink.submit(job)

    def _begin(self):
        model = self.model
        if self._sink is None:
            self._sink = self._open_sink()
        if self._started:
            # A second fit() continues the same run from the step it reached; its
            # new writer needs the probe labels for the class means.
            if self.probe_y is not None:
                self._submit(log_jobs.labels_job(self.probe_y))
            return
        self._started = True
        arch = architecture_lib.extract_architecture(model)
        self._layer_ids = [
            layer_id
            for layer_id, layer in architecture_lib.iter_leaf_layers(model)
            if self.layer_filter(layer_id, layer)
        ]
        self._extractor = activations_lib.ActivationExtractor(model, self._layer_ids)
        head = self.header or headers_lib.header(model.name)
        head = headers_lib.merge_hparams(head, _compiled_hparams(model, arch, self.params))
        head["hparams"].setdefault("step_unit", self.freq_unit)
        self.header = head
        if "runtime" in self.kinds:
            self._save_size = runtime_stats.save_size(model)
        if self.probe_x is not None and activations_lib.functional_graph(model) is None:
            logger.warning(
                "iNNspector: %s has no functional graph; layer activations are not logged "
                "(weights, predictions and metrics are)",
                model.name,
            )
        with_samples = self.probe_x is not None and "samples" in self.kinds
        self._submit(
            log_jobs.start_job(
                head,
                arch,
                x=self.probe_x if with_samples else None,
                y=self.probe_y,
                index=self.probe_index,
                class_names=self.class_names,
            )
        )
        self._log_step(0)

    def _log_step(self, step, final=False):
        """Copies what the step needs on the training thread; the worker does the rest."""
        model = self.model
        weights = summary.model_weights(model, self._layer_ids) if "weights" in self.kinds else None
        acts = preds = None
        if self.probe_x is not None and self.kinds & {"activations", "predictions"}:
            acts, preds = self._extractor(self.probe_x)
            acts = acts if "activations" in self.kinds else None
        attributions = None
        if self._attributor is not None:
            try:
                attributions = self._attributions(preds)
            except Exception as e:  # the step's other data are still logged
                logger.warning(
                    "iNNspector: attributions at step %d failed and were skipped: %s", step, e, exc_info=True
                )
        runtime = None
        if "runtime" in self.kinds:
            if self.probe_x is not None and (step == 0 or final):
                # Inference time depends on the architecture, not on the weights:
                # measured at step 0 (and a final step logged at train end) only,
                # to keep epochs cheap.
                self._inference = (runtime_stats.timed_predict(model, self.probe_x)[1], step)
            now = time.perf_counter()
            runtime = {
                "params": runtime_stats.parameter_counts(model),
                "save_size_bytes": self._save_size[0],
                "save_format": self._save_size[1],
                "inference_seconds_per_sample": self._inference[0] if self._inference else None,
                "inference_measured_at_step": self._inference[1] if self._inference else None,
                "peak_memory_bytes": runtime_stats.peak_memory_bytes(),
                "seconds_since_last_step": None if self._last_log_time is None else now - self._last_log_time,
                "step_unit": self.freq_unit,
            }
            self._last_log_time = now
        self._last_logged = step
        self._submit(
            log_jobs.step_job(
                step, weights, acts, preds if "predictions" in self.kinds else None, runtime, attributions
            )
        )

    def _prepare_attributions(self, model):
        """Builds the Attributor, or decides attributions are off; raises errors.ConfigurationError for a bad setup."""
        config = self._attr_config
        if config is None:
            return
        labels = stats.labels_to_classes(self.probe_y)
        if config["auto"]:
            reason = attribution_lib.image_classifier_reason(model, labels)
            if reason is not None:
                logger.info("iNNspector: attributions are off for %s: %s", model.name, reason)
                self._attr_config = None
                return
        try:
            self._attributor = attribution_lib.Attributor(model, config["layer"], config["score"])
        except attribution_lib.AttributionError as e:
            if config["auto"]:
                logger.warning("iNNspector: attributions are off for %s: %s", model.name, e)
                self._attr_config = None
                return
            raise errors.ConfigurationError("attributions: %s" % e) from None
        if labels is not None and labels.max(initial=0) >= self._attributor.classes:
            raise errors.ConfigurationError(
                "attributions: probe labels go up to %d but %s has %d outputs"
                % (labels.max(), model.name, self._attributor.classes)
            )
        if "true" in config["targets"] and labels is None:
            logger.warning("iNNspector: the probe has no class labels; attributions are for the predicted class only")
            config["targets"] = tuple(t for t in config["targets"] if t != "true") or ("predicted",)
        if "grad_cam" in config["methods"] and self._attributor.grad_cam_reason:
            logger.info("iNNspector: no Grad-CAM for %s: %s", model.name, self._attributor.grad_cam_reason)
        config["x"] = attribution_lib._flat(self.probe_x)[0][config["index"]]
        config["labels"] = None if labels is None else labels[config["index"]]

    def _attributions(self, preds):
        """The attribution maps of the attribution subset, from the live model (the training thread's share)."""
        config = self._attr_config
        index = config["index"]
        predicted = None
        if preds and np.ndim(preds[0]) == 2 and preds[0].shape[0] == activations_lib.num_samples(self.probe_x):
            predicted = np.argmax(preds[0][index], axis=1)
        result = self._attributor(
            config["x"],
            config["labels"],
            methods=config["methods"],
            targets=config["targets"],
            predicted=predicted,
            seed=config["seed"],
            batch_size=config["batch_size"],
            **config["options"],
        )
        result.sample = index
        return result

    def _submit_metrics(self, logs, step, prefix="metrics/"):
        if self._sink is not None:
            self._submit(log_jobs.metrics_job(logs, step, prefix))

    def _finish(self):
        self.close()

    def close(self):
        """Writes everything pending and stops the writer; safe to call twice."""
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.close()


def _check_writable(log_dir):
    """Fails before training, with a clear message, if the log directory cannot be written."""
    try:
        tf.io.gfile.makedirs(log_dir)
        probe_file = os.path.join(log_dir, ".innspector-write-test-" + uuid.uuid4().hex[:8])
        with tf.io.gfile.GFile(probe_file, "w") as f:
            f.write("ok")
        tf.io.gfile.remove(probe_file)
    except (OSError, tf.errors.OpError) as e:
        raise errors.ConfigurationError("iNNspector cannot write to log_dir %r: %s" % (log_dir, e)) from None


_ATTRIBUTION_KEYS = ("methods", "targets", "size", "layer", "score", "batch_size") + tuple(
    attribution_lib.DEFAULT_OPTIONS
)


def _attribution_config(value, probe_x, probe_y, seed):
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
        methods = attribution_lib.check_methods(value.get("methods", attribution_lib.METHODS))
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
        "targets": targets,
        "options": options,
        "index": index,
        "layer": layer,
        "score": score,
        "batch_size": batch_size,
        "seed": seed,
    }


def _layer_filter(layers):
    if layers is None:
        return lambda layer_id, layer: True
    if callable(layers):
        return layers
    if isinstance(layers, str):
        pattern = re.compile(layers)
        return lambda layer_id, layer: bool(pattern.search(layer_id))
    wanted = set(layers)
    return lambda layer_id, layer: layer_id in wanted or layer.name in wanted


def _select_probe(probe, size, seed):
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
    take = lambda a: np.asarray(a)[index]
    if isinstance(x, dict):
        x = {k: take(v) for k, v in x.items()}
    elif isinstance(x, (list, tuple)):
        x = [take(v) for v in x]
    else:
        x = take(x)
    y = None if y is None else take(y)
    return x, y, index


def _compiled_hparams(model, arch, params):
    """Hyper-parameters readable from a compiled model and fit()'s params."""
    hparams = {}
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
