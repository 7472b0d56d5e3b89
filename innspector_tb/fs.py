"""The one filesystem layer: every file of a run (what the callback and the importer write, what the
plugin reads from the logdir) goes through here.

Not through here: the package's own read-only data (the bundle in static/, data/layer_transitions.json,
the built-in tools/*.json, the tool declaration schema; `innspector_tb.resources` says where), read with
`open` and `os` from the installed package; a step file's local temporary copy before `publish`; and the
JSON tool folders (`server.json_tools`), read locally only, because confining them to the logdir resolves
symlinks with `os.path.realpath`.

Local paths (and file://) use the operating system directly. Any other URL (s3://, gs://, ram://, ...)
goes through the gfile TensorBoard itself reads the logdir with: TensorFlow's `tf.io.gfile` when
TensorFlow is already loaded in this process (the training process; it supports every filesystem
TensorFlow has), otherwise TensorBoard's TensorFlow-free gfile (s3 with boto3, other schemes with
fsspec). This module never imports TensorFlow itself: the serving side must stay light.

Remote files are read lazily: `open_read` fetches blocks by ranged reads (`block_cache.py`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Any

from innspector_tb import block_cache


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _gfile() -> Any:
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "io"):
        return tf.io.gfile
    from tensorboard.compat.tensorflow_stub.io import gfile

    return gfile


def _writing_gfile() -> Any:
    # Removing and renaming remote files needs TensorFlow's gfile (TensorBoard's stub only reads and
    # writes). Only the training process and the importer write; the serving side never gets here.
    import tensorflow as tf

    return tf.io.gfile


def join(path: str, *parts: str) -> str:
    if is_local(path):
        return os.path.join(path, *parts)
    return "/".join([path.rstrip("/")] + [p.strip("/") for p in parts])


def exists(path: str) -> bool:
    return os.path.exists(local_path(path)) if is_local(path) else bool(_gfile().exists(path))


def isdir(path: str) -> bool:
    return os.path.isdir(local_path(path)) if is_local(path) else bool(_gfile().isdir(path))


def listdir(path: str) -> list[str]:
    if is_local(path):
        return os.listdir(local_path(path))
    return [name.rstrip("/") for name in _gfile().listdir(path)]


def makedirs(path: str) -> None:
    if is_local(path):
        os.makedirs(local_path(path), exist_ok=True)
    else:
        _gfile().makedirs(path)


def remove(path: str) -> None:
    if is_local(path):
        os.remove(local_path(path))
    else:
        _writing_gfile().remove(path)


def size(path: str) -> int:
    if is_local(path):
        return os.stat(local_path(path)).st_size
    return int(_gfile().stat(path).length)


def open_read(path: str) -> IO[bytes]:
    """A seekable binary file for reading (h5py needs seek).

    A remote file is not downloaded: it is read lazily in blocks, fetched by ranged reads and cached
    (`block_cache.BlockCachedFile`), so reading one dataset of a step file fetches about that dataset.
    """
    if is_local(path):
        return open(local_path(path), "rb")
    read_range, close = _ranged_reader(path)
    try:
        length = size(path)
    except BaseException:
        close()
        raise
    return block_cache.BlockCachedFile(read_range, length, on_close=close, name=path)  # type: ignore[return-value]


def _ranged_reader(path: str) -> tuple[Callable[[int, int], bytes], Callable[[], object]]:
    """(read_range(offset, size), close) of a remote file, through the gfile TensorBoard reads it with."""
    gfile = _gfile()
    if not hasattr(gfile, "get_filesystem"):  # TensorFlow's gfile: its GFile seeks
        handle = gfile.GFile(path, "rb")

        def read_seeking(offset: int, count: int) -> bytes:
            handle.seek(offset)
            return bytes(handle.read(count))

        return read_seeking, handle.close
    filesystem = gfile.get_filesystem(path)
    if type(filesystem).__name__ == "FSSpecFileSystem":
        # TensorBoard's stub reads these schemes with fsspec: a ranged read of the same filesystem.
        import fsspec  # type: ignore[import-untyped]

        fsspec_fs, fsspec_path = fsspec.core.url_to_fs(path)
        return (lambda offset, count: bytes(fsspec_fs.cat_file(fsspec_path, start=offset, end=offset + count))), (
            lambda: None
        )

    def read_continuing(offset: int, count: int) -> bytes:
        # The stub's filesystems (s3 with boto3) read `size` bytes from a continuation token.
        token = {"byte_offset": offset, "opaque_offset": offset}
        data, _ = filesystem.read(path, binary_mode=True, size=count, continue_from=token)
        return bytes(data)[:count]

    return read_continuing, lambda: None


def write_bytes(path: str, data: bytes) -> None:
    """Writes a small file whole (not atomically; for a remote `path`, through TensorFlow's gfile)."""
    if is_local(path):
        with open(local_path(path), "wb") as f:
            f.write(data)
        return
    with _writing_gfile().GFile(path, "wb") as f:
        f.write(data)


def publish(local_file: str, path: str, temp_suffix: str) -> None:
    """Moves a finished local file to `path` atomically: a reader sees the old file or the whole new one.

    For a remote `path` the file is copied beside the target under `path + temp_suffix` and renamed.
    """
    if is_local(path):
        os.replace(local_file, local_path(path))
        return
    gfile = _writing_gfile()
    temp_remote = path + temp_suffix
    try:
        gfile.copy(local_file, temp_remote, overwrite=True)
        gfile.rename(temp_remote, path, overwrite=True)
    except BaseException:
        # A failed copy (a full bucket, a lost connection) leaves no temporary file behind.
        try:
            if gfile.exists(temp_remote):
                gfile.remove(temp_remote)
        except Exception:
            pass
        raise
