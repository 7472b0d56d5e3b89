"""Summary ops of iNNspector, in the style of `tf.summary`.

    writer = innspector_tb.summary.create_file_writer("logs/cnn")
    with writer.as_default():
        innspector_tb.summary.header(head)
        innspector_tb.summary.architecture(model)
        innspector_tb.summary.samples(x_probe, y_probe)
        for step in ...:
            innspector_tb.summary.weights(model, step=step)
            innspector_tb.summary.activations(model, x_probe, labels=y_probe, step=step)
            innspector_tb.summary.predictions(model(x_probe), step=step)
    writer.close()

Small structured summaries go into the run's event file (plugin "innspector");
bulk arrays go into the step's HDF5 step file, written when the step is
complete (on the next step, `flush()` or `close()`). `docs/format.md` has the format.
"""

import contextlib
import json
import logging
import threading

import numpy as np
import tensorflow as tf

from innspector_tb import errors
from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import architecture as architecture_lib
from innspector_tb.capture import step_writer
from innspector_tb.format import deletion as deletion_format
from innspector_tb.format import headers as header_lib
from innspector_tb.format import metadata, stats, step_files
from innspector_tb.format import vocabulary as vocabulary_lib
from innspector_tb.format.architecture import layer_h5_name

logger = logging.getLogger("innspector_tb")

Kind = metadata.Kind

_state = threading.local()


class SummaryError(errors.LoggingError):
    """A summary op used without what it needs."""


class RunWriter:
    """One run directory: TensorBoard's event writer plus the HDF5 checkpoints.

    Use `as_default()` like a `tf.summary` writer; the ops below write to it.
    """

    def __init__(
        self,
        logdir,
        dtype="float32",
        histogram_bins=stats.DEFAULT_BINS,
        max_queue=None,
        precision="rounded",
        session=None,
    ):
        self.logdir = logdir
        self.histogram_bins = int(histogram_bins)
        self.checkpoints = step_writer.StepFileWriter(logdir, dtype=dtype, precision=precision, session=session)
        self.session = self.checkpoints.session
        kwargs = {} if max_queue is None else {"max_queue": max_queue}
        self.tf_writer = tf.summary.create_file_writer(logdir, **kwargs)
        self._pending_step = None
        self._pending_arrays = {}
        self._pending_attrs = {}
        self._lock = threading.RLock()
        self.manifests = []

    @contextlib.contextmanager
    def as_default(self, step=None):
        previous = getattr(_state, "writer", None)
        _state.writer = self
        try:
            with self.tf_writer.as_default(step=step):
                yield self
        finally:
            _state.writer = previous

    def add_bulk(self, step, arrays, attrs=None):
        """Queues arrays for the checkpoint of `step`; a new step writes the previous one."""
        for name, array in arrays.items():
            if np.asarray(array).dtype.kind not in "fiub":
                raise SummaryError("%s: only numeric arrays are stored, got %s" % (name, np.asarray(array).dtype))
        with self._lock:
            if self._pending_step is not None and self._pending_step != step:
                self._write_pending()
            self._pending_step = step
            self._pending_arrays.update(arrays)
            for group, values in (attrs or {}).items():
                self._pending_attrs.setdefault(group, {}).update(values)

    def _write_pending(self):
        if self._pending_step is None or not self._pending_arrays:
            self._pending_step = None
            return
        step = self._pending_step
        try:
            manifest = self.checkpoints.write(step_files.step_file(step), self._pending_arrays, self._pending_attrs)
        finally:
            # A step that cannot be written is dropped (the error says why), so
            # it cannot block every later step.
            self._pending_step, self._pending_arrays, self._pending_attrs = None, {}, {}
        manifest["step"] = int(step)
        # The manifest goes out only once the file is in place: a reader that
        # sees it can open the file.
        with self.tf_writer.as_default():
            _write_json(metadata.CHECKPOINT_TAG, Kind.CHECKPOINT, manifest, step)
        self.manifests.append(manifest)

    def flush(self):
        """Writes the pending checkpoint and flushes the event file."""
        with self._lock:
            self._write_pending()
        self.tf_writer.flush()

    def close(self):
        self.flush()
        self.tf_writer.close()


