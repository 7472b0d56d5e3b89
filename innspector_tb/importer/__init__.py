"""Imports a checkpoint in the iNNspector paper's HDF5 layout into a run directory.

    data_samples/x, y_label, y_prediction
    layers/<name>/activations
    layers/<name>/mean_class_activations/class_<k>
    layers/<name>/weights/<variable>          (kernel, bias, ...)

Every part may be missing. A layer is any group under `layers/` that holds
`activations`, `weights` or `mean_class_activations`; nested groups give ids
with slashes ("encoder/dense_1"). Anything else in the file is skipped and
reported.

The file is read completely and checked before anything is written into the
run, so a bad file leaves the run untouched. Only numeric datasets reached by
hard links are read: no attributes, no pickles, no external or soft links, no
virtual datasets.

    report = import_checkpoint("paper_ckpt.h5", "logs", "cnn", step=3)
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np

from innspector_tb import fs
from innspector_tb.format import headers as headers_lib
from innspector_tb.format import metadata, stats, step_files, strict_json
from innspector_tb.format.architecture import layer_h5_name
from innspector_tb.importer.paper_layout import (  # noqa: F401 (public names of the importer)
    ACTIVATIONS,
    CLASS_MEANS,
    WEIGHTS,
    CheckpointImportError,
    build_architecture,
    read_checkpoint,
)
from innspector_tb.importer.paper_layout import (
    MAX_DATASET_BYTES as MAX_IMPORT_BYTES,
)

logger = logging.getLogger("innspector_tb")


# ------------------------------------------------------------------ the run


def _run_dir(logdir, run):
    if not isinstance(run, str) or not run.strip():
        raise CheckpointImportError("run name must be a non-empty string, got %r" % (run,))
    parts = run.replace("\\", "/").split("/")
    if run.startswith(("/", "\\")) or ".." in parts or "://" in run:
        raise CheckpointImportError("run name %r must be a relative name inside the logdir" % run)
    if not isinstance(logdir, str) or not logdir:
        raise CheckpointImportError("logdir must be a non-empty path, got %r" % (logdir,))
    return fs.join(logdir, run)


def latest_header(run_dir):
    """The newest iNNspector header in a run directory's own event files, or None."""
    return _existing_run(run_dir)[1]


def _existing_run(run_dir):
    """(steps holding iNNspector data, latest header or None) of a run directory."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    steps = set(step_files.list_step_files(run_dir))
    latest_header = None
    if not fs.isdir(run_dir):
        return steps, latest_header
    for name in sorted(fs.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        try:
            for event in event_file_loader.EventFileLoader(fs.join(run_dir, name)).Load():
                for value in event.summary.value:
                    if not value.tag.startswith(metadata.TAG_PREFIX):
                        continue
                    steps.add(int(event.step))
                    if value.tag == metadata.HEADER_TAG:
                        try:
                            raw = tensor_util.make_ndarray(value.tensor).item()
                            latest_header = strict_json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
                        except (ValueError, TypeError, AttributeError):
                            pass
        except Exception as e:  # a foreign or damaged event file: it only costs its steps
            logger.warning("import: could not read %s: %s", name, e)
    return steps, latest_header


def _samples_differ(run_dir, parsed):
    """Why the run's stored probe samples differ from the file's, or None."""
    path = fs.join(run_dir, step_files.SAMPLES_FILE)
    if parsed.x is None or not fs.exists(path):
        return None
    labels = stats.labels_to_classes(parsed.y_label)
    try:
        with step_files.open_file(path) as f:
            # read_checked: hard links only (`name in f` would follow an external link), None when absent.
            old_x = step_files.read_checked(f, "data_samples/x", max_bytes=MAX_IMPORT_BYTES)
            old_y = step_files.read_checked(f, "data_samples/y_label", max_bytes=MAX_IMPORT_BYTES)
    except (step_files.StepFileError, OSError, KeyError) as e:
        return "its samples file is unreadable (%s)" % e
    new_x = parsed.x.astype(old_x.dtype) if old_x is not None and parsed.x.dtype.kind == "f" else parsed.x
    if old_x is None or old_x.shape != new_x.shape or not np.array_equal(old_x, new_x, equal_nan=True):
        return "its probe inputs data_samples/x differ from the file's"
    same_labels = (old_y is None and labels is None) or (
        old_y is not None and labels is not None and np.array_equal(old_y, labels)
    )
    if not same_labels:
        return "its probe labels data_samples/y_label differ from the file's"
    return None


# ------------------------------------------------------------------ import


def import_checkpoint(
    checkpoint_path: str | os.PathLike[str],
    logdir: str,
    run: str,
    step: int = 0,
    header: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Imports a paper-layout HDF5 checkpoint as step `step` of the run `logdir/run`.

    Args:
      checkpoint_path: the HDF5 file.
      logdir: TensorBoard's log directory.
      run: the run (model) to write into, a directory below `logdir`.
      step: the step the checkpoint becomes.
      header: the model's header dict (validated); when None, the run's existing
        header, or a new `innspector_tb.header(run)`.
      overwrite: replace data the run already has at `step` (and its probe
        samples, if the file's differ).

    Returns:
      {"run_dir", "step", "layers" (ids imported), "skipped" ("path: reason" of
       datasets and groups left out), "notes", "samples" (count in the file, or None),
       "samples_written" (False when the run already had the same samples),
       "weights", "activations" (counts), "class_means_from_file" (layer ids),
       "predictions" (bool), "header_id"}.

    Raises:
      CheckpointImportError: the file is missing, not HDF5, damaged or
        inconsistent, the header is invalid, or the run has data at `step`.
        Nothing is written into the run then.
    """
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise CheckpointImportError("step must be an integer >= 0, got %r" % (step,))
    step = int(step)
    run_dir = _run_dir(logdir, run)
    head = None
    if header is not None:
        try:
            head = headers_lib.validate(header)
        except headers_lib.HeaderError as e:
            raise CheckpointImportError("invalid header: %s" % e) from None

    parsed = read_checkpoint(str(checkpoint_path))

    steps, old_header = _existing_run(run_dir)
    if step in steps and not overwrite:
        raise CheckpointImportError(
            "run %s already has data at step %d; pass overwrite=True (--overwrite) to replace it" % (run_dir, step)
        )
    differ = _samples_differ(run_dir, parsed)
    if differ and not overwrite:
        raise CheckpointImportError(
            "run %s already has probe samples and %s; pass overwrite=True (--overwrite) to replace them"
            % (run_dir, differ)
        )
    if head is None and old_header is not None:
        try:
            head = headers_lib.validate(old_header)
        except headers_lib.HeaderError:
            head = None
    if head is None:
        head = headers_lib.header(run)
    later = [s for s in steps if s > step]
    if later:
        logger.warning(
            "import: run %s already has later steps (up to %d); TensorBoard may treat step %d, "
            "written after them, as a restart and hide their points",
            run_dir,
            max(later),
            step,
        )

    report = _write(
        parsed,
        run_dir,
        step,
        head,
        overwrite and step in steps,
        write_samples=parsed.x is not None and (differ is not None or not _has_samples(run_dir)),
    )
    for item in parsed.skipped:
        logger.warning("import of %s: skipped %s", checkpoint_path, item)
    for item in parsed.notes:
        logger.info("import of %s: %s", checkpoint_path, item)
    report["skipped"] = list(parsed.skipped)
    report["notes"] = list(parsed.notes)
    return report


