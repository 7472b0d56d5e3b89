"""Writes the GRADIENT summaries of a logged step (format/gradients.py): one small vector per variable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from innspector_tb.capture import summary
from innspector_tb.format import gradients as gradients_lib
from innspector_tb.format import metadata


def write(values: Mapping[str, Sequence[float]], step: int) -> int:
    """Writes {"layer/variable": GRADIENT_FIELDS values} at `step`; returns how many."""
    step = summary._step(step)
    for unit, vector in values.items():
        tf.summary.write(
            gradients_lib.GRADIENT_TAG_PREFIX + unit,
            tf.constant(np.asarray(vector, dtype=np.float64)),
            step=step,
            metadata=metadata.create_summary_metadata(
                metadata.Kind.STATISTICS, unit=unit, unit_type=gradients_lib.UNIT_TYPE
            ),
        )
    return len(values)
