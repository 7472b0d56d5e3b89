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
import time

import numpy as np

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
from innspector_tb.capture import callback_options
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
        callback_options.check_writable(self.log_dir)
        self.header = headers_lib.validate(header) if header is not None else None
        self.freq = int(freq)
        self.freq_unit = freq_unit
        self.layer_filter = callback_options.layer_filter(layers)
        self.dtype = dtype
        self.precision = precision
        self.kinds = frozenset(log)
        self.class_names = list(class_names) if class_names is not None else None
        self.histogram_bins = histogram_bins
        self.max_pending = max_pending
        self.writer_kind = writer
        self.probe_x, self.probe_y, self.probe_index = callback_options.select_probe(probe, int(probe_size), seed)
        self._attr_config = callback_options.attribution_config(attributions, self.probe_x, self.probe_y, seed)
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
        head = headers_lib.merge_hparams(head, callback_options.compiled_hparams(model, arch, self.params))
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
