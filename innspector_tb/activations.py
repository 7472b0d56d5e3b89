"""Activations of every layer of a Keras model on a batch of samples.

Runs the model's own functional graph node by node and records each layer's
outputs, descending into nested models, so the ids match the architecture's
("encoder/dense_1"). A subclassed model has no graph to walk: it yields no
layer activations (the caller notes it), never an error.
"""

import numpy as np
import tensorflow as tf

import keras


def functional_graph(model):
    """Returns the Functional object whose graph computes `model`, or None."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_run_through_graph"):
        return model
    return None


def _as_input_tensors(graph, x):
    flat = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    if isinstance(x, dict):
        # Order dict inputs like the model's inputs, by input name.
        names = [t.name for t in graph.inputs]
        if all(name in x for name in names):
            flat = [x[name] for name in names]
    return [
        tf.convert_to_tensor(np.asarray(value), dtype=spec.dtype)
        for value, spec in zip(flat, graph.inputs)
    ]


def _walk(graph, inputs, prefix, record):
    """Runs `graph` on `inputs`, calling record(layer_id, outputs) for every layer call."""

    def call(op, *args, **kwargs):
        nested = functional_graph(op) if isinstance(op, keras.Model) else None
        if nested is not None:
            outputs = _walk(nested, list(args[0]) if isinstance(args[0], (list, tuple)) else [args[0]],
                            prefix + op.name + "/", record)
        else:
            outputs = op(*args, **kwargs)
            record(prefix + op.name, outputs)
        return outputs

    return graph._run_through_graph(inputs, call_fn=call)


def layer_activations(model, x, layer_ids=None, batch_size=256):
    """Returns {layer_id: [output arrays]} for the first call of each layer.

    Args:
      model: a built Keras model.
      x: the model's input (array, list or dict of arrays).
      layer_ids: ids to keep; all layers when None.
      batch_size: samples per forward pass, to bound memory on big probes.
    """
    graph = functional_graph(model)
    if graph is None:
        return {}
    wanted = None if layer_ids is None else set(layer_ids)
    arrays = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    n = int(np.asarray(arrays[0]).shape[0])
    chunks = {}
    for start in range(0, n, batch_size):
        batch = _slice_inputs(x, start, start + batch_size)
        seen = set()

        def record(layer_id, outputs):
            if layer_id in seen or (wanted is not None and layer_id not in wanted):
                return
            seen.add(layer_id)
            flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            chunks.setdefault(layer_id, []).append([np.asarray(o) for o in flat])

        _walk(graph, _as_input_tensors(graph, batch), "", record)
    return {
        layer_id: [np.concatenate(parts, axis=0) for parts in zip(*batches)]
        for layer_id, batches in chunks.items()
    }


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
    return [np.concatenate(p, axis=0) for p in zip(*parts)]


def num_samples(x):
    arrays = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    return int(np.asarray(arrays[0]).shape[0])
