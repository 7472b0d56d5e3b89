"""Writes step files (format/step_files.py): atomically, chunked per unit, compressed off the GIL."""

import itertools
import os
import tempfile
import uuid
import zlib
from typing import Any

import h5py
import numpy as np
import zstandard

from innspector_tb import errors, fs
from innspector_tb.format import rounding
from innspector_tb.format.step_files import (
    FORMAT_VERSION,
    MANTISSA_BITS,
    PRECISIONS,
    SESSION_ATTR,
    STEP_FILES_DIR,
    TEMP_MARK,
    StepFileError,
    describe_datasets,
    open_file,
    register_filters,
    reshape_attr,
)

# HDF5's registered id of the Zstandard filter (hdf5plugin.ZSTD_ID): its chunks are one zstd frame
# that records the content size.
ZSTD_FILTER_ID = 32015
# Default level of each codec, measured on demo step files (bench/codec.py). zstd 3 (zstd's own default)
# compresses ~4x faster than gzip 4 and rounded files to 0.41x raw; levels 4-9 cost 1.5-3x the time for
# under 2%. zstd 1 compresses 2.1x faster than 3 (530 against 253 MB/s on 39 MB of rounded, shuffled
# arrays of 20 demo step files) for 0.320x raw against 0.319x: the writer's CPU competes with training
# on small machines, a third of a percent of bytes does not. gzip 4 is format version 1's.
CODEC_LEVELS = {"zstd": 1, "gzip": 4}

# About 256 KiB of float32 per chunk: big enough for gzip to work well, small
# enough that one neuron's column is a small read.
_CHUNK_ELEMENTS = 1 << 16
# Arrays smaller than this are stored contiguous and uncompressed.
_COMPRESS_MIN_BYTES = 1024


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