def create_file_writer(logdir, dtype="float32", histogram_bins=stats.DEFAULT_BINS, precision="rounded", session=None):
    """Returns a RunWriter for one run directory (one model).

    Args:
      logdir: the run's directory; TensorBoard's --logdir is usually its parent.
      dtype: storage dtype of bulk float arrays: "float32" or "float16".
      histogram_bins: bins of the histograms written for every unit.
      precision: "rounded" (default: float32 arrays keep 10 mantissa bits, relative error <= 4.9e-4;
        statistics and histograms are computed before rounding) or "exact" (lossless).
      session: the id written into every step file (default: a new one per writer); a step file of
        another session is never merged into.
    """
    return RunWriter(logdir, dtype=dtype, histogram_bins=histogram_bins, precision=precision, session=session)


def _writer(op_name, bulk=True):
    writer = getattr(_state, "writer", None)
    if writer is None and bulk:
        raise SummaryError(
            "innspector_tb.summary.%s needs an iNNspector writer: use "
            "`with innspector_tb.summary.create_file_writer(run_dir).as_default():`" % op_name
        )
    return writer


def _step(step):
    if step is None:
        step = tf.summary.experimental.get_step()
    if step is None:
        raise SummaryError("no step given and tf.summary.experimental.get_step() is unset")
    step = int(step)
    if step < 0:
        raise SummaryError("step must be >= 0, got %d" % step)
    return step


def _check_numeric(arrays):
    """Refuses non-numeric arrays before any summary is written, so a bad call leaves nothing behind."""
    for name, array in arrays:
        if np.asarray(array).dtype.kind not in "fiub":
            raise SummaryError("%s: only numeric arrays can be logged, got %s" % (name, np.asarray(array).dtype))


def _write_json(tag, kind, value, step, unit=""):
    payload = json.dumps(header_lib.to_json_safe(value), sort_keys=True, allow_nan=False)
    return tf.summary.write(
        tag,
        tf.constant(payload),
        step=step,
        metadata=metadata.create_summary_metadata(kind, unit=unit),
    )


def _write_unit_stats(writer, unit, unit_type, values, step):
    bins = writer.histogram_bins if writer is not None else stats.DEFAULT_BINS
    tf.summary.write(
        metadata.STATS_TAG_PREFIX + unit,
        tf.constant(stats.describe(values), dtype=tf.float64),
        step=step,
        metadata=metadata.create_summary_metadata(Kind.STATISTICS, unit=unit, unit_type=unit_type),
    )
    tf.summary.write(
        metadata.HISTOGRAM_TAG_PREFIX + unit,
        tf.constant(stats.histogram(values, bins=bins), dtype=tf.float64),
        step=step,
        metadata=metadata.create_summary_metadata(Kind.HISTOGRAM, unit=unit, unit_type=unit_type),
    )


def header(header_dict, step=0):
    """Writes the model's header (lineage and hyper-parameters). Works with any tf.summary writer."""
    checked = header_lib.validate(header_dict)
    written = _write_json(metadata.HEADER_TAG, Kind.HEADER, checked, _step(step))
    _write_hparams(checked, _step(step))
    return written


def _write_hparams(header_dict, step):
    """The header's hyper-parameters as an HParams session too, so TensorBoard's HParams tab lists the
    model beside the user's other runs (the metrics there are the run's scalars, metrics/* among them)."""
    from tensorboard.plugins.hparams import summary_v2 as hparams_summary

    summary = hparams_summary.hparams_pb(header_lib.tensorboard_hparams(header_dict), trial_id=header_dict["id"])
    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)


def architecture(model, step=0):
    """Writes the architecture of a Keras model (or an already extracted dict)."""
    arch = model if isinstance(model, dict) else architecture_lib.extract_architecture(model)
    for note in arch.get("model", {}).get("notes", []):
        logger.info("architecture of %s: %s", arch.get("model", {}).get("name"), note)
    return _write_json(metadata.ARCHITECTURE_TAG, Kind.ARCHITECTURE, arch, _step(step))


def runtime(values, step=None):
    """Writes runtime statistics (a dict: parameter counts, sizes, timings)."""
    return _write_json(metadata.RUNTIME_TAG, Kind.RUNTIME, dict(values), _step(step))


def metrics(logs, step=None, prefix=metadata.METRICS_TAG_PREFIX):
    """Writes Keras-style logs ({name: number}) as ordinary TensorBoard scalars."""
    step = _step(step)
    written = 0
    for name, value in sorted((logs or {}).items()):
        try:
            number = float(np.asarray(value))
        except (TypeError, ValueError):
            continue  # non-scalar entries (e.g. a confusion matrix) are not metrics
        tf.summary.scalar(prefix + name, number, step=step)
        written += 1
    return written


