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
import math
import os
import stat
from typing import Any

import h5py
import numpy as np

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


class UnsafeDataset(StepFileError):
    """A dataset no step file of ours holds, refused before its data is read: reached through a soft or
    external link, stored outside the file (external storage, a virtual dataset), or not plain numbers.

    A logdir is shared (NFS, buckets, downloaded experiments): its files are input from strangers, and
    HDF5's indirections would otherwise read any file the server can read.
    """


class DatasetTooLarge(StepFileError):
    """A dataset whose declared size (its shape times its item size, not its bytes on disk) is over the
    reader's limit: compressed data can declare far more than the file holds."""

    def __init__(self, message, declared_bytes, limit_bytes):
        super().__init__(message)
        self.declared_bytes, self.limit_bytes = declared_bytes, limit_bytes


# bool, signed and unsigned integers, floats: everything the format stores as an array.
_NUMERIC_KINDS = "biuf"


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


def find_dataset(h5file, name):
    """The dataset `name` of an open file, or None when there is none; UnsafeDataset for what must not
    be read (see UnsafeDataset).

    Walks the path link by link: `name in h5file` or `h5file[name]` would follow external links to
    other files, and "./kernel" would name a dataset under a second name.
    """
    parts = name.split("/") if isinstance(name, str) else [""]
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeDataset("dataset name %r is not a plain path" % (name,))
    node = h5file
    for depth, part in enumerate(parts):
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            where = "/".join(parts[: depth + 1])
            raise UnsafeDataset("%s is a %s, not followed" % (where, type(link).__name__))
        node = node[part]
    if not isinstance(node, h5py.Dataset):
        return None
    check_dataset(node, name)
    return node


def check_dataset(dataset, name):
    """UnsafeDataset unless the dataset's data is plain numbers stored inside its own file."""
    if dataset.is_virtual:
        raise UnsafeDataset("%s is a virtual dataset (data in other files), not read" % name)
    if dataset.external:
        raise UnsafeDataset("%s is stored in external files, not read" % name)
    if dataset.dtype.kind not in _NUMERIC_KINDS:
        raise UnsafeDataset("%s has dtype %s, not plain numbers" % (name, dataset.dtype))
    if dataset.shape is None:
        raise UnsafeDataset("%s has an empty (null) dataspace" % name)


def declared_bytes(dataset, selection=None):
    """The bytes a read of `selection` (None: all) decompresses, from what the file declares: the
    selected elements, and at least one whole chunk (HDF5 decompresses chunks whole)."""
    shape = tuple(dataset.shape)
    if selection is None:
        count = math.prod(shape)
    else:
        # A zero-stride view of the shape: indexing it sizes the selection without allocating the data.
        count = np.broadcast_to(np.zeros((), dtype=bool), shape)[selection].size
    chunk = math.prod(dataset.chunks) if dataset.chunks else 0
    return max(count, chunk if count else 0) * dataset.dtype.itemsize


def read_checked(h5file, name, selection=None, max_bytes=None):
    """A dataset's data (sliced by `selection`, in its logged shape), after every check above; None
    when the file has no such dataset. DatasetTooLarge when the read would be over max_bytes."""
    stored = find_dataset(h5file, name)
    if stored is None:
        return None
    shape = logical_shape(h5file, name)
    reshaped = tuple(stored.shape) != shape
    if reshaped and math.prod(shape) != math.prod(stored.shape):
        raise StepFileError("%s: logged shape %s does not fit the stored %s" % (name, shape, stored.shape))
    size = declared_bytes(stored, None if reshaped else selection)
    if max_bytes is not None and size > max_bytes:
        raise DatasetTooLarge(
            "%s declares %d bytes to read, over the limit of %d" % (name, size, max_bytes), size, max_bytes
        )
    if reshaped:  # a linked duplicate stored in another shape: read whole, then slice
        data = stored[()].reshape(shape)
        return data if selection is None else data[selection]
    return stored[()] if selection is None else stored[selection]


def read_array(h5file, name, max_bytes=None):
    """Reads a whole dataset with its logged shape (see logical_shape); KeyError when there is none."""
    data = read_checked(h5file, name, max_bytes=max_bytes)
    if data is None:
        raise KeyError(name)
    return data


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
def open_file(path, within=None):
    """Opens an HDF5 file for reading, locally or remotely (through `fs`).

    A local path must be a regular file (a FIFO would block the reader, a device would never end), and
    with `within` (a directory), its real path must be inside that directory's real path: a symlink in a
    run cannot make the server read a file elsewhere.
    """
    register_filters()
    if fs.is_local(path):
        local = fs.local_path(path)
        if within is not None and fs.is_local(within):
            _require_inside(local, fs.local_path(within))
        _require_regular_file(local)
    try:
        handle = h5py.File(fs.local_path(path), "r") if fs.is_local(path) else h5py.File(fs.open_read(path), "r")
    except Exception as e:  # h5py and remote filesystems raise many kinds; all mean "unreadable"
        raise StepFileError("cannot read step file %s: %s" % (path, e)) from e
    try:
        yield handle
    finally:
        handle.close()


def _require_inside(local, directory):
    real, root = os.path.realpath(local), os.path.realpath(directory)
    if os.path.commonpath([real, root]) != root:
        raise UnsafeDataset("%s leads outside its run directory (a symbolic link), not read" % local)


def _require_regular_file(local):
    try:
        mode = os.stat(local).st_mode
    except OSError as e:
        raise StepFileError("cannot read step file %s: %s" % (local, e.strerror or e)) from e
    if not stat.S_ISREG(mode):
        raise StepFileError("%s is not a regular file" % local)


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
            return read_array(f, dataset)

    try:
        labels = read("data_samples/y_label", fs.join(run_dir, SAMPLES_FILE))
    except (KeyError, StepFileError):
        labels = None
    return read, labels, step
