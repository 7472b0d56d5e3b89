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

import json
import logging
import os
import re
import shutil

import h5py
import numpy as np

from innspector_tb import architecture as architecture_lib
from innspector_tb import checkpoint as checkpoint_lib
from innspector_tb import headers as headers_lib
from innspector_tb import inner_ops
from innspector_tb import metadata
from innspector_tb import stats

logger = logging.getLogger("innspector_tb")

# Parts of a layer group in the paper's layout.
ACTIVATIONS = "activations"
WEIGHTS = "weights"
CLASS_MEANS = "mean_class_activations"
LAYER_PARTS = (ACTIVATIONS, WEIGHTS, CLASS_MEANS)
SAMPLE_DATASETS = ("x", "y_label", "y_prediction")

_CLASS_NAME = re.compile(r"^class_(-?[0-9]+)$")
_NUMERIC_KINDS = "biuf"
# Nesting below layers/ deeper than this is refused (and guards against cycles).
_MAX_DEPTH = 64


class CheckpointImportError(ValueError):
    """A checkpoint that cannot be imported, or a run that cannot take it."""


# ------------------------------------------------------------------ reading


class _Layer:
    def __init__(self, layer_id):
        self.id = layer_id
        self.activations = None
        self.weights = {}  # variable name -> array, in file order
        self.class_means = {}  # class -> array


class _Parsed:
    def __init__(self, path):
        self.path = path
        self.x = None
        self.y_label = None
        self.y_prediction = None
        self.layers = []
        self.skipped = []  # "path: reason" of what the layout does not know
        self.notes = []  # "path: remark" of what was imported differently

    def skip(self, path, reason):
        self.skipped.append("%s: %s" % (path, reason))

    def note(self, path, remark):
        self.notes.append("%s: %s" % (path, remark))


def _read_numeric(parsed, obj, path, min_ndim=0):
    """The array of a dataset, or None (noted as skipped) if it is not plain numbers."""
    if not isinstance(obj, h5py.Dataset):
        parsed.skip(path, "expected a dataset, found a group")
        return None
    if obj.is_virtual:
        parsed.skip(path, "virtual dataset (refers to other files), not read")
        return None
    if obj.shape is None:
        parsed.skip(path, "empty (null) dataspace")
        return None
    if obj.dtype.kind not in _NUMERIC_KINDS:
        parsed.skip(path, "dtype %s is not numeric" % obj.dtype)
        return None
    if len(obj.shape) < min_ndim:
        parsed.skip(path, "a scalar, but a samples axis is needed")
        return None
    return np.asarray(obj[()])


def _members(parsed, group, path):
    """(name, object) of the hard-linked members of a group, in file order."""
    result = []
    for name in group.keys():
        member_path = "%s/%s" % (path, name) if path else name
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            parsed.skip(member_path, "%s not followed" % type(link).__name__)
            continue
        result.append((name, member_path, group[name]))
    return result


def _is_layer(group):
    return any(name in LAYER_PARTS for name in group.keys())


def _read_layer(parsed, group, layer, path, visit_child):
    for name, member_path, obj in _members(parsed, group, path):
        if name == ACTIVATIONS:
            array = _read_numeric(parsed, obj, member_path, min_ndim=1)
            if array is not None:
                layer.activations = array
        elif name == WEIGHTS:
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group of variables, found a dataset")
                continue
            for variable, variable_path, value in _members(parsed, obj, member_path):
                if isinstance(value, h5py.Group):
                    parsed.skip(variable_path, "nested group inside weights")
                    continue
                array = _read_numeric(parsed, value, variable_path)
                if array is not None:
                    layer.weights[variable] = array
        elif name == CLASS_MEANS:
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group of class_<k> datasets, found a dataset")
                continue
            for entry, entry_path, value in _members(parsed, obj, member_path):
                match = _CLASS_NAME.match(entry)
                if not match:
                    parsed.skip(entry_path, "not named class_<integer>")
                    continue
                k = int(match.group(1))
                if k in layer.class_means:
                    parsed.skip(entry_path, "class %d appears twice" % k)
                    continue
                array = _read_numeric(parsed, value, entry_path)
                if array is not None:
                    layer.class_means[k] = array
        elif isinstance(obj, h5py.Group):
            visit_child(obj, member_path)  # may hold nested layers
        else:
            parsed.skip(member_path, "unknown dataset in a layer group")


