"""Runtime statistics of a Keras model: parameter counts, size on disk, inference time, memory."""

import os
import resource
import sys
import tempfile
import time

import numpy as np

from innspector_tb.capture import activations as activations_lib


def parameter_counts(model):
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    non_trainable = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": non_trainable, "total": trainable + non_trainable}


def save_size(model):
    """Bytes of the model saved as a .keras file; the weights file if the model cannot be saved whole.

    Returns (bytes, format). A subclassed model without get_config() cannot be
    saved as .keras; its weights still can.
    """
    with tempfile.TemporaryDirectory(prefix="innspector-size-") as tmp:
        path = os.path.join(tmp, "model.keras")
        try:
            model.save(path)
            return os.path.getsize(path), "keras"
        except Exception:
            path = os.path.join(tmp, "model.weights.h5")
            try:
                model.save_weights(path)
                return os.path.getsize(path), "weights.h5"
            except Exception:
                return None, None


def peak_memory_bytes():
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def timed_predict(model, x, batch_size=256):
    """Runs the model on x; returns (outputs, seconds per sample)."""
    start = time.perf_counter()
    outputs = activations_lib.predict(model, x, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    return outputs, elapsed / max(1, activations_lib.num_samples(x))