def model_weights(model, layer_ids=None):
    """Returns {(layer id, variable name): array} of a Keras model's leaf layers.

    Names come from architecture.layer_variable_names, so they match the
    architecture summary even for wrappers with equally named variables.
    """
    result: dict[tuple[str, str], np.ndarray] = {}
    wanted = None if layer_ids is None else set(layer_ids)
    for layer_id, layer in architecture_lib.iter_leaf_layers(model):
        if wanted is not None and layer_id not in wanted:
            continue
        for variable, name in zip(layer.weights, architecture_lib.layer_variable_names(layer), strict=False):
            result.setdefault((layer_id, name), np.asarray(variable.numpy()))
    return result


def weights(model_or_arrays, step=None, layer_ids=None, bulk_layers=None):
    """Writes weights: statistics and histograms as summaries, arrays to the step file.

    Args:
      model_or_arrays: a Keras model, or {"layer_id/variable": array} (the
        variable name is the part after the last "/"), or
        {(layer_id, variable): array}.
      layer_ids: with a model, the layers to log (all when None).
      bulk_layers: the layers whose arrays go to the step file (all when None); the others get
        their statistics and histograms only (the logging plan rotates big models' weights).
    """
    writer = _writer("weights")
    step = _step(step)
    arrays = dict(model_or_arrays) if isinstance(model_or_arrays, dict) else model_weights(model_or_arrays, layer_ids)
    _check_numeric((str(key), array) for key, array in arrays.items())
    bulk, attrs = {}, {}
    for key, array in arrays.items():
        layer_id, variable = key if isinstance(key, tuple) else key.rpartition("/")[::2]
        if not layer_id or not variable:
            raise SummaryError("weight unit %r must be 'layer_id/variable'" % (key,))
        unit = "%s/%s" % (layer_id, variable)
        _write_unit_stats(writer, unit, variable, array, step)
        if bulk_layers is not None and layer_id not in bulk_layers:
            continue
        group = step_files.layer_group(layer_h5_name(layer_id))
        bulk["%s/weights/%s" % (group, variable)] = array
        attrs[group] = {"unit": layer_id}
    writer.add_bulk(step, bulk, attrs)
    return len(arrays)


def activations(model_or_arrays, x=None, labels=None, classes=None, step=None, layer_ids=None):
    """Writes layer activations on probe samples and, with labels, per-class means.

    Args:
      model_or_arrays: a Keras model (then `x` is its input), or
        {layer_id: array or [arrays of each output]}.
      labels: class labels of the samples (ints or one-hot); without them no
        class means are written.
      classes: the classes to compute means for (default: those in `labels`).
    """
    writer = _writer("activations")
    step = _step(step)
    if isinstance(model_or_arrays, dict):
        arrays = {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in model_or_arrays.items()}
    else:
        if x is None:
            raise SummaryError("activations(model, x, ...) needs the probe inputs x")
        arrays = activations_lib.layer_activations(model_or_arrays, x, layer_ids=layer_ids)
    label_vector = stats.labels_to_classes(labels)
    if labels is not None and label_vector is None:
        logger.warning("activations: labels are not class labels; per-class means skipped")
    if classes is None and label_vector is not None:
        classes = [int(c) for c in np.unique(label_vector)]
    # Check every layer before writing anything, so a bad call leaves no partial step.
    _check_numeric((layer_id, output) for layer_id, outputs in arrays.items() for output in outputs)
    for layer_id, outputs in arrays.items():
        first = np.asarray(outputs[0])
        if label_vector is not None and first.ndim > 0 and first.shape[0] != label_vector.shape[0]:
            raise SummaryError(
                "activations of %s have %d samples but labels have %d"
                % (layer_id, first.shape[0], label_vector.shape[0])
            )
    bulk, attrs = {}, {}
    for layer_id, outputs in arrays.items():
        group = step_files.layer_group(layer_h5_name(layer_id))
        attrs[group] = {"unit": layer_id}
        for index, output in enumerate(outputs):
            output = np.asarray(output)
            name = "activations" if index == 0 else "activations_%d" % index
            unit = "%s/%s" % (layer_id, name)
            _write_unit_stats(writer, unit, "activations", output, step)
            bulk["%s/%s" % (group, name)] = output
            if label_vector is None or index > 0 or output.ndim == 0:
                continue
            matrix = stats.class_mean_matrix(output, label_vector, classes)
            tf.summary.write(
                metadata.CLASS_MEANS_TAG_PREFIX + unit,
                tf.constant(matrix),
                step=step,
                metadata=metadata.create_summary_metadata(
                    Kind.CLASS_MEANS, unit=unit, unit_type="activations", class_names=classes
                ),
            )
            for c, mean in stats.class_means(output, label_vector, classes).items():
                bulk["%s/mean_class_activations/class_%d" % (group, c)] = mean
    writer.add_bulk(step, bulk, attrs)
    return len(arrays)