def _has_samples(run_dir):
    return fs.exists(fs.join(run_dir, step_files.SAMPLES_FILE))


def _write(parsed, run_dir, step, head, replace_step, write_samples):
    from innspector_tb.capture import summary

    created = not fs.exists(run_dir)
    # Replaced files go whole: the checkpoint writer would keep their other datasets.
    stale = [step_files.step_file(step)] if replace_step else []
    stale += [step_files.SAMPLES_FILE] if write_samples else []
    for relpath in stale:
        old = fs.join(run_dir, relpath)
        if fs.exists(old):
            fs.remove(old)
    labels = parsed.y_label
    classes_known = stats.labels_to_classes(labels) is not None
    if labels is not None and not classes_known:
        parsed.note("data_samples/y_label", "not class labels: no per-class means are computed from it")
    arch = build_architecture(parsed.layers, head["name"], parsed.path)
    weights = {"%s/%s" % (layer.id, var): array for layer in parsed.layers for var, array in layer.weights.items()}
    acts = {layer.id: layer.activations for layer in parsed.layers if layer.activations is not None}
    means_from_file = []
    # An import converts the user's own checkpoint: its arrays are kept exactly, not rounded.
    writer = summary.create_file_writer(run_dir, precision="exact")
    try:
        with writer.as_default(step=step):
            summary.header(head, step=step)
            summary.architecture(arch, step=step)
            if write_samples:
                summary.samples(parsed.x, labels, step=step)
            elif parsed.x is None and labels is not None:
                parsed.note(
                    "data_samples/y_label", "used for the class means but not stored: samples need data_samples/x"
                )
            if weights:
                summary.weights(weights, step=step)
            if acts:
                summary.activations(acts, labels=labels if classes_known else None, step=step)
            bulk, attrs = {}, {}
            for layer in parsed.layers:
                if not layer.class_means:
                    continue
                if layer.activations is not None and classes_known:
                    _compare_means(parsed, layer, labels)
                    continue  # recomputed from the activations above
                group = step_files.layer_group(layer_h5_name(layer.id))
                attrs[group] = {"unit": layer.id}
                for k, mean in sorted(layer.class_means.items()):
                    bulk["%s/%s/class_%d" % (group, CLASS_MEANS, k)] = mean
                means_from_file.append(layer.id)
            if bulk:
                writer.add_bulk(step, bulk, attrs)
            if parsed.y_prediction is not None:
                summary.predictions(parsed.y_prediction, step=step)
    except BaseException:
        writer.tf_writer.close()  # drop the pending checkpoint
        if created and "://" not in run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    writer.close()
    return {
        "run_dir": run_dir,
        "step": step,
        "layers": [layer.id for layer in parsed.layers],
        "samples": None if parsed.x is None else int(parsed.x.shape[0]),
        "samples_written": bool(write_samples),
        "weights": len(weights),
        "activations": len(acts),
        "class_means_from_file": means_from_file,
        "predictions": parsed.y_prediction is not None,
        "header_id": head["id"],
    }


def _compare_means(parsed, layer, labels):
    """Notes class means in the file that disagree with the ones recomputed from activations."""
    classes = stats.labels_to_classes(labels)
    recomputed = stats.class_means(layer.activations, classes, sorted(layer.class_means))
    for k, mean in layer.class_means.items():
        ours = recomputed.get(k)
        if (
            ours is None
            or ours.shape != mean.shape
            or not np.allclose(ours, mean, rtol=1e-4, atol=1e-5, equal_nan=True)
        ):
            parsed.note(
                "layers/%s/%s/class_%d" % (layer.id, CLASS_MEANS, k),
                "differs from the mean recomputed from the activations; the recomputed one is stored",
            )