def _read_layers(parsed, root):
    visited = {root.id}

    def visit(group, path, depth):
        """Adds the layers at or below `group`; returns how many it found."""
        if group.id in visited:
            parsed.skip(path, "group linked twice (a cycle or an alias), read once")
            return 0
        visited.add(group.id)
        if depth > _MAX_DEPTH:
            raise CheckpointImportError("groups under layers/ are nested more than %d deep" % _MAX_DEPTH)
        relative = path[len("layers/"):]
        found = 0
        if _is_layer(group):
            layer = _Layer(relative)
            parsed.layers.append(layer)
            found = 1

            def visit_child(child, child_path):
                nonlocal found
                found += visit(child, child_path, depth + 1)

            _read_layer(parsed, group, layer, path, visit_child)
            return found
        for name, member_path, obj in _members(parsed, group, path):
            if isinstance(obj, h5py.Group):
                found += visit(obj, member_path, depth + 1)
            else:
                parsed.skip(member_path, "dataset outside any layer group")
        if found == 0:
            parsed.skip(path, "group holds no activations, weights or mean_class_activations")
        return found

    for name, member_path, obj in _members(parsed, root, "layers"):
        if isinstance(obj, h5py.Group):
            visit(obj, member_path, 1)
        else:
            parsed.skip(member_path, "dataset directly under layers/ (expected layer groups)")


def _read_file(path):
    """Reads and checks the whole checkpoint; raises CheckpointImportError if unusable."""
    local = not ("://" in path) or path.startswith("file://")
    if local:
        plain = path[len("file://"):] if path.startswith("file://") else path
        if not os.path.exists(plain):
            raise CheckpointImportError("checkpoint %s: no such file" % path)
        if not os.path.isfile(plain):
            raise CheckpointImportError("checkpoint %s: not a file" % path)
        if not h5py.is_hdf5(plain):
            raise CheckpointImportError("checkpoint %s: not an HDF5 file" % path)
    parsed = _Parsed(path)
    try:
        with checkpoint_lib.open_file(path) as f:
            _read_root(parsed, f)
    except CheckpointImportError:
        raise
    except checkpoint_lib.CheckpointError as e:
        raise CheckpointImportError("checkpoint %s cannot be opened as HDF5 (truncated or corrupt?): %s"
                                    % (path, e)) from None
    except Exception as e:  # h5py reports damage as OSError, KeyError, RuntimeError, ...
        raise CheckpointImportError("checkpoint %s is unreadable (truncated or corrupt?): %s: %s"
                                    % (path, type(e).__name__, e)) from None
    _check(parsed)
    return parsed


def _read_root(parsed, f):
    members = _members(parsed, f, "")
    names = [name for name, _, _ in members]
    if "data_samples" not in names and "layers" not in names:
        raise CheckpointImportError(
            "checkpoint %s is not in the iNNspector layout: no data_samples/ or layers/ group "
            "(top level holds: %s)" % (parsed.path, ", ".join(sorted(f.keys())) or "nothing"))
    for name, member_path, obj in members:
        if name == "data_samples":
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group, found a dataset")
                continue
            for sample_name, sample_path, value in _members(parsed, obj, member_path):
                if sample_name not in SAMPLE_DATASETS:
                    parsed.skip(sample_path, "unknown sample dataset")
                    continue
                array = _read_numeric(parsed, value, sample_path, min_ndim=1)
                if array is not None:
                    setattr(parsed, sample_name, array)
        elif name == "layers":
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group, found a dataset")
                continue
            _read_layers(parsed, obj)
        else:
            parsed.skip(member_path, "not part of the iNNspector layout")


def _check(parsed):
    """Refuses what the summary ops would reject halfway through writing."""
    counts = {}
    for name in SAMPLE_DATASETS:
        array = getattr(parsed, name)
        if array is not None:
            counts["data_samples/" + name] = array.shape[0]
    for layer in parsed.layers:
        if layer.activations is not None:
            counts["layers/%s/activations" % layer.id] = layer.activations.shape[0]
    if len(set(counts.values())) > 1:
        raise CheckpointImportError(
            "checkpoint %s: sample counts disagree: %s"
            % (parsed.path, ", ".join("%s has %d" % item for item in sorted(counts.items()))))
    names = {}
    for layer in parsed.layers:
        h5_name = architecture_lib.layer_h5_name(layer.id)
        if h5_name in names:
            raise CheckpointImportError(
                "checkpoint %s: layers %r and %r would share the group layers/%s"
                % (parsed.path, names[h5_name], layer.id, h5_name))
        names[h5_name] = layer.id
    wide = sorted(
        name for name, array in _all_arrays(parsed) if array.dtype.kind == "f" and array.dtype.itemsize > 4)
    if wide:
        parsed.note(", ".join(wide), "stored as float32 (the run's storage dtype)")
    has_data = any(getattr(parsed, name) is not None for name in SAMPLE_DATASETS) or any(
        layer.activations is not None or layer.weights or layer.class_means for layer in parsed.layers)
    if not has_data:
        raise CheckpointImportError("checkpoint %s holds no data to import" % parsed.path)