def predictions(y_pred, step=None):
    """Writes the model's outputs on the probe samples to the checkpoint.

    `y_pred` is an array, or a list of arrays for a multi-output model
    (`data_samples/y_prediction`, `y_prediction_1`, ...).
    """
    writer = _writer("predictions")
    step = _step(step)
    outputs = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
    _check_numeric(("predictions", output) for output in outputs)
    bulk = {}
    for index, output in enumerate(outputs):
        output = np.asarray(output)
        name = "y_prediction" if index == 0 else "y_prediction_%d" % index
        _write_unit_stats(writer, "predictions/" + name, "predictions", output, step)
        bulk["data_samples/" + name] = output
    writer.add_bulk(step, bulk)
    return len(outputs)


def samples(x, y=None, index=None, class_names=None, step=0, vocabulary=None):
    """Writes the probe samples (inputs, labels, their indices in the user's data) once.

    `vocabulary`: for token-id inputs, the string of each token id (format/vocabulary.py).

    They are constant over training, so they live in `innspector/samples.h5`
    rather than in every step's checkpoint.
    """
    writer = _writer("samples")
    step = _step(step)
    if x is None:
        raise SummaryError("samples: the probe inputs x are required")
    inputs = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    arrays = {}
    for i, value in enumerate(inputs):
        arrays["data_samples/x" if i == 0 else "data_samples/x_%d" % i] = np.asarray(value)
    n = int(np.asarray(inputs[0]).shape[0])
    label_vector = stats.labels_to_classes(y)
    if label_vector is not None:
        if label_vector.shape[0] != n:
            raise SummaryError("samples: %d inputs but %d labels" % (n, label_vector.shape[0]))
        arrays["data_samples/y_label"] = label_vector
    elif y is not None:
        arrays["data_samples/y_target"] = np.asarray(y)
    arrays["data_samples/index"] = np.arange(n) if index is None else np.asarray(index, dtype=np.int64)
    # Written once and the inputs every activation comes from: kept exactly whatever the precision.
    manifest = writer.checkpoints.write(step_files.SAMPLES_FILE, arrays, precision="exact")
    classes = [] if label_vector is None else [int(c) for c in np.unique(label_vector)]
    manifest.update(
        count=n,
        classes=classes,
        class_names=[str(c) for c in (class_names or classes)],
    )
    if vocabulary is not None:
        try:
            manifest["vocabulary"] = vocabulary_lib.check(vocabulary)
        except vocabulary_lib.VocabularyError as e:
            raise SummaryError("samples: %s" % e) from None
    _write_json(metadata.SAMPLES_TAG, Kind.SAMPLES, manifest, step)
    return manifest


ATTRIBUTIONS_GROUP = "attributions"


