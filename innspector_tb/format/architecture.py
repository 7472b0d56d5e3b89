"""The architecture JSON on disk: its version and the names its layers take in step files.

`capture/architecture.py` extracts it from a Keras model; everything that reads it needs only this.
"""

FORMAT_VERSION = 1


def layer_h5_name(layer_id: str) -> str:
    """HDF5 group name of a layer id: "encoder/dense_1" -> "encoder:dense_1" (one path segment)."""
    return layer_id.replace("/", ":")