def _all_arrays(parsed):
    for name in SAMPLE_DATASETS:
        if getattr(parsed, name) is not None:
            yield "data_samples/" + name, getattr(parsed, name)
    for layer in parsed.layers:
        base = "layers/" + layer.id
        if layer.activations is not None:
            yield base + "/" + ACTIVATIONS, layer.activations
        for var, array in layer.weights.items():
            yield "%s/%s/%s" % (base, WEIGHTS, var), array
        for k, array in layer.class_means.items():
            yield "%s/%s/class_%d" % (base, CLASS_MEANS, k), array


# ------------------------------------------------------------------ the run


def _run_dir(logdir, run):
    if not isinstance(run, str) or not run.strip():
        raise CheckpointImportError("run name must be a non-empty string, got %r" % (run,))
    parts = run.replace("\\", "/").split("/")
    if run.startswith(("/", "\\")) or ".." in parts or "://" in run:
        raise CheckpointImportError("run name %r must be a relative name inside the logdir" % run)
    if not isinstance(logdir, str) or not logdir:
        raise CheckpointImportError("logdir must be a non-empty path, got %r" % (logdir,))
    return os.path.join(logdir, run)


def _existing_run(run_dir):
    """(steps holding iNNspector data, latest header or None) of a run directory."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    steps = set(checkpoint_lib.list_step_files(run_dir))
    latest_header = None
    if not tf.io.gfile.isdir(run_dir):
        return steps, latest_header
    for name in sorted(tf.io.gfile.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        try:
            for event in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load():
                for value in event.summary.value:
                    if not value.tag.startswith(metadata.TAG_PREFIX):
                        continue
                    steps.add(int(event.step))
                    if value.tag == metadata.HEADER_TAG:
                        try:
                            raw = tensor_util.make_ndarray(value.tensor).item()
                            latest_header = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
                        except (ValueError, TypeError, AttributeError):
                            pass
        except tf.errors.OpError as e:
            logger.warning("import: could not read %s: %s", name, e)
    return steps, latest_header


def _samples_differ(run_dir, parsed):
    """Why the run's stored probe samples differ from the file's, or None."""
    path = os.path.join(run_dir, checkpoint_lib.SAMPLES_FILE)
    import tensorflow as tf

    if parsed.x is None or not tf.io.gfile.exists(path):
        return None
    labels = stats.labels_to_classes(parsed.y_label)
    # read_array restores the logged shape of a dataset stored as a link to an equal one.
    read = getattr(checkpoint_lib, "read_array", lambda f, name: f[name][()])
    try:
        with checkpoint_lib.open_file(path) as f:
            old_x = read(f, "data_samples/x") if "data_samples/x" in f else None
            old_y = read(f, "data_samples/y_label") if "data_samples/y_label" in f else None
    except (checkpoint_lib.CheckpointError, OSError, KeyError) as e:
        return "its samples file is unreadable (%s)" % e
    new_x = parsed.x.astype(old_x.dtype) if old_x is not None and parsed.x.dtype.kind == "f" else parsed.x
    if old_x is None or old_x.shape != new_x.shape or not np.array_equal(old_x, new_x, equal_nan=True):
        return "its probe inputs data_samples/x differ from the file's"
    if (old_y is None) != (labels is None) or (labels is not None and not np.array_equal(old_y, labels)):
        return "its probe labels data_samples/y_label differ from the file's"
    return None


# ------------------------------------------------------------------ architecture


def build_architecture(layers, name, source):
    """A format-version-1 architecture of what a checkpoint shows: layers, no edges."""
    entries = []
    total = 0
    namespaces = {}
    for layer in layers:
        namespace, _, short = layer.id.rpartition("/")
        variables = [
            {"name": var, "path": "%s/%s" % (layer.id, var), "shape": [int(d) for d in array.shape],
             "dtype": array.dtype.name, "trainable": None, "initializer": None}
            for var, array in layer.weights.items()
        ]
        size = sum(int(array.size) for array in layer.weights.values())
        total += size
        if layer.activations is not None:
            outputs = [[None] + [int(d) for d in layer.activations.shape[1:]]]
        elif layer.class_means:
            # A class mean has the shape of one sample's activations.
            outputs = [[None] + [int(d) for d in next(iter(layer.class_means.values())).shape]]
        else:
            outputs = []
        graph = inner_ops.InnerGraph([(v["name"], v["shape"]) for v in variables])
        graph.output(graph.op("call", [graph.input()], label="Unknown",
                              variables=[v["name"] for v in variables]))
        entries.append({
            "id": layer.id,
            "name": short,
            "namespace": namespace,
            "type": "Unknown",
            "module": "",
            "custom": True,
            "config": {},
            "input_shapes": [],
            "output_shapes": outputs,
            "calls": 1,
            "params": {"trainable": size, "non_trainable": 0},
            "variables": variables,
            "inner": graph.as_dict(),
            "is_input": False,
        })
        parent = namespace
        while parent:
            parent_of, _, parent_name = parent.rpartition("/")
            space = namespaces.setdefault(parent, {
                "id": parent, "name": parent_name, "parent": parent_of, "type": "Unknown",
                "functional": False, "layers": [], "inputs": [], "outputs": [],
                "params": {"trainable": 0, "non_trainable": 0}})
            space["params"]["trainable"] += size
            if parent == namespace:
                space["layers"].append(layer.id)
            parent = parent_of
    notes = ["imported from %s: layer types and data-flow edges are unknown" % source]
    if total:
        notes.append("imported from %s: trainability is unknown; all %d weights are counted "
                     "as trainable" % (source, total))
    return {
        "format_version": architecture_lib.FORMAT_VERSION,
        "model": {"name": name, "class": "Unknown", "functional": False, "notes": notes},
        "inputs": [],
        "outputs": [],
        "layers": entries,
        "edges": [],
        "namespaces": sorted(namespaces.values(), key=lambda ns: ns["id"].count("/")),
        "params": {"trainable": total, "non_trainable": 0},
    }


# ------------------------------------------------------------------ import


def import_checkpoint(checkpoint_path, logdir, run, step=0, header=None, *, overwrite=False):
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

    parsed = _read_file(str(checkpoint_path))

    steps, old_header = _existing_run(run_dir)
    if step in steps and not overwrite:
        raise CheckpointImportError(
            "run %s already has data at step %d; pass overwrite=True (--overwrite) to replace it"
            % (run_dir, step))
    differ = _samples_differ(run_dir, parsed)
    if differ and not overwrite:
        raise CheckpointImportError(
            "run %s already has probe samples and %s; pass overwrite=True (--overwrite) to replace them"
            % (run_dir, differ))
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
            "written after them, as a restart and hide their points", run_dir, max(later), step)

    report = _write(parsed, run_dir, step, head, overwrite and step in steps,
                    write_samples=parsed.x is not None and (differ is not None or not _has_samples(run_dir)))
    for item in parsed.skipped:
        logger.warning("import of %s: skipped %s", checkpoint_path, item)
    for item in parsed.notes:
        logger.info("import of %s: %s", checkpoint_path, item)
    report["skipped"] = list(parsed.skipped)
    report["notes"] = list(parsed.notes)
    return report


def _has_samples(run_dir):
    import tensorflow as tf

    return tf.io.gfile.exists(os.path.join(run_dir, checkpoint_lib.SAMPLES_FILE))


def _write(parsed, run_dir, step, head, replace_step, write_samples):
    import tensorflow as tf

    from innspector_tb import summary

    created = not tf.io.gfile.exists(run_dir)
    # Replaced files go whole: the checkpoint writer would keep their other datasets.
    stale = [checkpoint_lib.step_file(step)] if replace_step else []
    stale += [checkpoint_lib.SAMPLES_FILE] if write_samples else []
    for relpath in stale:
        old = os.path.join(run_dir, relpath)
        if tf.io.gfile.exists(old):
            tf.io.gfile.remove(old)
    labels = parsed.y_label
    classes_known = stats.labels_to_classes(labels) is not None
    if labels is not None and not classes_known:
        parsed.note("data_samples/y_label", "not class labels: no per-class means are computed from it")
    arch = build_architecture(parsed.layers, head["name"], parsed.path)
    weights = {"%s/%s" % (layer.id, var): array
               for layer in parsed.layers for var, array in layer.weights.items()}
    acts = {layer.id: layer.activations for layer in parsed.layers if layer.activations is not None}
    means_from_file = []
    writer = summary.create_file_writer(run_dir)
    try:
        with writer.as_default(step=step):
            summary.header(head, step=step)
            summary.architecture(arch, step=step)
            if write_samples:
                summary.samples(parsed.x, labels, step=step)
            elif parsed.x is None and labels is not None:
                parsed.note("data_samples/y_label",
                            "used for the class means but not stored: samples need data_samples/x")
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
                group = checkpoint_lib.layer_group(architecture_lib.layer_h5_name(layer.id))
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
        if ours is None or ours.shape != mean.shape or not np.allclose(ours, mean, rtol=1e-4, atol=1e-5,
                                                                       equal_nan=True):
            parsed.note("layers/%s/%s/class_%d" % (layer.id, CLASS_MEANS, k),
                        "differs from the mean recomputed from the activations; the recomputed one is stored")
