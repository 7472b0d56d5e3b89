"""Bulk arrays of a run: one HDF5 file per step, in the iNNspector checkpoint layout.

    <run>/innspector/samples.h5            data_samples/{x, y_label, index}
    <run>/innspector/step_000000012.h5     data_samples/y_prediction
                                           layers/<layer>/activations
                                           layers/<layer>/mean_class_activations/class_<k>
                                           layers/<layer>/weights/<variable>

Files are written under a temporary name and renamed, so a reader never sees a
half-written file, and chunked along the last axis (neurons, channels) and
compressed, so one neuron or one class reads without the whole layer.
"""

import contextlib
import itertools
import os
import tempfile
import uuid
import zlib

import h5py
import numpy as np
import tensorflow as tf

FORMAT_VERSION = 1
CHECKPOINT_DIR = "innspector"
SAMPLES_FILE = CHECKPOINT_DIR + "/samples.h5"
TEMP_MARK = ".tmp-"

# About 256 KiB of float32 per chunk: big enough for gzip to work well, small
# enough that one neuron's column is a small read.
_CHUNK_ELEMENTS = 1 << 16
# Arrays smaller than this are stored contiguous and uncompressed.
_COMPRESS_MIN_BYTES = 1024


class CheckpointError(IOError):
    """A checkpoint that cannot be written or read."""


def step_file(step):
    """Relative path of a step's checkpoint inside the run directory."""
    return "%s/step_%09d.h5" % (CHECKPOINT_DIR, int(step))


def layer_group(h5_name):
    return "layers/" + h5_name


def _is_local(path):
    return "://" not in path or path.startswith("file://")


def _local_path(path):
    return path[len("file://"):] if path.startswith("file://") else path


