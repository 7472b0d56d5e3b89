"""Step files: the bulk arrays of a run, one HDF5 file per logged step (the group layout of the iNNspector
paper's checkpoints, which `importer/` reads).

    <run>/innspector/samples.h5            data_samples/{x, y_label, index}
    <run>/innspector/step_000000012.h5     data_samples/y_prediction
                                           layers/<layer>/activations
                                           layers/<layer>/mean_class_activations/class_<k>
                                           layers/<layer>/weights/<variable>

Files are written (by `capture/step_writer.py`) under a temporary name and renamed, so a reader never
sees a half-written file, and chunked along the last axis (neurons, channels) and compressed, so one
neuron or one class reads without the whole layer. This module names the files and reads them.

Format version 2 compresses with Zstandard (HDF5 filter 32015) and may round float32 arrays to fewer
mantissa bits (root attributes `precision` and `mantissa_bits`); version 1 used gzip only. Readers
open both: `open_file` registers the filters of `hdf5plugin` first.
"""

import contextlib
from typing import Any

import h5py

from innspector_tb import errors, fs

# 2: Zstandard and rounding (root attributes precision, mantissa_bits); 1: gzip, lossless. Both read alike.
FORMAT_VERSION = 2
STEP_FILES_DIR = "innspector"
SAMPLES_FILE = STEP_FILES_DIR + "/samples.h5"
TEMP_MARK = ".tmp-"
# Who writes the run now (pid, host, start time, session; capture/run_lock.py): one writer per run.
LOCK_FILE = STEP_FILES_DIR + "/writer.lock"
# Root attribute of a step file: the logging session that wrote it. A file is never merged into by
# another session (a resumed run continues at a fresh step instead).
SESSION_ATTR = "session"
# How floating arrays are stored: "rounded" (float32 rounded to MANTISSA_BITS mantissa bits, relative
# error <= 2**-(MANTISSA_BITS + 1)) or "exact" (lossless).
PRECISIONS = ("rounded", "exact")
MANTISSA_BITS = 10


class StepFileError(errors.FormatError, IOError):
    """A step file that cannot be written or read."""


def step_file(step):
    """Relative path of a step's file inside the run directory."""
    return "%s/step_%09d.h5" % (STEP_FILES_DIR, int(step))


def layer_group(h5_name):
    return "layers/" + h5_name


def reshape_attr(name):
    """The parent group's attribute giving the logged shape of a linked duplicate stored in another shape."""
    return "shape:" + name.rsplit("/", 1)[-1]


def logical_shape(h5file, name):
    """The shape a dataset was logged with (a linked duplicate may be stored reshaped)."""
    parent, _, _ = name.rpartition("/")
    group = h5file[parent] if parent else h5file
    shape = group.attrs.get(reshape_attr(name))
    return tuple(int(d) for d in shape) if shape is not None else tuple(h5file[name].shape)


def read_array(h5file, name):
    """Reads a whole dataset with its logged shape (see logical_shape)."""
    data = h5file[name][()]
    shape = logical_shape(h5file, name)
    return data.reshape(shape) if data.shape != shape else data


def describe_datasets(h5file):
    """{path: {shape, dtype[, same_as]}} of every dataset link (hard-linked duplicates included)."""
    result: dict[str, dict[str, Any]] = {}
    first_path: dict[Any, str] = {}

    def visit(name, link):
        if not isinstance(link, h5py.HardLink) or not isinstance(h5file[name], h5py.Dataset):
            return
        entry = {"shape": list(logical_shape(h5file, name)), "dtype": h5file[name].dtype.name}
        key = h5file[name].id.objno if hasattr(h5file[name].id, "objno") else hash(h5file[name].id)
        if key in first_path:
            entry["same_as"] = first_path[key]
        else:
            first_path[key] = name
        result[name] = entry

    h5file.visititems_links(visit)
    return result


def register_filters():
    """Makes the HDF5 compression filters of step files (Zstandard, ...) available to h5py.

    Imported on first use, not with this module: `hdf5plugin` loads a dozen filter libraries, which
    a process that never opens a step file need not pay for.
    """
    import hdf5plugin  # noqa: F401 (registers its filters with HDF5 on import)


@contextlib.contextmanager
def open_file(path):
    """Opens an HDF5 file for reading, locally or remotely (through `fs`)."""
    register_filters()
    try:
        handle = h5py.File(fs.local_path(path), "r") if fs.is_local(path) else h5py.File(fs.open_read(path), "r")
    except Exception as e:  # h5py and remote filesystems raise many kinds; all mean "unreadable"
        raise StepFileError("cannot read step file %s: %s" % (path, e)) from e
    try:
        yield handle
    finally:
        handle.close()


def list_step_files(run_dir):
    """Returns {step: relative path} of the complete step files of a run."""
    directory = fs.join(run_dir, STEP_FILES_DIR)
    if not fs.isdir(directory):
        return {}
    steps = {}
    for name in fs.listdir(directory):
        if TEMP_MARK in name or not (name.startswith("step_") and name.endswith(".h5")):
            continue
        try:
            steps[int(name[len("step_") : -len(".h5")])] = STEP_FILES_DIR + "/" + name
        except ValueError:
            continue
    return dict(sorted(steps.items()))


def run_dir_reader(run_dir, step=None):
    """(read(dataset), labels, step) over a run directory's step files (default: the last step).

    For code that reads a run without TensorBoard (the demo, retraining); labels are None if not logged.
    """
    steps = list_step_files(run_dir)
    if not steps:
        raise StepFileError("%s has no step files" % run_dir)
    step = max(steps) if step is None else int(step)
    if step not in steps:
        raise StepFileError("%s has no step %d" % (run_dir, step))
    path = fs.join(run_dir, steps[step])

    def read(dataset, file=path):
        with open_file(file) as f:
            if dataset not in f:
                raise KeyError(dataset)
            return read_array(f, dataset)

    try:
        labels = read("data_samples/y_label", fs.join(run_dir, SAMPLES_FILE))
    except (KeyError, StepFileError):
        labels = None
    return read, labels, step
