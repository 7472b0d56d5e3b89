"""The `graph` and `neurons` routes: a model's architecture (L2) and a layer's neurons under a class
selection (L1).

Plain functions over a BoundRunStore: checked request values in, a JSON-safe dict out, errors.NotFound
(404) or errors.BadRequest (400) raised. No HTTP here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from innspector_tb.analysis import neurons as neurons_lib
from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import class_selection, json_number, keep_param
from innspector_tb.store.run_store import BoundRunStore

MAX_K = 1000
MAX_CLASS_MAP_ELEMENTS = 500_000  # above it, a layer's per-class maps are left out of the answer


def graph(store: BoundRunStore, run: str | None) -> dict[str, Any]:
    """The L2 graph: layers with inner op graphs, edges, namespaces."""
    arch = store.architecture(store.require_run(run))
    return {"run": run, "architecture": arch}


def neurons(
    store: BoundRunStore,
    run: str | None,
    layer_id: str | None,
    step: int | None = None,
    classes: Any = None,
    k: int = neurons_lib.DEFAULT_K,
    keep: Any = None,
) -> dict[str, Any]:
    """The L1 data of a layer and its predecessor under a class selection (`classes` and `keep` as the
    request gives them: params.class_selection and params.keep_param check them)."""
    run = store.require_run(run)
    arch = store.architecture(run)
    layer = _layer(arch, layer_id)
    layer_id = str(layer["id"])  # found: the architecture's own id
    step = store.resolve_step(run, step)
    matrix, class_names, rows, layer_means = _means_at(store, run, layer_id, step, classes)
    previous_id = _predecessor(arch, layer_id)
    previous_means: np.ndarray | None = np.full(0, np.nan)
    if previous_id is not None:
        try:
            previous_means = _means_at(store, run, previous_id, step, classes)[3]
        except NotFound:
            previous_means = None  # e.g. an InputLayer: no activations logged
    signed = magnitude = None
    variables = [v.get("name") for v in layer.get("variables", [])]
    units_in = None if previous_means is None else previous_means.size
    notes = []
    kernel_step = None
    kernel = None
    if "kernel" in variables:
        # Weights rotate when the logging plan reduces them: the newest step file holding the kernel.
        try:
            dataset, kernel_step = store.weights_source(run, step, layer_id, "kernel")
        except NotFound:
            notes.append("no step file holds the kernel: weights left out")
        else:
            kernel = store.read(run, kernel_step, dataset)
            if kernel_step != step:
                notes.append("kernel from step %d" % kernel_step)
    if kernel is not None:
        # A kernel of fewer than 2 axes joins no units: aggregate_kernel refuses it (a 400), never a 500.
        units_in = kernel.shape[-2] if kernel.ndim >= 2 else (units_in or 0)
        if previous_means is None or previous_means.size != units_in:
            previous_means = np.full(units_in, np.nan)
        try:
            signed, magnitude = neurons_lib.aggregate_kernel(kernel, units_in, layer_means.size)
        except ValueError as e:
            raise BadRequest("layer %r: %s" % (layer_id, e)) from e
    if previous_means is None:
        previous_means = np.full(0, np.nan)
    kept = keep_param(keep, layer_means.size)
    view = neurons_lib.l1_view(layer_means, previous_means, signed, magnitude, k=k, keep=kept)
    result = {
        "run": run,
        "step": step,
        "layer": layer_id,
        "previous_layer": previous_id,
        "classes": class_names,
        "selected_classes": [class_names[r] for r in rows],
        "k": k,
        "neurons_by_classes": {
            "classes": class_names,
            "matrix": [[json_number(v) for v in row] for row in np.asarray(matrix, dtype=np.float64)],
        },
    }
    result.update(view)
    result["class_maps"] = _class_maps(
        store, run, step, layer_id, layer, rows, class_names, [n["index"] for n in view["layer"]["neurons"]]
    )
    # Logs with reduced data (docs/format.md): what the view rests on, and each neuron's spread.
    if store.plan(run, step) is not None:
        if result["class_maps"] is None and _image_shaped(layer):
            notes.append("no per-class maps stored for this layer")
        _add_unit_statistics(store, run, step, layer_id, result["layer"]["neurons"])
        if previous_id is not None:
            _add_unit_statistics(store, run, step, previous_id, result["previous"]["neurons"])
    if kernel_step is not None and kernel_step != step:
        result["kernel_step"] = kernel_step
    if notes:
        result["notes"] = notes
    return result


def _image_shaped(layer):
    shapes = layer.get("output_shapes") or []
    return bool(shapes) and len(shapes[0] or []) == 4


def _add_unit_statistics(store, run, step, layer_id, neurons):
    """std and zero_fraction of each neuron over the probe, from the step file's unit_statistics."""
    dataset = store.layer_dataset(layer_id, "unit_statistics")
    if store.dataset_shape(run, step, dataset) is None:
        return
    stats = np.asarray(store.read(run, step, dataset), dtype=np.float64)
    if stats.ndim != 2 or stats.shape[0] < 5:
        return
    for neuron in neurons:
        i = neuron["index"]
        if i < stats.shape[1]:
            neuron["std"] = json_number(stats[1, i])
            neuron["zero_fraction"] = json_number(stats[4, i])


def _layer(arch, layer_id):
    for layer in arch.get("layers", []):
        if layer.get("id") == layer_id:
            return layer
    raise NotFound("no layer %r in this model" % (layer_id,))


def _predecessor(arch, layer_id):
    for edge in arch.get("edges", []):
        if edge.get("to") == layer_id and edge.get("to_input", 0) == 0:
            return edge.get("from")
    return None


def _class_counts(store, run, classes):
    labels = store.labels(run)
    if labels is None:
        return np.ones(len(classes))
    counts = np.bincount(np.asarray(labels, dtype=np.int64).clip(min=0))
    return np.array([counts[int(c)] if int(c) < counts.size else 0 for c in classes], dtype=np.float64)


def _means_at(store, run, layer_id, step, rows_param):
    by_step, classes = store.class_means(run, layer_id)
    if step not in by_step:
        raise NotFound("run %r has no class means of %r at step %d" % (run, layer_id, step))
    rows = class_selection(rows_param, classes)
    counts = _class_counts(store, run, classes)
    return by_step[step], classes, rows, neurons_lib.selected_means(by_step[step], counts, rows)


def _class_maps(store, run, step, layer_id, layer, rows, class_names, kept, max_elements=MAX_CLASS_MAP_ELEMENTS):
    """Per-class mean maps [h, w] of the kept neurons of an image-shaped (4-D) activation."""
    shapes = layer.get("output_shapes") or []
    if not shapes or len(shapes[0] or []) != 4:
        return None
    height, width = shapes[0][1], shapes[0][2]
    if not height or not width or len(rows) * len(kept) * height * width > max_elements:
        return None
    maps = {}
    for row in rows:
        name = class_names[row]
        dataset = store.layer_dataset(layer_id, "mean_class_activations/class_%s" % name)
        if not store.has_dataset(run, step, dataset):
            continue  # a reduced layer keeps no per-class maps
        try:
            data = store.read(run, step, dataset)
        except NotFound:
            continue
        maps[name] = {str(i): [[json_number(v) for v in line] for line in data[..., i]] for i in kept}
    if not maps and store.plan(run, step) is not None:
        return None
    return maps