def chunk_shape(shape):
    """Chunks that split the last axis first, then the first (samples) axis."""
    if len(shape) == 0 or 0 in shape:
        return None
    inner = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    last = max(1, min(shape[-1], _CHUNK_ELEMENTS // max(inner, 1)))
    chunk = list(shape)
    chunk[-1] = last
    if len(shape) > 1 and inner > _CHUNK_ELEMENTS:
        rest = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
        chunk[0] = max(1, min(shape[0], _CHUNK_ELEMENTS // max(rest, 1)))
    return tuple(chunk)


class CheckpointWriter:
    """Writes the HDF5 files of one run directory.

    Args:
      run_dir: the run directory (local path or any `tf.io.gfile` URL).
      dtype: storage dtype of floating arrays, "float32" (lossless) or "float16".
      compression_level: gzip level; shuffle is always on for floats.
    """

    def __init__(self, run_dir, dtype="float32", compression_level=4):
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError("storage dtype must be float32 or float16, got %r" % (dtype,))
        self.run_dir = run_dir
        self.dtype = np.dtype(dtype)
        self.compression_level = int(compression_level)
        tf.io.gfile.makedirs(os.path.join(run_dir, CHECKPOINT_DIR))

    def write(self, relpath, arrays, attrs=None):
        """Writes {dataset path: array} (and {group path: attrs}) atomically to relpath.

        If the file exists (the same step logged in two parts), its datasets
        are kept unless replaced. Returns the manifest of the written file.
        """
        final = os.path.join(self.run_dir, relpath)
        existing = final if tf.io.gfile.exists(final) else None
        raw_bytes = 0
        datasets = {}
        with tempfile.TemporaryDirectory(prefix="innspector-") as tmp_dir:
            local = os.path.join(tmp_dir, "step.h5")
            if _is_local(self.run_dir):
                # Write beside the target so the rename is atomic on the same filesystem.
                local = _local_path(final) + TEMP_MARK + uuid.uuid4().hex[:8]
            try:
                with h5py.File(local, "w") as out:
                    out.attrs["format_version"] = FORMAT_VERSION
                    if existing:
                        self._copy_existing(existing, out, skip=set(arrays))
                    arrays = {name: np.asarray(array) for name, array in arrays.items()}
                    sources = find_duplicates(arrays)
                    for name, array in arrays.items():
                        raw_bytes += array.size * 4 if array.dtype.kind == "f" else array.nbytes
                        if name in sources:
                            continue
                        self._dataset(out, name, array)
                    for name, source in sources.items():
                        _link(out, name, source, arrays[name].shape)
                    for group, values in (attrs or {}).items():
                        target = out.require_group(group)
                        for key, value in values.items():
                            target.attrs[key] = value
                    datasets = _describe_datasets(out) if existing else self._describe(arrays, sources)
                self._publish(local, final)
            finally:
                if os.path.exists(local):
                    os.remove(local)
        return {
            "path": relpath,
            "bytes": int(tf.io.gfile.stat(final).length),
            "raw_float32_bytes": int(raw_bytes),
            "dtype": self.dtype.name,
            "format_version": FORMAT_VERSION,
            "datasets": datasets,
        }

    def _describe(self, arrays, sources):
        """The manifest's dataset entries, from what was written (no second pass over the file)."""
        result = {}
        for name, array in arrays.items():
            dtype = self.dtype if array.dtype.kind == "f" else array.dtype
            entry = {"shape": list(array.shape), "dtype": dtype.name}
            if name in sources:
                entry["same_as"] = sources[name]
            result[name] = entry
        return result

    def _dataset(self, out, name, array):
        if array.dtype.kind == "f" and array.dtype != self.dtype:
            array = array.astype(self.dtype)
        if array.dtype.kind not in "fiub":
            raise CheckpointError("dataset %s: only numeric arrays are stored, got %s" % (name, array.dtype))
        if name in out:
            del out[name]
        parent = name.rpartition("/")[0]
        if parent in out and _reshape_attr(name) in out[parent].attrs:
            del out[parent].attrs[_reshape_attr(name)]  # it described the replaced link
        if array.nbytes < _COMPRESS_MIN_BYTES or array.ndim == 0:
            out.create_dataset(name, data=array)
            return
        chunks = chunk_shape(array.shape)
        shuffle = array.dtype.itemsize > 1
        dataset = out.create_dataset(
            name, shape=array.shape, dtype=array.dtype, chunks=chunks,
            compression="gzip", compression_opts=self.compression_level, shuffle=shuffle,
        )
        # Compress here rather than in HDF5's filter pipeline: zlib releases the
        # GIL, h5py does not, so training threads keep running meanwhile. The
        # chunks are exactly what the declared shuffle+gzip filters would store.
        for offset, data in _compressed_chunks(array, chunks, self.compression_level, shuffle):
            dataset.id.write_direct_chunk(offset, data)

    @staticmethod
    def _copy_existing(path, out, skip):
        """Copies the datasets of an existing file that are not replaced, keeping hard links as links."""
        with open_file(path) as old:
            first_name = {}

            def visit(name, link):
                if not isinstance(link, h5py.HardLink):
                    return
                obj = old[name]
                if isinstance(obj, h5py.Group):
                    # Groups carry the unit ids of layers and the shapes of linked duplicates.
                    group = out.require_group(name)
                    for key, value in obj.attrs.items():
                        if key not in group.attrs:
                            group.attrs[key] = value
                    return
                if name in skip or name in out:
                    return
                if "/" in name:
                    out.require_group(name.rsplit("/", 1)[0])
                key = hash(obj.id)
                if key in first_name and first_name[key] in out:
                    out[name] = out[first_name[key]]  # the same array under another name
                else:
                    old.copy(obj, out, name=name)
                    first_name[key] = name

            old.visititems_links(visit)

    def _publish(self, local, final):
        if _is_local(self.run_dir):
            os.replace(local, _local_path(final))
            return
        temp_remote = final + TEMP_MARK + uuid.uuid4().hex[:8]
        tf.io.gfile.copy(local, temp_remote, overwrite=True)
        tf.io.gfile.rename(temp_remote, final, overwrite=True)


def _compressed_chunks(array, chunks, level, shuffle):
    """Yields (offset, bytes) of every chunk, byte-shuffled then deflated like HDF5's filters."""
    grid = [range(0, size, step) for size, step in zip(array.shape, chunks)]
    for offset in itertools.product(*grid):
        block = array[tuple(slice(o, o + c) for o, c in zip(offset, chunks))]
        if block.shape != tuple(chunks):  # HDF5 stores edge chunks full size
            padded = np.zeros(chunks, dtype=array.dtype)
            padded[tuple(slice(0, n) for n in block.shape)] = block
            block = padded
        raw = np.ascontiguousarray(block).view(np.uint8)
        if shuffle:
            raw = np.ascontiguousarray(raw.reshape(-1, array.dtype.itemsize).T)
        yield offset, zlib.compress(raw, level)


def find_duplicates(arrays):
    """Returns {name: source name} for arrays equal, value by value, to an earlier one.

    A Flatten, Reshape or Dropout layer outputs exactly its input's values:
    storing them twice would double the bytes and add nothing. Only equal
    dtype and size are compared in full, so the check costs little.
    """
    sources = {}
    seen = {}
    for name, array in arrays.items():
        if array.size < 2 or array.dtype.kind not in "fiub":
            continue
        key = (array.dtype.str, array.size, array.ravel()[0].tobytes(), array.ravel()[-1].tobytes())
        for candidate in seen.get(key, ()):
            if np.array_equal(arrays[candidate].ravel(), array.ravel()):
                sources[name] = candidate
                break
        else:
            seen.setdefault(key, []).append(name)
    return sources


def _reshape_attr(name):
    return "shape:" + name.rsplit("/", 1)[-1]


def _link(out, name, source, shape):
    """Stores `name` as a hard link to `source`; a different shape goes in the parent group's attrs."""
    parent, _, _ = name.rpartition("/")
    group = out.require_group(parent) if parent else out
    if name in out:
        del out[name]
    out[name] = out[source]
    if tuple(out[source].shape) != tuple(shape):
        group.attrs[_reshape_attr(name)] = np.asarray(shape, dtype=np.int64)


def logical_shape(h5file, name):
    """The shape a dataset was logged with (a linked duplicate may be stored reshaped)."""
    parent, _, _ = name.rpartition("/")
    group = h5file[parent] if parent else h5file
    shape = group.attrs.get(_reshape_attr(name))
    return tuple(int(d) for d in shape) if shape is not None else tuple(h5file[name].shape)


def read_array(h5file, name):
    """Reads a whole dataset with its logged shape (see logical_shape)."""
    data = h5file[name][()]
    shape = logical_shape(h5file, name)
    return data.reshape(shape) if data.shape != shape else data


def _describe_datasets(h5file):
    """{path: {shape, dtype[, same_as]}} of every dataset link (hard-linked duplicates included)."""
    result = {}
    first_path = {}

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


@contextlib.contextmanager
def open_file(path):
    """Opens an HDF5 file for reading, locally or through tf.io.gfile."""
    try:
        if _is_local(path):
            handle = h5py.File(_local_path(path), "r")
        else:
            handle = h5py.File(tf.io.gfile.GFile(path, "rb"), "r")
    except (OSError, tf.errors.OpError) as e:
        raise CheckpointError("cannot read checkpoint %s: %s" % (path, e))
    try:
        yield handle
    finally:
        handle.close()


def read_dataset(path, dataset, selection=()):
    """Reads one dataset (or a slice of it) from a checkpoint file."""
    with open_file(path) as f:
        if dataset not in f:
            raise CheckpointError("%s has no dataset %s" % (path, dataset))
        return f[dataset][selection] if selection != () else f[dataset][()]


def list_step_files(run_dir):
    """Returns {step: relative path} of the complete step checkpoints of a run."""
    directory = os.path.join(run_dir, CHECKPOINT_DIR)
    if not tf.io.gfile.isdir(directory):
        return {}
    steps = {}
    for name in tf.io.gfile.listdir(directory):
        if TEMP_MARK in name or not (name.startswith("step_") and name.endswith(".h5")):
            continue
        try:
            steps[int(name[len("step_"):-len(".h5")])] = CHECKPOINT_DIR + "/" + name
        except ValueError:
            continue
    return dict(sorted(steps.items()))
