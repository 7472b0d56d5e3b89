"""The probe pass of a logged step: the model on the probe, statistics of every unit computed in the graph.

One compiled function per batch walks the model's functional graph (`activations._walk`), and for every
logged layer output computes `unit_stats.batch_moments` where the activations are. Only what is small or
what the plan keeps leaves the device: per-unit moments, pooled per-sample vectors, histogram counts over
each output's fixed edges, per-class sums, and the bulk arrays the logging plan asks for (full arrays,
the maps of the subset samples, per-class sums of full maps). The host merges the batches
(`unit_stats.Accumulator`) and hands the writer finished arrays: it only serialises.

Histogram edges are fixed at step 0 (that pass runs twice: once to see the range, once to count) and
extended when values leave them, so the histograms of one unit share their bins over training.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from innspector_tb.capture import activations as activations_lib
from innspector_tb.capture import attention_scores, backend_ops, unit_stats
from innspector_tb.capture import plan as plan_lib
from innspector_tb.format import stats as stats_lib

logger = logging.getLogger("innspector_tb")

UNIT_STATISTICS_ROWS = ("mean", "std", "min", "max", "zero_fraction")
MAX_BATCH = 256
# The activations of every logged layer for one probe batch, float32. A ResNet50 at 32x32 has 3 MB of
# them per sample: 256 samples at once would hold 780 MB (and more on the way through the graph), which
# is most of the callback's peak memory. The statistics' many passes are also faster on smaller tensors.
BATCH_ACTIVATION_BYTES = 256 * 2**20
# The pass is compiled as one function for the walk plus one per distinct output signature for the
# statistics. Against one function over everything, on a ResNet50 at 32x32 with a 512-sample probe
# (bench/probe_trace.py): the first call (the trace) 4.9x faster (12 s against 59 s), its peak memory growth
# 2.3x smaller (618 MB against 1,435 MB); a traced call 1.3x as long one output at a time (2.8 s against
# 2.1 s), 2.3 s to 2.4 s with STATISTICS_THREADS.
COMPILE_PER_OUTPUT = True
# Outputs whose statistics run at once: TensorFlow releases the interpreter lock while a function runs, and
# one function over everything ran independent layers' statistics side by side. 1.4x faster than one at a
# time on a ResNet50 on 2 cores; on more cores, TensorFlow's own threads split each one's large ops.
STATISTICS_THREADS = 2
# The walk and the statistics branch on Python values only (layers, shapes, the plan), so the pass needs no
# AutoGraph, which Keras layers' calls never get inside a tf.function anyway (Keras' own training step fails
# on a layer branching on a tensor in Python, as this pass does); converting our code cost a quarter of the
# trace time (bench/probe_trace.py).
AUTOGRAPH = False


def batch_size_for(sample_bytes: int) -> int:
    """Probe samples per compiled call: a power of two, at most MAX_BATCH, whose activations (all logged
    layers, `sample_bytes` per sample) fit BATCH_ACTIVATION_BYTES; at least 1."""
    if sample_bytes <= 0:
        return MAX_BATCH
    fits = max(1, BATCH_ACTIVATION_BYTES // int(sample_bytes))
    return min(MAX_BATCH, 1 << (int(fits).bit_length() - 1))


@dataclasses.dataclass
class OutputResult:
    """What one layer output gives a logged step: its statistics and its bulk arrays (by dataset name)."""

    layer: str
    index: int  # output index of the layer (0 for the usual single output)
    stats: unit_stats.UnitStats
    bulk: dict[str, np.ndarray]

    @property
    def unit(self) -> str:
        return "%s/%s" % (self.layer, _name("activations", self.index))


@dataclasses.dataclass
class ProbeResult:
    outputs: list[OutputResult]
    predictions: list[np.ndarray]
    subset: np.ndarray  # probe rows of the `sample_activations` datasets


def _name(base: str, index: int) -> str:
    return base if index == 0 else "%s_%d" % (base, index)


def _key(layer_id: str, index: int) -> str:
    return "%s#%d" % (layer_id, index)


class ProbePass:
    """Runs a model on its probe and returns a ProbeResult, by the logging plan.

    Args:
      model: a built Keras model with a functional graph (else only predictions are returned).
      layer_ids: the layers to log.
      plan: the logging plan (capture/plan.py); None keeps everything in full.
      labels: the row of each probe sample's class in the per-class results, in [0, num_classes)
        (negative: none), or None.
      num_classes: rows of the per-class results.
      class_values: the class label of each row, for dataset names (default 0..num_classes-1).
      output_counts: outputs of each logged layer (from the architecture). With them the pass is traced
        once, with a fixed signature: a ResNet50's walk with statistics takes tens of seconds to trace.
      batch_size: probe samples per compiled call.
    """

    def __init__(
        self,
        model: Any,
        layer_ids: Sequence[str],
        plan: plan_lib.Plan | None = None,
        labels: np.ndarray | None = None,
        num_classes: int = 0,
        batch_size: int = MAX_BATCH,
        histogram_bins: int = stats_lib.DEFAULT_BINS,
        class_values: Sequence[int] | None = None,
        output_counts: dict[str, int] | None = None,
    ) -> None:
        self.model = model
        self.graph = activations_lib.functional_graph(model)
        self.wanted = set(layer_ids)
        self.plan = plan
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.num_classes = int(num_classes) if self.labels is not None else 0
        self.class_values = list(class_values) if class_values is not None else list(range(self.num_classes))
        self.batch_size = int(batch_size)
        self.histogram_bins = int(histogram_bins)
        self.subset = np.asarray(plan.subset if plan is not None else (), dtype=np.int64)
        self.edges: dict[str, unit_stats.HistogramEdges] = {}
        self.keys = (
            [_key(layer_id, j) for layer_id in layer_ids for j in range(max(1, output_counts.get(layer_id, 1)))]
            if output_counts is not None
            else None
        )
        self._stepped = False
        self._moments: Any = unit_stats.batch_moments
        self._compiled: Any = None
        if self.graph is not None and backend_ops.is_jax():
            # Layers run on jax arrays: JAX compiles the walk (one trace: batches padded to batch_size); the
            # statistics (keras.ops, so jax ops here, and a few TensorFlow ops) run on its outputs, outside it:
            # they cannot be one tf.function (keras.ops are not TensorFlow ops under JAX) nor one jax.jit
            # (boolean masks have data-dependent shapes). See backend_ops.py.
            self._walk_names: tuple[list[str], list[str]] = ([], [])
            self._jax_walk = backend_ops.compile_with_state(model.variables, self._walk_arrays, self.batch_size)
            self._compiled = self._run_jax
            # batch_moments is keras.ops only: jitted, it is no longer most of the eager statistics' time.
            self._moments = backend_ops.unit_moments_jit()
        elif self.graph is not None:
            # Two kinds of compiled functions rather than one over everything: the walk (the model's forward
            # pass, returning every logged output) and the statistics of one output, traced once per output
            # signature (a ResNet50 has 176 logged outputs but few distinct shapes). One function over the
            # walk and every output's statistics took a minute to trace for a ResNet50 and its graph, held
            # while tracing and optimising, set the training process's peak memory.
            self._walk_names = ([], [])
            self._compiled_walk = tf.function(
                self._walk_arrays, input_signature=[self._input_signature()], autograph=AUTOGRAPH
            )
            self._output_functions: dict[tuple, Any] = {}
            self._pool: concurrent.futures.ThreadPoolExecutor | None = None
            self._compiled = self._run_split if COMPILE_PER_OUTPUT else self._one_function()

    def _one_function(self):
        """The whole pass as one compiled function (COMPILE_PER_OUTPUT off; kept to measure against)."""
        if self.keys is None:
            return tf.function(self._run, reduce_retracing=True, autograph=AUTOGRAPH)
        edges = {key: tf.TensorSpec([None], tf.float32) for key in self.keys}
        signature = [self._input_signature(), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.bool), edges]
        return tf.function(self._run, input_signature=signature, autograph=AUTOGRAPH)

    def _input_signature(self):
        """Batch of any size: one trace for every step."""
        return [tf.TensorSpec((None,) + tuple(spec.shape[1:]), spec.dtype) for spec in self.graph.inputs]

    def layer_plan(self, layer_id: str) -> plan_lib.LayerPlan:
        if self.plan is None or layer_id not in self.plan.layers:
            return plan_lib.LayerPlan(plan_lib.FULL, False, True)
        return self.plan.layers[layer_id]

    # -- device half -----------------------------------------------------------------------------------

    def _run(self, inputs, labels, in_subset, edges):
        records, attended, flat = self._walk(inputs)
        return self._statistics(records, attended, labels, in_subset, edges), flat

    def _run_jax(self, inputs, labels, in_subset, edges):
        """The JAX backend's pass: the walk jitted by JAX, then the statistics on its outputs."""
        records, attended, flat = self._jax_walk(inputs)
        names, attended_names = self._walk_names
        records, attended = list(zip(names, records, strict=True)), list(zip(attended_names, attended, strict=True))
        return self._statistics(records, attended, labels, in_subset, edges), flat

    def _walk_arrays(self, inputs):
        """The walk's results without their layer ids (a jitted function returns arrays only); the ids are
        kept at trace time, in the walk's order."""
        records, attended, flat = self._walk(inputs)
        self._walk_names = ([k for k, _ in records], [k for k, _ in attended])
        return [v for _, v in records], [v for _, v in attended], flat

    def _walk(self, inputs):
        """(outputs of each logged layer, attention scores of each logged attention layer, model outputs)."""
        records: dict[str, list] = {}
        attended: dict[str, Any] = {}

        def record(layer_id, outputs):
            if layer_id not in records and layer_id in self.wanted:
                records[layer_id] = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

        def attend(layer_id, scores):
            if layer_id not in attended and layer_id in self.wanted:
                attended[layer_id] = scores

        outputs = activations_lib._walk(self.graph, list(inputs), "", record, attend)
        # Pairs in the walk's order, not dicts: a jitted function's dicts come back sorted by key, and the
        # writer keeps the first of equal arrays (a Flatten's input) and links the later ones to it.
        return list(records.items()), list(attended.items()), activations_lib.flat_outputs(outputs)

    def _run_split(self, inputs, labels, in_subset, edges):
        """The TensorFlow backend's pass: the compiled walk, then each output's compiled statistics."""
        records, attended, flat = self._compiled_walk(inputs)
        names, attended_names = self._walk_names
        scores_of = dict(zip(attended_names, attended, strict=True))
        calls = []
        for layer_id, tensors in zip(names, records, strict=True):
            for index, tensor in enumerate(tensors):
                key = _key(layer_id, index)
                scores = scores_of.get(layer_id) if index == 0 else None
                options = self._output_options(layer_id, index, scores is not None)
                function = self._output_function(options, tensor, scores)
                arguments = [tensor, labels, in_subset, edges.get(key, _PROVISIONAL_EDGES)]
                calls.append((key, function, arguments + ([] if scores is None else [scores])))
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(STATISTICS_THREADS, "innspector-statistics")
        # In the pool's order: results (and their merge on the host) come in the walk's order.
        values = list(self._pool.map(lambda call: call[1](*call[2]), calls))
        return {call[0]: value for call, value in zip(calls, values, strict=True)}, flat

    def _output_function(self, options, tensor, scores):
        """The compiled statistics of outputs like `tensor` (shape past the batch, dtype) with `options`."""
        signature = (options, _spec(tensor), None if scores is None else _spec(scores))
        if signature not in self._output_functions:
            specs = [signature[1], tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.bool)]
            specs.append(tf.TensorSpec([None], tf.float32))
            if scores is not None:
                specs.append(signature[2])
            # A partial, not a closure: TensorFlow counts retracing per Python code object and would warn
            # about "excessive retracing" after five signatures of one closure; each partial counts alone.
            statistics = functools.partial(self._compiled_statistics, options)
            # The concrete function: calling it skips tf.function's dispatch (binding and matching the
            # arguments), a third of the calls' time with 176 outputs per batch.
            function = tf.function(statistics, input_signature=specs, autograph=AUTOGRAPH)
            self._output_functions[signature] = function.get_concrete_function()
        return self._output_functions[signature]

    def _compiled_statistics(self, options, tensor, labels, in_subset, edges, *scores):
        return self._output_arrays(options, tensor, scores[0] if scores else None, labels, in_subset, edges)

    def _output_options(self, layer_id: str, index: int, attended: bool) -> tuple[bool, bool, bool, bool]:
        """What the plan keeps of one output: (full arrays, subset maps, class maps, attention scores)."""
        layer_plan = self.layer_plan(layer_id)
        return (
            layer_plan.activations == plan_lib.FULL,
            bool(layer_plan.sample_maps and self.subset.size),
            bool(layer_plan.class_maps and self.num_classes and index == 0),
            attended,
        )

    def _output_arrays(self, options, tensor, scores, labels, in_subset, edges):
        """(moments, bulk arrays) of one layer output of one batch, by its `_output_options`."""
        full, sample_maps, class_maps, attended = options
        moments = self._moments(tensor, labels if self.num_classes else None, self.num_classes, edges)
        bulk = {}
        if full:
            bulk["full"] = tensor
        if sample_maps:
            bulk["samples"] = tf.boolean_mask(tensor, in_subset)
        if class_maps:
            bulk["class_sum"] = _class_sums(tensor, labels, self.num_classes)
        if attended:
            arrays = attention_scores.device_arrays(
                scores, full, in_subset if self.subset.size else None, labels, self.num_classes, _class_sums
            )
            bulk.update({ATTENTION_PART + part: value for part, value in arrays.items()})
        return moments, bulk

    def _statistics(self, records, attended, labels, in_subset, edges):
        """{output key: (moments, bulk arrays)} of the walk's outputs, by the plan (eager or JAX)."""
        scores_of = dict(attended)
        results = {}
        for layer_id, tensors in records:
            for index, tensor in enumerate(tensors):
                scores = scores_of.get(layer_id) if index == 0 else None
                options = self._output_options(layer_id, index, scores is not None)
                key = _key(layer_id, index)
                results[key] = self._output_arrays(options, tensor, scores, labels, in_subset, edges.get(key))
        return results

    # -- host half -------------------------------------------------------------------------------------

    def __call__(self, x: Any) -> ProbeResult:
        if self.graph is None:
            return ProbeResult([], activations_lib.predict(self.model, x, batch_size=self.batch_size), self.subset)
        first_step = not self._stepped
        self._stepped = True
        result = self._pass(x)
        if first_step:
            # Step 0: the pass saw the range; fix every output's edges. Outputs kept in full are counted
            # here; a second pass (it advances random layers such as a VAE's sampling) only if others remain.
            for output in result.outputs:
                self._edges_of(output).extend(output.stats.observed_min, output.stats.observed_max)
            if all(self._host_histogram(output) for output in result.outputs):
                return result
            result = self._pass(x)
        for output in result.outputs:
            if output.stats.under or output.stats.over:
                self._edges_of(output).extend(output.stats.observed_min, output.stats.observed_max)
        return result

    def _host_histogram(self, output: OutputResult) -> bool:
        """Counts a full output's histogram over its fixed edges on the host; False if it is not kept in full."""
        full = output.bulk.get(_name("activations", output.index))
        edges = self._edges_of(output).edges
        if full is None or edges is None:
            return full is not None  # no finite value: no histogram, nothing to count
        values = np.asarray(full, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        counts, _ = np.histogram(values, bins=np.asarray(edges, dtype=np.float64))
        output.stats.histogram = unit_stats._tensorboard_histogram(
            np.asarray(edges, dtype=np.float64), counts, 0, 0, output.stats.observed_min, output.stats.observed_max
        )
        return True

    def _edges_of(self, output: OutputResult) -> unit_stats.HistogramEdges:
        key = _key(output.layer, output.index)
        if key not in self.edges:
            self.edges[key] = unit_stats.HistogramEdges(bins=self.histogram_bins)
        return self.edges[key]

    def _pass(self, x: Any) -> ProbeResult:
        n = activations_lib.num_samples(x)
        labels = self.labels if self.labels is not None else np.zeros(n, dtype=np.int64)
        subset_mask = np.zeros(n, dtype=bool)
        subset_mask[self.subset[self.subset < n]] = True
        edges = {key: tf.constant(e.edges, dtype=tf.float32) for key, e in self.edges.items() if e.edges is not None}
        if self.keys is not None:  # the fixed signature: every output has edges (step 0 counts into any)
            edges = {key: edges.get(key, _PROVISIONAL_EDGES) for key in self.keys}
        accumulators: dict[str, unit_stats.Accumulator] = {}
        bulk: dict[str, dict[str, list]] = {}
        predictions = []
        for start in range(0, n, self.batch_size):
            stop = min(n, start + self.batch_size)
            inputs = activations_lib._as_input_tensors(self.graph, activations_lib._slice_inputs(x, start, stop))
            batch_labels = tf.constant(labels[start:stop].astype(np.int32))
            records, outputs = self._call(inputs, batch_labels, tf.constant(subset_mask[start:stop]), edges)
            for key, (moments, arrays) in records.items():
                if key not in accumulators:
                    # Per-sample pooled vectors only where the plan keeps them: those of every layer of a
                    # ResNet50 at 32x32 are 180 MB over a 512-sample probe.
                    pooled = self.layer_plan(key.rpartition("#")[0]).activations == plan_lib.POOLED
                    accumulators[key] = unit_stats.Accumulator(keep_pooled=pooled)
                accumulators[key].add(moments)
                for name, value in arrays.items():
                    bulk.setdefault(key, {}).setdefault(name, []).append(np.asarray(value))
            predictions.append([np.asarray(o) for o in outputs])
        results = []
        for key, accumulator in accumulators.items():
            layer_id, _, index = key.rpartition("#")
            results.append(self._finish(layer_id, int(index), accumulator.finalize(), bulk.get(key, {}), labels))
        merged = [np.concatenate(parts, axis=0) for parts in zip(*predictions, strict=False)] if predictions else []
        return ProbeResult(results, merged, self.subset)

    def _call(self, inputs, labels, in_subset, edges):
        if self._compiled is not None:
            try:
                return self._compiled(inputs, labels, in_subset, edges)
            except Exception as e:  # tracing is an optimisation: fall back to eager, once
                logger.info("iNNspector: compiled probe pass failed (%s); running it eagerly", e)
                self._compiled = None
        return self._run(inputs, labels, in_subset, edges)

    def _finish(self, layer_id, index, stats, parts, labels) -> OutputResult:
        layer_plan = self.layer_plan(layer_id)
        bulk: dict[str, np.ndarray] = {}
        if "full" in parts:
            bulk[_name("activations", index)] = np.concatenate(parts["full"], axis=0)
        elif layer_plan.activations == plan_lib.POOLED and stats.pooled is not None:
            bulk[_name("pooled_activations", index)] = stats.pooled
        if "samples" in parts:
            bulk[_name("sample_activations", index)] = np.concatenate(parts["samples"], axis=0)
        if "class_sum" in parts:
            sums = np.sum(parts["class_sum"], axis=0)
            counts = np.bincount(labels[labels >= 0], minlength=self.num_classes)[: self.num_classes]
            for c in range(self.num_classes):
                if counts[c]:
                    name = "mean_class_activations/class_%d" % self.class_values[c]
                    bulk[name] = (sums[c] / counts[c]).astype(np.float32)
        if index == 0:
            bulk.update(self._attention_arrays(parts, labels))
        bulk[_name("unit_statistics", index)] = np.stack(
            [stats.unit_mean, stats.unit_std, stats.unit_min, stats.unit_max, stats.unit_zero_fraction]
        ).astype(np.float32)
        return OutputResult(layer_id, index, stats, bulk)

    def _attention_arrays(self, parts, labels) -> dict[str, np.ndarray]:
        """An attention layer's datasets (capture/attention_scores.py) from its batches' parts."""
        arrays: dict[str, np.ndarray] = {}
        for part, name in ATTENTION_DATASETS.items():
            if ATTENTION_PART + part in parts:
                arrays[name] = np.concatenate(parts[ATTENTION_PART + part], axis=0).astype(np.float32)
        if ATTENTION_PART + "class_sum" in parts:
            sums = np.sum(parts[ATTENTION_PART + "class_sum"], axis=0)
            counts = np.bincount(labels[labels >= 0], minlength=self.num_classes)[: self.num_classes]
            for c in range(self.num_classes):
                if counts[c]:
                    name = "mean_class_attention/class_%d" % self.class_values[c]
                    arrays[name] = (sums[c] / counts[c]).astype(np.float32)
        return arrays


ATTENTION_PART = "attention:"
ATTENTION_DATASETS = {
    "entropy": "attention_entropy",
    "full": "attention_scores",
    "samples": "sample_attention_scores",
}
_PROVISIONAL_EDGES = tf.constant([-1.0, 1.0], dtype=tf.float32)


def _spec(tensor) -> tf.TensorSpec:
    """A tensor's spec with any batch size."""
    return tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype)


def _class_sums(tensor, labels, num_classes):
    """Per-class sums of full maps, [num_classes, *map shape]; samples without a class are dropped."""
    ids = tf.cast(labels, tf.int32)
    valid = tf.logical_and(ids >= 0, ids < num_classes)
    ids = tf.where(valid, ids, num_classes)
    sums = tf.math.unsorted_segment_sum(tf.cast(tensor, tf.float32), ids, num_classes + 1)
    return sums[:num_classes]
