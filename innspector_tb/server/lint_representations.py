"""The lint's view of representations: for a layer and step, the analysis.representation_rank summary
of its activations on the probe, read from the step file (full activations, else pooled per unit; the
sample subset's maps are too few rows) or, for an input layer, of the probe inputs in samples.h5. The
collapse rules (analysis/lint/rules_collapse.py) ask for the steps they need through `reader`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from innspector_tb import errors
from innspector_tb.analysis import representation_rank
from innspector_tb.store import run_store, training_inputs

MAX_LAYER_BYTES = 64 * 2**20  # a layer output larger than this in its step file is not summarised


def reader(store: run_store.BoundRunStore, run: str, architecture: Any) -> Callable[[str, int], Any]:
    """A function (layer, step) -> summary or None, each answer cached with the run."""
    inputs = architecture.get("inputs") if isinstance(architecture, dict) else None
    input_names = [n for n in inputs if isinstance(n, str)] if isinstance(inputs, list) else []

    def dataset_of(layer: str, step: int) -> tuple[int | None, str] | None:
        if layer in input_names:
            index = input_names.index(layer)
            base = training_inputs.INPUT_DATASET
            return None, base if index == 0 else "%s_%d" % (base, index)
        try:
            source = store.activation_source(run, step, layer)
        except errors.NotFound:
            return None
        if source.form == run_store.SAMPLES:
            return None
        return step, source.dataset

    def summary(layer: str, step: int) -> Any:
        def compute():
            where = dataset_of(layer, step)
            if where is None:
                return None
            try:
                rows = (slice(0, representation_rank.MAX_SAMPLES),)
                data = store.read(run, where[0], where[1], rows, max_bytes=MAX_LAYER_BYTES)
            except (errors.NotFound, errors.BadRequest):
                return None
            if data.dtype.kind not in "fiu":
                return None
            return representation_rank.summarize(data)

        return store._cached(run, ("representation", layer, int(step)), compute)

    return summary
