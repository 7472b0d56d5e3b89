"""Summary ops of iNNspector, in the style of `tf.summary` (public name; the code is in `capture/summary.py`).

Importing this module imports TensorFlow.
"""

from innspector_tb.capture.summary import (
    RunWriter,
    SummaryError,
    activations,
    architecture,
    attributions,
    create_file_writer,
    header,
    metrics,
    model_weights,
    predictions,
    runtime,
    samples,
    weights,
)

__all__ = [
    "RunWriter",
    "SummaryError",
    "activations",
    "architecture",
    "attributions",
    "create_file_writer",
    "header",
    "metrics",
    "model_weights",
    "predictions",
    "runtime",
    "samples",
    "weights",
]