def attributions(
    model_or_result,
    x=None,
    y=None,
    step=None,
    size=None,
    sample=None,
    methods=None,
    targets=None,
    grad_cam_layer=None,
    score="logit",
    seed=0,
    deletion_steps=deletion_format.DEFAULT_STEPS,
    **options,
):
    """Writes attribution maps (saliency, gradient x input, SmoothGrad, integrated gradients, Grad-CAM)
    of probe samples, and their deletion curves, to the step's checkpoint.

        summary.attributions(model, x_probe, y_probe, step=step)          # 32 samples, balanced over classes

    Args:
      model_or_result: a Keras classifier (then `x`, `y` are the probe, as given to `samples`), or an
        `innspector_tb.capture.attribution.AttributionResult` computed already (its `sample` says which probe rows).
      size: attribute this many samples of the probe, balanced over classes (default 32, chosen
        reproducibly with `seed`, the same at every step); `sample` instead names the probe rows.
      methods, targets, grad_cam_layer, score, options: see `innspector_tb.capture.attribution.Attributor`
        (default: attribution_setup.DEFAULT_METHODS, for the predicted and the true class).
      deletion_steps: points of each map's deletion curve (capture/deletion.py; 0: none). A result
        given instead of a model is written with the curves it holds.
    Returns the AttributionResult written.
    """
    from innspector_tb.capture import attribution as attribution_lib

    if isinstance(deletion_steps, bool) or not (
        deletion_steps == 0 or 3 <= deletion_steps <= deletion_format.MAX_STEPS
    ):
        raise SummaryError(
            "attributions: deletion_steps must be 0 or 3 to %d, got %r" % (deletion_format.MAX_STEPS, deletion_steps)
        )
    writer = _writer("attributions")
    step = _step(step)
    if isinstance(model_or_result, attribution_lib.AttributionResult):
        result = model_or_result
        if sample is not None:
            result.sample = np.asarray(sample, dtype=np.int64)
    else:
        if x is None:
            raise SummaryError("attributions(model, x, ...) needs the probe inputs x")
        n = activations_lib.num_samples(x)
        labels = stats.labels_to_classes(y)
        if sample is None:
            size = attribution_lib.DEFAULT_SIZE if size is None else int(size)
            if size < 1:
                raise SummaryError("attributions: size must be >= 1, got %d" % size)
            sample = stats.balanced_indices(labels if labels is not None else n, size, seed=seed)
        sample = np.asarray(sample, dtype=np.int64).reshape(-1)
        if sample.size and (sample.min() < 0 or sample.max() >= n):
            raise SummaryError("attributions: sample indices must be probe rows in [0, %d)" % n)
        xs = [np.asarray(v)[sample] for v in attribution_lib._flat(x)]
        from innspector_tb.capture import deletion, token_attribution

        try:
            # A text classifier's tokens are attributed through its embedding, an image classifier's pixels.
            found = token_attribution.attributor_for(model_or_result, grad_cam_layer, score)
            tokens = isinstance(found, token_attribution.TokenAttributor)
            default_methods = token_attribution.TOKEN_METHODS if tokens else attribution_lib.DEFAULT_METHODS
            result = found(
                xs[0] if len(xs) == 1 else xs,
                None if labels is None else labels[sample],
                methods=methods or default_methods,
                targets=targets or attribution_lib.TARGETS,
                seed=seed,
                **options,
            )
        except attribution_lib.AttributionError as e:
            raise SummaryError("attributions: %s" % e) from None
        result.sample = sample
        deletion.add_to(
            result,
            deletion.batch_scores(found),
            xs[0],
            int(deletion_steps),
            found.deletion_baseline({"ig_baseline": options.get("ig_baseline", 0.0)}),
            seed,
        )
    write_attribution_arrays(writer, step, result)
    return result


def write_attribution_arrays(writer, step, result):
    """Queues an AttributionResult for the step's checkpoint (docs/format.md, "Attributions")."""
    from innspector_tb.capture import attribution as attribution_lib

    n = None
    bulk = {}
    for method, by_target in result.items():
        for target, array in by_target.items():
            array = np.asarray(array)
            n = array.shape[0] if n is None else n
            bulk["%s/%s/%s" % (ATTRIBUTIONS_GROUP, method, target)] = array
    for target, classes in result.classes.items():
        bulk["%s/class/%s" % (ATTRIBUTIONS_GROUP, target)] = np.asarray(classes, dtype=np.int64)
        n = len(classes) if n is None else n
    if n is None:
        return 0
    sample = result.sample if result.sample is not None else np.arange(n)
    bulk["%s/sample" % ATTRIBUTIONS_GROUP] = np.asarray(sample, dtype=np.int64)
    attrs = {ATTRIBUTIONS_GROUP: attribution_lib.attrs_of(result)}
    if result.deletion is not None:
        bulk[deletion_format.FRACTIONS] = np.asarray(result.deletion.fractions, dtype=np.float32)
        for name, by_target in result.deletion.curves.items():
            for target, curves in by_target.items():
                bulk[deletion_format.curve_dataset(name, target)] = np.asarray(curves, dtype=np.float32)
        attrs[deletion_format.GROUP] = deletion_format.attrs_of(result.deletion)
    _check_numeric(bulk.items())
    writer.add_bulk(step, bulk, attrs)
    return len(bulk)