class StepFileWriter:
    """Writes the HDF5 files of one run directory.

    Args:
      run_dir: the run directory (a local path or any URL `fs` supports).
      dtype: storage dtype of floating arrays, "float32" or "float16".
      precision: "rounded" (float32 arrays rounded to MANTISSA_BITS mantissa bits, relative error
        <= 2**-(MANTISSA_BITS + 1)) or "exact" (lossless). Integer arrays are never rounded.
      codec: "zstd" (HDF5 filter 32015, readable with hdf5plugin) or "gzip" (HDF5's own deflate).
      compression_level: the codec's level (default CODEC_LEVELS[codec]); shuffle is always on.
      session: the logging session's id, stored in every file's root attribute `session` (default: a
        new one). A file another session wrote is never merged into: `write` refuses it.
    """

    def __init__(
        self, run_dir, dtype="float32", precision="rounded", codec="zstd", compression_level=None, session=None
    ):
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError("storage dtype must be float32 or float16, got %r" % (dtype,))
        if precision not in PRECISIONS:
            raise errors.ConfigurationError("precision must be 'rounded' or 'exact', got %r" % (precision,))
        if codec not in CODEC_LEVELS:
            raise errors.ConfigurationError("codec must be one of %s, got %r" % (sorted(CODEC_LEVELS), codec))
        self.run_dir = run_dir
        self.dtype = np.dtype(dtype)
        self.precision = precision
        self.codec = codec
        self.compression_level = CODEC_LEVELS[codec] if compression_level is None else int(compression_level)
        self.session = session or uuid.uuid4().hex
        register_filters()  # the declared Zstandard filter must be known to h5py
        fs.makedirs(fs.join(run_dir, STEP_FILES_DIR))

    def mantissa_bits(self, precision=None):
        """Mantissa bits kept in stored floats: MANTISSA_BITS when rounded, all of the storage dtype's when exact."""
        full = rounding.FLOAT32_MANTISSA_BITS if self.dtype == np.float32 else 10
        return min(full, MANTISSA_BITS) if (precision or self.precision) == "rounded" else full

    def write(self, relpath, arrays, attrs=None, precision=None):
        """Writes {dataset path: array} (and {group path: attrs}) atomically to relpath.

        If the file exists (the same step logged in two parts), its datasets
        are kept unless replaced; a file written by another session is refused
        (StepFileError), so no file mixes two trainings. `precision` overrides
        the writer's for this file. Returns the manifest of the written file.
        """
        if precision is not None and precision not in PRECISIONS:
            raise errors.ConfigurationError("precision must be 'rounded' or 'exact', got %r" % (precision,))
        final = fs.join(self.run_dir, relpath)
        existing = final if fs.exists(final) else None
        if existing:
            self._check_same_session(existing, relpath)
        raw_bytes = 0
        datasets = {}
        with tempfile.TemporaryDirectory(prefix="innspector-") as tmp_dir:
            local = os.path.join(tmp_dir, "step.h5")
            if fs.is_local(self.run_dir):
                # Write beside the target so the rename is atomic on the same filesystem.
                local = fs.local_path(final) + TEMP_MARK + uuid.uuid4().hex[:8]
            precision = precision or self.precision
            round_to = self.mantissa_bits(precision)  # what this write keeps
            mantissa_bits = round_to  # what the file says: the least of all its datasets
            try:
                with h5py.File(local, "w") as out:
                    out.attrs["format_version"] = FORMAT_VERSION
                    out.attrs[SESSION_ATTR] = self.session
                    if existing:
                        old = self._copy_existing(existing, out, skip=set(arrays))
                        # Datasets kept from the old file keep their precision: the file says the least.
                        if old.get("precision") == "rounded":
                            precision = "rounded"
                        mantissa_bits = min(mantissa_bits, int(old.get("mantissa_bits", mantissa_bits)))
                    out.attrs["precision"] = precision
                    out.attrs["mantissa_bits"] = mantissa_bits
                    compress = self._compressor()
                    arrays = {name: np.asarray(array) for name, array in arrays.items()}
                    sources = find_duplicates(arrays)
                    for name, array in arrays.items():
                        raw_bytes += array.size * 4 if array.dtype.kind == "f" else array.nbytes
                        if name in sources:
                            continue
                        self._dataset(out, name, array, compress, round_to)
                    for name, source in sources.items():
                        _link(out, name, source, arrays[name].shape)
                    for group, values in (attrs or {}).items():
                        target = out.require_group(group)
                        for key, value in values.items():
                            target.attrs[key] = value
                    datasets = describe_datasets(out) if existing else self._describe(arrays, sources)
                fs.publish(local, final, TEMP_MARK + uuid.uuid4().hex[:8])
            finally:
                if os.path.exists(local):
                    os.remove(local)
        return {
            "path": relpath,
            "bytes": fs.size(final),
            "raw_float32_bytes": int(raw_bytes),
            "dtype": self.dtype.name,
            "format_version": FORMAT_VERSION,
            "precision": precision,
            "mantissa_bits": mantissa_bits,
            "codec": self.codec,
            "session": self.session,
            "datasets": datasets,
        }

    def _check_same_session(self, path, relpath):
        """Refuses to merge into a file another logging session wrote (a resumed or concurrent run)."""
        with open_file(path) as old:
            written_by = old.attrs.get(SESSION_ATTR)
        if isinstance(written_by, bytes):
            written_by = written_by.decode("utf-8", "replace")
        if written_by != self.session:
            raise StepFileError(
                "%s exists, written by %s; it is not merged into (each logging session writes its own "
                "steps: a resumed run continues after the last step already logged)"
                % (relpath, "another logging session" if written_by else "an earlier writer")
            )

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

    def _compressor(self):
        """bytes -> compressed bytes, as the declared filter would store them; both codecs release the GIL."""
        if self.codec == "zstd":
            # One compressor per file: a ZstdCompressor must not be shared between threads.
            return zstandard.ZstdCompressor(level=self.compression_level, write_content_size=True).compress
        level = self.compression_level
        return lambda raw: zlib.compress(raw, level)

    def _filters(self, shuffle):
        """create_dataset's arguments declaring the filters whose output _compressor produces."""
        if self.codec == "zstd":
            return {"compression": ZSTD_FILTER_ID, "compression_opts": (self.compression_level,), "shuffle": shuffle}
        return {"compression": "gzip", "compression_opts": self.compression_level, "shuffle": shuffle}

    def _dataset(self, out, name, array, compress, mantissa_bits):
        if array.dtype.kind == "f":
            if array.dtype != self.dtype:
                array = array.astype(self.dtype)
            if mantissa_bits < rounding.FLOAT32_MANTISSA_BITS and array.dtype == np.float32:
                # The writer rounds, after the summary ops computed statistics on the logged values.
                array = rounding.round_mantissa(array, mantissa_bits)
        if array.dtype.kind not in "fiub":
            raise StepFileError("dataset %s: only numeric arrays are stored, got %s" % (name, array.dtype))
        if name in out:
            del out[name]
        parent = name.rpartition("/")[0]
        if parent in out and reshape_attr(name) in out[parent].attrs:
            del out[parent].attrs[reshape_attr(name)]  # it described the replaced link
        if array.nbytes < _COMPRESS_MIN_BYTES or array.ndim == 0:
            out.create_dataset(name, data=array)
            return
        chunks = chunk_shape(array.shape)
        shuffle = array.dtype.itemsize > 1
        dataset = out.create_dataset(
            name, shape=array.shape, dtype=array.dtype, chunks=chunks, **self._filters(shuffle)
        )
        # Compress here rather than in HDF5's filter pipeline: zlib and zstandard release the GIL,
        # h5py does not, so training threads keep running meanwhile. The chunks are exactly what
        # the declared filters (shuffle, then gzip or Zstandard) would store.
        for offset, data in _compressed_chunks(array, chunks, compress, shuffle):
            dataset.id.write_direct_chunk(offset, data)

    @staticmethod
    def _copy_existing(path, out, skip):
        """Copies the datasets of an existing file that are not replaced, keeping hard links as links.

        Returns the old file's root attributes.
        """
        with open_file(path) as old:
            first_name: dict[Any, str] = {}

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
            return dict(old.attrs)


