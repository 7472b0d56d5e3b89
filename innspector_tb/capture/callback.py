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

Distributed training: only the chief logs (`distribution.py`); the callbacks of other workers
do nothing, and replicas share one probe pass per step.

One writer per run: the callback locks the run directory from train begin to train end
(`run_lock.py`). A run that already holds steps is resumed: steps continue after them
(`resume.py`). Training interrupted (Ctrl-C: Keras re-raises KeyboardInterrupt without
calling `on_train_end`) still gets what is queued written, at interpreter exit.
"""

import atexit
import logging
import time
import uuid
from typing import Any

import keras
import numpy as np

from innspector_tb import errors
from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import architecture as architecture_lib
from innspector_tb.capture import attribution as attribution_lib
from innspector_tb.capture import (
    callback_options,
    deletion,
    distribution,
    gradient_pass,
    log_jobs,
    probe_pass,
    resume,
    run_lock,
    runtime_stats,
    step_pacing,
    summary,
    token_attribution,
    tracing,
    visualisation_log,
    writer_process,
)
from innspector_tb.capture import plan as plan_lib
from innspector_tb.capture import time_budget as time_budget_lib
from innspector_tb.capture.relevance import occlusion
from innspector_tb.format import headers as headers_lib
from innspector_tb.format import stats, step_files

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
      vocabulary: for a model of token ids, the string of each id (a list in id order, at most
        200,000): the views show the probe's token sequences and token attributions as words.
      histogram_bins: bins of each unit's histogram summary.
      max_pending: logged steps that may wait for the writer before training waits.
      writer: "thread" (default) writes from a low-priority background thread;
        "process" from a separate low-priority process, so training never
        waits for Python's interpreter lock (it costs a second Python with
        TensorFlow, ~3 s to start; worth it for long runs with Python-heavy
        training loops). Falls back to "thread" if the process cannot start.
      seed: seed of the balanced probe selection.
      attributions: attribution maps of a subset of the probe at every logged step (by default
        saliency, gradient x input, SmoothGrad, integrated gradients, Grad-CAM, LRP-ε, LRP
        EpsilonPlusFlat, Guided Backprop and occlusion; for the predicted and the true class; see
        innspector_tb.capture.attribution and innspector_tb.capture.relevance). None (default): on
        for image classifiers (one 4-D input, one softmax or crossentropy output with a score per
        class, a probe with class labels), off otherwise. False: off. True: on with the defaults. A
        dict: on, with any of `methods` (default attribution_setup.DEFAULT_METHODS; any of
        attribution_setup.METHODS), `targets` (("predicted", "true")), `size` (32 probe samples,
        balanced over classes), `layer` (the Grad-CAM convolution: id or name; default the last
        one), `score` ("logit", the default, or "output"), `smoothgrad_samples` (16),
        `smoothgrad_noise` (0.15), `ig_steps` (32), `ig_baseline` (0.0), `lrp_epsilon` (0.1),
        `lrp_gamma` (0.25), `occlusion_patch`, `occlusion_stride` (0: automatic),
        `occlusion_baseline` ("grey"), `batch_size` (rows per gradient call), `deletion_steps` (16
        points of each map's deletion curve, capture/deletion.py; 0: none).
      budget_bytes: raw float32 bytes of bulk arrays per logged step (default 64 MB); a model over it
        gets a logging plan (capture/plan.py) that keeps statistics of every unit and reduces the bulk.
        None: everything in full.
      full_layers: layer ids kept in full whatever the budget.
      time_budget: the share of training time logged steps may take on average (default 0.03: a small
        CNN's epochs then take at most 1.03x as long; the writer's CPU seconds count too). The
        attribution maps and the gradient pass each get half of it per logged step (fewer samples and
        steps, measured at the first epoch); a logged step that still costs more is logged every k-th
        time `freq` makes it due (capture/step_pacing.py; the last step is always logged). Each
        reduction is printed once. None: no limit (every due step is logged, in full, whatever the machine).
      visualize: class-conditional feature visualisations (capture/visualisation_log.py): None (default)
        for image classifiers, the neurons the mistake finder names for the classes with mistakes and
        every class; True for any classifier; False off; a list of (layer, unit, class) adds those; a
        dict sets `targets`, `mistake_neurons`, `mistake_classes`, `classes` and the optimisation's options.
      visualize_steps: None (default) the last step only; k every k-th logged step and the last; a list of
        steps. Fitted into `time_budget` (fewer optimisation steps, results, targets; said once).
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
        vocabulary=None,
        histogram_bins=stats.DEFAULT_BINS,
        max_pending=2,
        writer="thread",
        seed=0,
        attributions=None,
        budget_bytes=plan_lib.DEFAULT_BUDGET_BYTES,
        full_layers=None,
        time_budget=step_pacing.DEFAULT_SHARE,
        visualize=None,
        visualize_steps=None,
    ):
        super().__init__()
        if budget_bytes is not None and (not isinstance(budget_bytes, int) or budget_bytes < 1):
            raise errors.ConfigurationError("budget_bytes must be a positive int or None, got %r" % (budget_bytes,))
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
        # Under a multi-worker strategy only the chief writes; the others touch no file of the run.
        self.logging = distribution.is_chief()
        if self.logging:
            callback_options.check_writable(self.log_dir)
        else:
            logger.info("iNNspector: %s is not the chief of the cluster; it logs nothing", distribution.role())
        self.header = headers_lib.validate(header) if header is not None else None
        self.freq = int(freq)
        self.freq_unit = freq_unit
        self.layer_filter = callback_options.layer_filter(layers)
        self.dtype = dtype
        self.precision = precision
        self.kinds = frozenset(log)
        self.class_names = list(class_names) if class_names is not None else None
        self.vocabulary = callback_options.vocabulary(vocabulary)
        self.histogram_bins = histogram_bins
        self.max_pending = max_pending
        self.writer_kind = writer
        self.probe_x, self.probe_y, self.probe_index = callback_options.select_probe(probe, int(probe_size), seed)
        self._attr_config = callback_options.attribution_config(attributions, self.probe_x, self.probe_y, seed)
        self._attributor: Any = None
        self.budget_bytes = budget_bytes
        if time_budget is not None and not (isinstance(time_budget, (int, float)) and 0 < time_budget <= 1):
            raise errors.ConfigurationError("time_budget must be a fraction in (0, 1] or None, got %r" % (time_budget,))
        self.time_budget = time_budget
        self._visualisation = visualisation_log.VisualisationLog(
            visualisation_log.parse(visualize, visualize_steps), time_budget, seed
        )
        self._ending = False  # the last step (of the last epoch, or at train end) is the one visualised by default
        self._epoch: int | None = None
        # Logged steps that cost more than their share of training are logged less often.
        self._pacer = step_pacing.Pacer(time_budget)
        self._last_step_end: float | None = None  # training-thread clock at the end of the last logged step
        self._writer_seconds = 0.0  # the writer's CPU seconds counted in logged steps' costs so far
        self._schedule = None  # attribution maps fitted into the time budget (None: as configured)
        self._seconds_per_row: float | None = None
        self._attribution_steps = 0
        self._epoch_started = None
        self._first_batch_end: float | None = None  # the first epoch's first batch (it traces the train step)
        self._epoch_batches = 0
        self.full_layers = list(full_layers or ())
        self.seed = seed
        self.plan: plan_lib.Plan | None = None
        self._probe: Any = None
        self._gradients: Any = None  # gradient_pass.GradientPass, made at train begin
        self._classes: list[int] | None = None
        self._log_count = 0
        self._all_weights_at: int | None = None  # the logged step (count) whose weights were a last step's
        # The steps of this callback carry its session id; it holds the run's lock while it trains.
        self.session = uuid.uuid4().hex
        self._lock = run_lock.RunLock(self.log_dir, self.session)
        self._run_state: resume.RunState | None = None
        self._first_step: int | None = None  # this session's first step, known at the first epoch
        # Start the writer now: its start-up (importing TensorFlow) overlaps
        # the user's own preparation instead of the first epoch.
        self._sink: Any = self._open_sink() if self.logging else None
        self._layer_ids: Any = None
        self._architecture: Any = None
        self._baseline: Any = None  # the first step's log job, made at train begin
        self._save_size = (None, None)
        self._inference = None
        self._epochs_done = 0
        self._batches_done = 0
        self._last_logged = None
        self._last_log_time = None
        self._started = False

    # Keras hooks. Each is guarded: logging problems are reported, training goes on.

    def on_train_begin(self, logs=None):
        if not self.logging:
            return
        # Outside the guard: another writer on the run, or a misconfiguration, stops fit() before the
        # first batch.
        try:
            self._lock.acquire()
            if not self._started:
                self._run_state = resume.read_state(self.log_dir)
                if self._run_state.has_samples and self.probe_x is not None:
                    resume.check_probe(self.log_dir, self.probe_index, self.probe_y)
                self._prepare_attributions(self.model)
                self._visualisation.check_targets(self.model)
        except BaseException:
            self.close()  # gives the lock back: nothing was logged
            raise
        atexit.register(self._close_at_exit)
        self._ending = False  # a second fit() ends again
        self._guard("train begin", self._begin)

    def on_epoch_begin(self, epoch, logs=None):
        if not self.logging:
            return
        if self._first_step is None and self._started:
            self._guard("train begin", self._log_first, epoch)
        self._epoch = int(epoch)
        self._epoch_started = time.perf_counter()
        self._epoch_batches = 0
        if self._last_step_end is None:
            self._last_step_end = self._epoch_started  # training starts: the first step's interval begins

    def on_epoch_end(self, epoch, logs=None):
        if not self.logging:
            return
        self._epochs_done += 1
        if self._epochs_done == 1 and self._epoch_started is not None:
            # The first epoch's time, at its steady pace, sets the attribution maps' and the gradients'
            # share from now on, and the training time the first logged step is paced against.
            now = time.perf_counter()
            seconds = step_pacing.steady_epoch_seconds(
                self._epoch_started, self._first_batch_end, now, self._epoch_batches
            )
            if self._last_step_end is not None:
                self._last_step_end = max(self._last_step_end, now - seconds)
            if self._seconds_per_row is not None:
                self._guard("time budget", self._fit_attributions, seconds)
            if self._gradients is not None:
                self._guard("time budget", self._fit_gradients, seconds)
        step = self._step_now()
        if "metrics" in self.kinds and logs:
            # With batch steps, the epoch's averages would collide with the last
            # batch's values at the same step: they get their own tags.
            prefix = "metrics/" if self.freq_unit == "epoch" else "metrics/epoch_"
            self._guard("metrics", self._submit_metrics, dict(logs), step, prefix)
        # The last epoch's step is the one visualised by default: in its own step job, so its file is
        # written once (train end adds them to the last logged step only when training stopped early).
        self._ending = self._ending or epoch + 1 >= int((self.params or {}).get("epochs") or 0) > 0
        if self.freq_unit == "epoch" and self._epochs_done % self.freq == 0 and self._pacer.due():
            self._guard("epoch %d" % step, self._log_step, step)

    def on_train_batch_end(self, batch, logs=None):
        if not self.logging:
            return
        self._batches_done += 1
        self._epoch_batches += 1
        if self._epochs_done == 0 and self._epoch_batches == 1:
            self._first_batch_end = time.perf_counter()
        if self.freq_unit != "batch" or self._batches_done % self.freq:
            return
        params = self.params or {}
        last_epoch = self._epoch is not None and self._epoch + 1 >= int(params.get("epochs") or 0) > 0
        self._ending = self._ending or (last_epoch and batch + 1 >= int(params.get("steps") or 0) > 0)
        step = self._step_now()
        if "metrics" in self.kinds and logs:
            self._guard("metrics", self._submit_metrics, dict(logs), step)
        if self._pacer.due():
            self._guard("batch %d" % step, self._log_step, step)

    def on_train_end(self, logs=None):
        if not self.logging:
            return
        if self._first_step is None and self._started:
            self._guard("train begin", self._log_first, 0)  # no epoch ran
        final = self._step_now()
        self._ending = True
        if self._sink is not None and final != self._last_logged and final != self._first_step:
            self._guard("final step", self._log_step, final, True)
        elif self._sink is not None and self._last_logged is not None and self._last_logged != self._first_step:
            # The last step was logged at its epoch's end: its visualisations are added to its file.
            self._guard("feature visualisations", self._visualise_logged, self._last_logged)
        self._guard("train end", self._finish)

    def _step_now(self):
        """The step reached: this session's first step plus the epochs (or batches) trained since."""
        done = self._epochs_done if self.freq_unit == "epoch" else self._batches_done
        return (self._first_step or 0) + done

    # The work.

    def _guard(self, what, fn, *args):
        try:
            fn(*args)
        except Exception as e:
            logger.warning("iNNspector: logging at %s failed and was skipped: %s", what, e, exc_info=True)

    def _open_sink(self):
        options = dict(
            dtype=self.dtype,
            precision=self.precision,
            histogram_bins=self.histogram_bins,
            max_pending=self.max_pending,
            session=self.session,
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
                session=self.session,
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
        tracing.prepare(model, self.probe_x)  # a subclassed model is traced on inputs shaped like the probe
        arch = architecture_lib.extract_architecture(model)
        self._layer_ids = [
            layer_id
            for layer_id, layer in architecture_lib.iter_leaf_layers(model)
            if self.layer_filter(layer_id, layer)
        ]
        self._prepare_probe_pass(model, arch)
        if self.probe_x is not None and "weights" in self.kinds:
            self._gradients = gradient_pass.GradientPass(model, self.probe_x, self.probe_y)
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
        self._architecture = arch
        try:
            self._visualisation.prepare(model, arch, self.probe_x, stats.labels_to_classes(self.probe_y))
        except Exception as e:  # the rest is logged as usual
            logger.warning("iNNspector: feature visualisations are off: %s", e)
            self._visualisation.config = None
        # The baseline's work (and the probe pass's first trace) happens here, at train begin; its step
        # number is only known at the first epoch's begin, where it is handed to the writer.
        self._baseline = self._step_job(0, True)

    def _log_first(self, epoch):
        """The header, the architecture and (for a new run) the probe samples, then the baseline step.

        At the first epoch's begin, not at train begin: Keras says there which epoch training starts
        at (initial_epoch), and no update has happened yet.
        """
        steps_per_epoch = (self.params or {}).get("steps") or 0
        initial = int(epoch) if self.freq_unit == "epoch" else int(epoch) * int(steps_per_epoch)
        state = self._run_state or resume.RunState(None, False)
        self._first_step, log_baseline = resume.first_step(state, initial)
        if state.resumed:
            logger.warning(
                "iNNspector: %s already holds logged steps (up to %s); this training logs from step %d on",
                self.log_dir,
                state.last_step,
                self._first_step + (0 if log_baseline else 1),
            )
        # A resumed run keeps its probe samples (written by the session that started it).
        with_samples = self.probe_x is not None and "samples" in self.kinds and not state.has_samples
        self._submit(
            log_jobs.start_job(
                self.header,
                self._architecture,
                x=self.probe_x if with_samples else None,
                y=self.probe_y,
                index=self.probe_index,
                class_names=self.class_names,
                vocabulary=self.vocabulary,
                step=self._first_step,
            )
        )
        baseline, self._baseline = self._baseline, None
        self._last_logged = None
        if log_baseline and baseline is not None:
            _, meta, _ = baseline
            meta["step"] = self._first_step
            if meta.get("runtime"):
                meta["runtime"]["inference_measured_at_step"] = self._first_step
            if self._inference is not None:
                self._inference = (self._inference[0], self._first_step)
            self._last_logged = self._first_step
            self._submit(baseline)

    def _log_step(self, step, final=False):
        """Copies what the step needs on the training thread; the worker does the rest.

        The time this takes (the writer's queue included: a full queue waits), plus the writer's CPU
        seconds since the previous logged step, against the training time since the previous logged step
        paces the next steps (capture/step_pacing.py). With time_budget=None every due step is logged.
        """
        started = time.perf_counter()
        self._submit(self._step_job(step, final))
        ended = time.perf_counter()
        writer_seconds = float(getattr(self._sink, "busy_seconds", 0.0) or 0.0)
        writer_spent, self._writer_seconds = writer_seconds - self._writer_seconds, writer_seconds
        if self._last_step_end is not None and not final:
            note = self._pacer.observe(ended - started + writer_spent, started - self._last_step_end, self.freq_unit)
            if note:
                print(note)
        self._last_step_end = ended

    def _step_job(self, step, final=False):
        """The log job of a step, from the live model (the training thread's share of the work)."""
        model = self.model
        weights = summary.model_weights(model, self._layer_ids) if "weights" in self.kinds else None
        bulk_layers = None  # every layer's full weights
        if self.plan is not None and self.plan.reduced:
            # The last step of a training holds more weight groups, at most once every weights_every logged
            # steps: fit() called in a loop ends at every step.
            last = self._ending and (
                self._all_weights_at is None or self._log_count - self._all_weights_at >= self.plan.weights_every
            )
            bulk_layers = self.plan.weights_due(self._log_count, last=last)
            self._all_weights_at = self._log_count if last else self._all_weights_at
        self._log_count += 1
        probe = preds = None
        if self.probe_x is not None and self.kinds & {"activations", "predictions"}:
            probe = self._probe(self.probe_x)
            preds = probe.predictions
        attributions = None
        due = self._schedule is None or self._schedule.due(self._attribution_steps)
        self._attribution_steps += 1
        if self._attributor is not None and due:
            try:
                attributions = self._attributions(preds)
            except Exception as e:  # the step's other data are still logged
                logger.warning(
                    "iNNspector: attributions at step %d failed and were skipped: %s", step, e, exc_info=True
                )
        gradients = None
        if self._gradients is not None:
            try:
                gradients = self._gradients(weights, self._batches_done)
            except Exception as e:  # the step's other data are still logged
                logger.warning("iNNspector: gradients at step %d failed and were skipped: %s", step, e)
                self._gradients = None
        visualisations = None
        # Not the baseline (made at train begin, before _first_step is known): an untrained model.
        if self._first_step is not None and self._visualisation.due(step, self._ending):
            visualisations = self._visualise(step)
        runtime = None
        if "runtime" in self.kinds:
            if self.probe_x is not None and final:
                # Inference time depends on the architecture, not on the weights:
                # measured at step 0 (and a final step logged at train end) only,
                # to keep epochs cheap.
                # In the probe pass's batches: a batch of 256 ResNet50 inputs at 32x32 added 480 MB to
                # the training process's peak (its own kernel caches), the probe pass's 64 added 17 MB.
                batch_size = getattr(self._probe, "batch_size", None) or probe_pass.MAX_BATCH
                self._inference = (runtime_stats.timed_predict(model, self.probe_x, batch_size)[1], step)
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
        return log_jobs.step_job(
            step,
            weights,
            None,
            preds if "predictions" in self.kinds else None,
            runtime,
            attributions,
            probe=(probe, self._classes) if probe is not None and "activations" in self.kinds else None,
            plan=self._plan_json(),
            bulk_layers=bulk_layers,
            gradients=gradients,
            visualisations=visualisations,
        )

    def _visualise(self, step):
        try:
            return self._visualisation(self.model, step, self.probe_x)
        except Exception as e:  # the step's other data are still logged
            logger.warning("iNNspector: feature visualisations at step %d failed and were skipped: %s", step, e)
            return None

    def _visualise_logged(self, step):
        """Adds the visualisations of a step already written (same session: its file is merged into)."""
        if self._visualisation.last_step != step and self._visualisation.due(step, True):
            result = self._visualise(step)
            if result is not None:
                self._submit(log_jobs.step_job(step, visualisations=result))

    def _plan_json(self):
        """The plan stored with a step: the logging plan, and the cadence when steps are paced."""
        if self.plan is None:
            return None
        plan = self.plan.to_json()
        if self._pacer.every > 1:
            plan["log_every"] = self._pacer.every
            plan["notes"] = list(plan["notes"]) + [self._pacer.note]
        return plan

    def _prepare_probe_pass(self, model, arch):
        """Makes the logging plan and the probe pass; says once what the plan reduces."""
        labels = stats.labels_to_classes(self.probe_y)
        self._classes = None if labels is None else [int(c) for c in np.unique(labels)]
        n = activations_lib.num_samples(self.probe_x) if self.probe_x is not None else 0
        if labels is not None:
            rows = np.searchsorted(np.asarray(self._classes), labels)
            subset = stats.balanced_indices(labels, plan_lib.DEFAULT_SUBSET_SIZE, seed=self.seed)
        else:
            rows, subset = None, stats.balanced_indices(n, plan_lib.DEFAULT_SUBSET_SIZE, seed=self.seed) if n else ()
        shapes = plan_lib.layer_shapes(arch, self._layer_ids)
        try:
            self.plan = plan_lib.make_plan(
                shapes,
                n,
                len(self._classes or ()),
                budget_bytes=self.budget_bytes,
                reserved_bytes=self._reserved_bytes(arch, n),
                full_layers=self.full_layers,
                subset=tuple(int(i) for i in subset),
            )
        except ValueError as e:
            raise errors.ConfigurationError("full_layers: %s" % e) from None
        if self.plan.reduced:
            print(
                "iNNspector: %s exceeds the budget of %.3g MB per logged step; the plan keeps %.3g MB:"
                % (model.name, (self.plan.budget_bytes or 0) / 2**20, self.plan.planned_bytes / 2**20)
            )
            for note in self.plan.notes:
                print("  - " + note)
        self._probe = probe_pass.ProbePass(
            model,
            self._layer_ids,
            self.plan,
            rows,
            len(self._classes or ()),
            histogram_bins=self.histogram_bins,
            class_values=self._classes,
            output_counts={layer["id"]: len(layer.get("output_shapes") or [None]) for layer in arch.get("layers", [])},
            batch_size=probe_pass.batch_size_for(sum(shape.sample_size for shape in shapes) * plan_lib.BYTES_PER_VALUE),
        )

    def _reserved_bytes(self, arch, n):
        """Bulk bytes per step outside the activations: predictions and attribution maps."""
        outputs = {layer["id"]: layer for layer in arch.get("layers", [])}
        reserved = 0
        for output in arch.get("outputs", []):
            shapes = outputs.get(output["layer"], {}).get("output_shapes") or [[None]]
            reserved += n * int(np.prod([d or 1 for d in shapes[0][1:]])) * plan_lib.BYTES_PER_VALUE
        config = self._attr_config
        if config is not None and self.probe_x is not None:
            sample = int(np.prod(np.asarray(attribution_lib._flat(self.probe_x)[0]).shape[1:]))
            per_sample = sample * len(config["methods"]) * len(config["targets"]) * plan_lib.BYTES_PER_VALUE
            if self.budget_bytes is not None:
                # Maps of big inputs take at most a share of the budget: fewer samples, said once.
                fits = max(1, int(self.budget_bytes * plan_lib.ATTRIBUTION_SHARE // per_sample))
                if fits < len(config["index"]):
                    print(
                        "iNNspector: attribution maps for %d samples instead of %d, to stay within budget_bytes"
                        % (fits, len(config["index"]))
                    )
                    config["index"] = config["index"][:fits]
                    config["x"] = config["x"][:fits]
                    config["labels"] = None if config["labels"] is None else config["labels"][:fits]
            reserved += len(config["index"]) * per_sample
        return reserved

    def _prepare_attributions(self, model):
        """Builds the Attributor, or decides attributions are off; raises errors.ConfigurationError for a bad setup."""
        config = self._attr_config
        if config is None:
            return
        labels = stats.labels_to_classes(self.probe_y)
        text = token_attribution.token_classifier_reason(model, labels) is None
        if config["auto"] and not text:
            reason = attribution_lib.image_classifier_reason(model, labels)
            if reason is not None:
                logger.info("iNNspector: attributions are off for %s: %s", model.name, reason)
                self._attr_config = None
                return
        if text and not config["methods_given"]:
            config["methods"] = token_attribution.TOKEN_METHODS
        try:
            if text:
                self._attributor = token_attribution.TokenAttributor(model, config["score"])
            else:
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
        if self.time_budget is not None:
            try:
                self._seconds_per_row = self._calibrate_attributions()
            except Exception as e:  # attributions then run as configured; a failing step skips its maps
                logger.warning("iNNspector: timing the attribution maps failed (%s); no time budget for them", e)
                return
            self._fit_attributions(None)

    def _calibrate_attributions(self):
        """Seconds of one more gradient row of the attribution maps: the slope between two timed calls.

        A call also has a fixed cost (dispatch, small batches); the slope leaves it out, so a small model's
        few-millisecond maps are not mistaken for expensive ones.
        """
        config = self._attr_config
        x = config["x"][:4]
        methods = ("saliency", "integrated_gradients")
        timings = []
        for steps in (8, 8, 32):  # the first call traces
            options = dict(config["options"], ig_steps=steps)
            start = time.perf_counter()
            self._attributor(x, None, methods=methods, targets=("predicted",), **options)
            rows = time_budget_lib.rows(len(x), 1, methods, options)
            timings.append((rows, time.perf_counter() - start))
        (rows_a, seconds_a), (rows_b, seconds_b) = timings[1], timings[2]
        return max((seconds_b - seconds_a) / (rows_b - rows_a), 1e-7)

    def _fit_gradients(self, epoch_seconds):
        """Fits the gradient pass into the time budget (the attribution maps' share, on its own)."""
        if self.time_budget is None:
            return
        share = float(self.time_budget) * step_pacing.PART_SHARE
        note = self._gradients.fit_to(time_budget_lib.budget_for(epoch_seconds, share))
        if note:
            print(
                "iNNspector: gradients fitted to the time budget (%.0f%% of a %.1f s epoch): %s"
                % (100 * share, epoch_seconds, note)
            )

    def _fit_attributions(self, epoch_seconds):
        """Fits the configured attribution maps into the time budget; says what it reduced, once."""
        config = self._attr_config
        fraction = float(self.time_budget or 0.0) * step_pacing.PART_SHARE
        budget = time_budget_lib.budget_for(epoch_seconds, fraction)
        schedule = time_budget_lib.fit(
            budget,
            self._seconds_per_row or 0.0,
            len(config["index"]),
            len(config["targets"]),
            config["methods"],
            config["options"],
            occlusion_positions=occlusion.positions(config["x"].shape[1:], config["options"]),
            deletion_steps=config["deletion_steps"],
        )
        previous = self._schedule
        self._schedule = schedule or time_budget_lib.Schedule(0, (), {}, 1, ("off: not even one map fits",))
        if (previous is None or previous.notes != self._schedule.notes) and self._schedule.notes:
            when = (
                "at step 0"
                if epoch_seconds is None
                else "from now on (%.0f%% of a %.1f s epoch)" % (100 * fraction, epoch_seconds)
            )
            print(
                "iNNspector: attribution maps fitted to the time budget %s: %s"
                % (when, "; ".join(self._schedule.notes))
            )

    def _attributions(self, preds):
        """The attribution maps of the attribution subset, from the live model (the training thread's share)."""
        config = self._attr_config
        schedule = self._schedule
        if schedule is not None and not schedule.methods:
            return None
        size = len(config["index"]) if schedule is None else schedule.size
        index = config["index"][:size]
        predicted = None
        if preds and np.ndim(preds[0]) == 2 and preds[0].shape[0] == activations_lib.num_samples(self.probe_x):
            predicted = np.argmax(preds[0][index], axis=1)
        result = self._attributor(
            config["x"][:size],
            None if config["labels"] is None else config["labels"][:size],
            methods=config["methods"] if schedule is None else schedule.methods,
            targets=config["targets"],
            predicted=predicted,
            seed=config["seed"],
            batch_size=config["batch_size"],
            **(config["options"] if schedule is None else schedule.options),
        )
        result.sample = index
        steps = config["deletion_steps"] if schedule is None else schedule.deletion_steps
        if config["deletion_steps"] and not steps:
            result.skipped["deletion"] = "left out by the time budget"
        options = config["options"] if schedule is None else schedule.options
        scores = deletion.batch_scores(self._attributor)
        baseline = self._attributor.deletion_baseline(options)
        return deletion.add_to(result, scores, config["x"][:size], steps, baseline, config["seed"])

    def _submit_metrics(self, logs, step, prefix="metrics/"):
        if self._sink is not None:
            self._submit(log_jobs.metrics_job(logs, step, prefix))

    def _finish(self):
        self.close()

    def close(self):
        """Writes everything pending, stops the writer and gives the run's lock back; safe to call twice."""
        try:
            if self._sink is not None:
                sink, self._sink = self._sink, None
                sink.close()
        finally:
            self._lock.release()
            atexit.unregister(self._close_at_exit)

    def _close_at_exit(self):
        """Interpreter exit with the writer still open (training interrupted): write what is queued."""
        if self._sink is not None:
            logger.warning(
                "iNNspector: training ended without on_train_end; writing the queued logs of %s", self.log_dir
            )
        try:
            self.close()
        except Exception as e:
            logger.warning("iNNspector: writing the queued logs at exit failed: %s", e)
