"""Writes what a probe pass computed (capture/probe_pass.py) and the logging plan of the step.

The statistics were computed in the graph: this only serialises. Event file: each layer output's
STATISTICS vector, its HISTOGRAM (fixed bins) and, with labels, its CLASS_MEANS matrix; the PLAN of the
step. Step file: the bulk arrays the plan keeps (`layers/<layer>/activations`, `pooled_activations`,
`sample_activations`, `mean_class_activations/class_<k>`, `unit_statistics`, an attention layer's
scores: capture/attention_scores.py) and `data_samples/subset`, the probe rows of the sample maps.
docs/format.md describes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from innspector_tb.capture import summary
from innspector_tb.capture.probe_pass import OutputResult
from innspector_tb.format import metadata, step_files
from innspector_tb.format.architecture import layer_h5_name

Kind = metadata.Kind
SUBSET_DATASET = "data_samples/subset"


def probe_outputs(
    outputs: Sequence[OutputResult], classes: Sequence[int] | None, subset: np.ndarray | None, step: int
) -> int:
    """Writes every layer output's statistics (event file) and bulk arrays (step file). Returns the count."""
    writer = summary._writer("probe_outputs")
    step = summary._step(step)
    bulk: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, Any]] = {}
    for output in outputs:
        unit = output.unit
        _tensor(metadata.STATS_TAG_PREFIX + unit, output.stats.stats, tf.float64, Kind.STATISTICS, unit, step)
        if output.stats.histogram is not None:
            _tensor(
                metadata.HISTOGRAM_TAG_PREFIX + unit, output.stats.histogram, tf.float64, Kind.HISTOGRAM, unit, step
            )
        if output.index == 0 and classes is not None and output.stats.class_means is not None:
            tf.summary.write(
                metadata.CLASS_MEANS_TAG_PREFIX + unit,
                tf.constant(output.stats.class_means.astype(np.float32)),
                step=step,
                metadata=metadata.create_summary_metadata(
                    Kind.CLASS_MEANS, unit=unit, unit_type="activations", class_names=list(classes)
                ),
            )
        group = step_files.layer_group(layer_h5_name(output.layer))
        attrs[group] = {"unit": output.layer}
        for name, array in output.bulk.items():
            bulk["%s/%s" % (group, name)] = array
    if subset is not None and any(name.rpartition("/")[2].startswith("sample_") for name in bulk):
        bulk[SUBSET_DATASET] = np.asarray(subset, dtype=np.int64)
    writer.add_bulk(step, bulk, attrs)
    return len(outputs)


def plan(plan_json: Mapping[str, Any], weights_logged: Sequence[str], step: int) -> None:
    """Writes the logging plan and which layers' full weights this step holds."""
    value = dict(plan_json, weights_logged=sorted(weights_logged))
    summary._write_json(metadata.PLAN_TAG, Kind.PLAN, value, summary._step(step))


def _tensor(tag, value, dtype, kind, unit, step):
    tf.summary.write(
        tag,
        tf.constant(np.asarray(value), dtype=dtype),
        step=step,
        metadata=metadata.create_summary_metadata(kind, unit=unit, unit_type="activations"),
    )