def _compressed_chunks(array, chunks, compress, shuffle):
    """Yields (offset, bytes) of every chunk, byte-shuffled then compressed like HDF5's filters."""
    grid = [range(0, size, step) for size, step in zip(array.shape, chunks, strict=True)]
    for offset in itertools.product(*grid):
        block = array[tuple(slice(o, o + c) for o, c in zip(offset, chunks, strict=True))]
        if block.shape != tuple(chunks):  # HDF5 stores edge chunks full size
            padded = np.zeros(chunks, dtype=array.dtype)
            padded[tuple(slice(0, n) for n in block.shape)] = block
            block = padded
        raw = np.ascontiguousarray(block).view(np.uint8)
        if shuffle:
            raw = np.ascontiguousarray(raw.reshape(-1, array.dtype.itemsize).T)
        yield offset, compress(raw)


def find_duplicates(arrays):
    """Returns {name: source name} for arrays equal, value by value, to an earlier one.

    A Flatten, Reshape or Dropout layer outputs exactly its input's values:
    storing them twice would double the bytes and add nothing. Only equal
    dtype and size are compared in full, so the check costs little.
    """
    sources = {}
    seen: dict[tuple[Any, ...], list[str]] = {}
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


def _link(out, name, source, shape):
    """Stores `name` as a hard link to `source`; a different shape goes in the parent group's attrs."""
    parent, _, _ = name.rpartition("/")
    group = out.require_group(parent) if parent else out
    if name in out:
        del out[name]
    out[name] = out[source]
    if tuple(out[source].shape) != tuple(shape):
        group.attrs[reshape_attr(name)] = np.asarray(shape, dtype=np.int64)
