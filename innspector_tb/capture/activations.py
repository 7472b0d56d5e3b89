"""Activations of every layer of a Keras model on a batch of samples.

Runs the model's own functional graph node by node and records each layer's
outputs, descending into nested models, so the ids match the architecture's
("encoder/dense_1"). Subclassed models and custom layers with sub-layers are
walked through their traced functional view (`tracing.py`); a subclassed model
that cannot be traced has no graph to walk: it yields no layer activations
(the caller notes it), never an error.
"""

import logging

import keras
import numpy as np
import tensorflow as tf

from innspector_tb.capture import tracing

logger = logging.getLogger("innspector_tb")


def functional_graph(model):
    """Returns the Functional object whose graph computes `model`, or None."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_run_through_graph"):
        return model
    trace = tracing.trace_of(model)
    return None if trace is None else trace.functional


def _as_input_tensors(graph, x):
    flat = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    if isinstance(x, dict):
        # Order dict inputs like the model's inputs, by input name.
        names = [t.name for t in graph.inputs]
        if all(name in x for name in names):
            flat = [x[name] for name in names]
    return [
        tf.convert_to_tensor(np.asarray(value), dtype=spec.dtype)
        for value, spec in zip(flat, graph.inputs, strict=False)
    ]


def is_attention(layer):
    """Keras' MultiHeadAttention (and its subclasses): its call can return the attention scores."""
    return isinstance(layer, keras.layers.MultiHeadAttention)


def _attend(op, args, kwargs, attend, layer_id):
    """Calls an attention layer asking for its scores too; hands them to attend(layer_id, scores)."""
    if kwargs.get("return_attention_scores"):  # the model asks for them itself: its graph expects the pair
        outputs = op(*args, **kwargs)
        attend(layer_id, outputs[1])
        return outputs
    outputs, scores = op(*args, **{**kwargs, "return_attention_scores": True})
    attend(layer_id, scores)
    return outputs


def _walk(graph, inputs, prefix, record, attend=None):
    """Runs `graph` on `inputs`, calling record(layer_id, outputs) for every layer call, and
    attend(layer_id, scores) with the attention scores of every attention layer when given."""

    def call(op, *args, **kwargs):
        trace = tracing.trace_of(op)
        inputs = None if trace is None else trace.inputs_of_call(args, kwargs)
        if trace is not None and inputs is not None:  # a custom layer or a subclassed model inside the graph
            return _walk(trace.functional, inputs, prefix + op.name + "/", record, attend)
        nested = functional_graph(op) if isinstance(op, keras.Model) else None
        if nested is not None:
            outputs = _walk(
                nested,
                list(args[0]) if isinstance(args[0], (list, tuple)) else [args[0]],
                prefix + op.name + "/",
                record,
                attend,
            )
        elif attend is not None and is_attention(op):
            outputs = _attend(op, args, kwargs, attend, prefix + op.name)
            record(prefix + op.name, outputs[0] if kwargs.get("return_attention_scores") else outputs)
        else:
            outputs = op(*args, **kwargs)
            record(prefix + op.name, outputs)
        return outputs

    return graph._run_through_graph(inputs, call_fn=call)


def layer_activations(model, x, layer_ids=None, batch_size=256):
    """Returns {layer_id: [output arrays]} for the first call of each layer (one-off, eager).

    Args:
      model: a built Keras model.
      x: the model's input (array, list or dict of arrays).
      layer_ids: ids to keep; all layers when None.
      batch_size: samples per forward pass, to bound memory on big probes.
    """
    return ActivationExtractor(model, layer_ids, compile=False)(x, batch_size=batch_size)[0]


class ActivationExtractor:
    """Layer activations and model outputs in one compiled pass per batch.

    The graph walk is traced once into a tf.function, so a logged step costs
    one graph call rather than one eager call per layer. If tracing fails (an
    unusual custom layer), it falls back to the eager walk. A model without a
    functional graph gives its outputs only.
    """

    def __init__(self, model, layer_ids=None, compile=True):
        self.model = model
        self.graph = functional_graph(model)
        self.wanted = None if layer_ids is None else set(layer_ids)
        self._compiled = None
        if compile and self.graph is not None:
            self._compiled = tf.function(self._run, reduce_retracing=True)

    def _run(self, inputs):
        records = {}

        def record(layer_id, outputs):
            if layer_id not in records and (self.wanted is None or layer_id in self.wanted):
                records[layer_id] = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

        outputs = _walk(self.graph, list(inputs), "", record)
        return records, flat_outputs(outputs)

    def _batch(self, batch):
        inputs = _as_input_tensors(self.graph, batch)
        if self._compiled is not None:
            try:
                return self._compiled(inputs)
            except Exception as e:  # tracing is an optimisation: fall back, once
                logger.info("iNNspector: compiled activation pass failed (%s); using the eager walk", e)
                self._compiled = None
        return self._run(inputs)

    def __call__(self, x, batch_size=512):
        """Returns ({layer_id: [arrays]}, [model output arrays]) over all samples of x."""
        if self.graph is None:
            return {}, predict(self.model, x, batch_size=batch_size)
        layer_parts: dict[str, list] = {}
        output_parts: list[list] = []
        for start in range(0, num_samples(x), batch_size):
            records, outputs = self._batch(_slice_inputs(x, start, start + batch_size))
            for layer_id, tensors in records.items():
                layer_parts.setdefault(layer_id, []).append([np.asarray(t) for t in tensors])
            output_parts.append([np.asarray(t) for t in outputs])
        layers = {
            layer_id: [np.concatenate(p, axis=0) for p in zip(*parts, strict=False)]
            for layer_id, parts in layer_parts.items()
        }
        return layers, [np.concatenate(p, axis=0) for p in zip(*output_parts, strict=False)]


def flat_outputs(outputs):
    """A model's outputs (a tensor, a list or a dict of them) as a list."""
    if isinstance(outputs, dict):
        return list(outputs.values())
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _slice_inputs(x, start, stop):
    if isinstance(x, dict):
        return {k: np.asarray(v)[start:stop] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [np.asarray(v)[start:stop] for v in x]
    return np.asarray(x)[start:stop]


def predict(model, x, batch_size=256):
    """Returns the model's outputs on x as a list of arrays (inference mode)."""
    arrays = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    n = int(np.asarray(arrays[0]).shape[0])
    parts = []
    for start in range(0, n, batch_size):
        out = model(_slice_inputs(x, start, start + batch_size), training=False)
        flat = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
        parts.append([np.asarray(o) for o in flat])
    return [np.concatenate(p, axis=0) for p in zip(*parts, strict=False)]


def num_samples(x):
    arrays = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    return int(np.asarray(arrays[0]).shape[0])
