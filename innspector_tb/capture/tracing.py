"""Functional views of subclassed models and custom layers, traced on symbolic inputs.

Keras 3 records a graph whenever layers are called on KerasTensors. Running a subclassed model's or a
custom layer's own `call` (not `__call__`, which would hide the inside behind one node) on fresh
`keras.Input`s therefore records its data flow with the same layer objects and the same variables, and
`keras.Model(inputs, outputs)` over it is a Functional: the architecture walks it like a nested model,
and the probe pass evaluates it to get every inner layer's output.

What is traced:
  - a subclassed model (not Functional, not Sequential), on inputs shaped like the probe (`prepare`)
    or like the shapes it was built with;
  - a custom layer (a class outside Keras) that holds sub-layers, on inputs shaped like its first call.
A trace is refused, and the object is shown as before, when its `call` cannot run on symbolic inputs
(data-dependent Python control flow, ops outside `keras.ops`, shapes only known at run time), when a
sub-layer holding variables is not called on the traced data flow (called on constants computed at trace
time, such as positions from `ops.arange`: the view would freeze its output), when a custom layer holds
variables of its own (they would belong to no layer), or when the traced graph does not run. `why_not`
says why, for the architecture's notes.

Traces are cached per object (weakly) and made in inference mode (`training=False` when `call` takes it).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import weakref
from typing import Any

import keras
import numpy as np

logger = logging.getLogger("innspector_tb")


class Untraceable(Exception):
    """Why an object has no traced view (a sentence for the architecture's notes)."""


@dataclasses.dataclass
class Trace:
    """A traced object's Functional and where its inputs sit among a call's arguments.

    positions: indices, in the flattened `(args, kwargs)` of a call, of the tensors that are the
      Functional's inputs (the call traced from a layer's first symbolic call); None for a model traced
      on the probe, whose inputs are the probe's arrays in order.
    """

    functional: Any
    positions: tuple[int, ...] | None = None
    arguments: int = 0  # flattened arguments of the traced call

    def inputs_of_call(self, args: tuple, kwargs: dict) -> list | None:
        """The Functional's inputs taken from the arguments of one call of the traced object; None for a
        call whose arguments are laid out unlike the traced one's (then the object is called whole)."""
        flat = keras.tree.flatten((args, kwargs))
        if self.positions is None:
            return flat
        return [flat[i] for i in self.positions] if len(flat) == self.arguments else None


_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # object -> Trace | Untraceable
_EXAMPLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> probe inputs


def prepare(model: Any, x: Any) -> None:
    """Traces a subclassed `model` on inputs shaped like `x` (the probe), building it first if needed.

    Called by the callback before the architecture is read. Any earlier trace of the model is dropped.
    """
    if not is_subclassed_model(model) or x is None:
        return
    if _EXAMPLES.get(model) is not None and _same_inputs(_EXAMPLES[model], x) and model in _TRACES:
        return  # a second fit() with the same probe: no new trace (each trace adds nodes to the sub-layers)
    _EXAMPLES[model] = x
    _TRACES.pop(model, None)
    if not model.built:
        # fit() has not built a subclassed model at train begin; the probe pass would build it on its
        # first call anyway (the same eager call on probe samples).
        try:
            model(_first_rows(x, 1), training=False)
        except Exception as e:
            _TRACES[model] = Untraceable("it cannot be called on the probe (%s)" % _first_line(e))


def trace_of(obj: Any) -> Trace | None:
    """The traced view of a subclassed model or a custom layer with sub-layers, or None."""
    if not _is_candidate(obj):
        return None
    found = _TRACES.get(obj)
    if found is None:
        try:
            found = _trace(obj)
        except Untraceable as e:
            found = e
        except Exception as e:  # whatever `call` raises on symbolic inputs
            found = Untraceable("its call does not run on symbolic inputs (%s)" % _first_line(e))
        _TRACES[obj] = found
        if isinstance(found, Untraceable):
            logger.info("iNNspector: %s '%s' is not traced: %s", type(obj).__name__, obj.name, found)
    return found if isinstance(found, Trace) else None


def why_not(obj: Any) -> str | None:
    """Why a candidate has no traced view (after `trace_of`), or None."""
    found = _TRACES.get(obj) if _is_candidate(obj) else None
    return str(found) if isinstance(found, Untraceable) else None


# ------------------------------------------------------------------ which objects


def is_subclassed_model(obj: Any) -> bool:
    return isinstance(obj, keras.Model) and not isinstance(obj, keras.Sequential) and not _is_functional(obj)


def is_custom_layer(obj: Any) -> bool:
    """A layer class defined outside Keras that holds layers of its own (what can open as a namespace)."""
    return (
        isinstance(obj, keras.layers.Layer)
        and not isinstance(obj, keras.Model)
        and not type(obj).__module__.startswith("keras")
        and bool(_sublayers(obj))
    )


def _is_candidate(obj: Any) -> bool:
    return is_subclassed_model(obj) or is_custom_layer(obj)


def _is_functional(obj: Any) -> bool:
    return any(c.__name__ == "Functional" and c.__module__.startswith("keras") for c in type(obj).__mro__)


def _sublayers(obj: Any) -> list:
    return list(obj._flatten_layers(include_self=False, recursive=False))


# ------------------------------------------------------------------ tracing


def _trace(obj: Any) -> Trace:
    nodes = getattr(obj, "_inbound_nodes", None) or []
    if nodes:  # called inside a graph: trace that call
        return _trace_call(obj, nodes[0].arguments)
    if isinstance(obj, keras.Model):  # the model being logged
        return _trace_model(obj)
    raise Untraceable("it was never called on symbolic inputs")


def _trace_call(obj: Any, arguments: Any) -> Trace:
    """Traces `obj.call` on fresh Inputs shaped like the KerasTensors of one recorded call."""
    tensors = list(arguments.keras_tensors)
    if any(getattr(t, "_keras_mask", None) is not None for t in tensors):
        # Keras hands a mask on to the layers inside the call; fresh Inputs carry none.
        raise Untraceable("its inputs carry a Keras mask, which a traced view would not hand on to its sub-layers")
    names = ["input"] if len(tensors) == 1 else ["input_%d" % i for i in range(len(tensors))]
    pairs = zip(tensors, names, strict=True)
    fresh = {id(t): keras.Input(batch_shape=t.shape, dtype=t.dtype, name=name) for t, name in pairs}
    args, kwargs = arguments.fill_in(fresh)
    outputs = _call(obj, args, dict(kwargs))
    inputs = [fresh[id(t)] for t in tensors]
    functional = _functional(obj, inputs, outputs)
    flat = keras.tree.flatten((arguments.args, arguments.kwargs))
    ids = [id(t) for t in tensors]
    positions = tuple(next(i for i, value in enumerate(flat) if id(value) == wanted) for wanted in ids)
    _check(obj, functional, [_zeros(t) for t in inputs])
    return Trace(functional, positions, len(flat))


def _trace_model(model: Any) -> Trace:
    """Traces a subclassed model on Inputs shaped like its probe (or its build shapes)."""
    if model in _EXAMPLES:
        example = _EXAMPLES[model]
        structure = _inputs_like(example)
    else:
        structure = _inputs_from_build_shapes(model)
        example = keras.tree.map_structure(_zeros, structure)
    outputs = _call(model, (structure,), {})
    functional = _functional(model, keras.tree.flatten(structure), outputs)
    _check(model, functional, [np.asarray(a) for a in keras.tree.flatten(_first_rows(example, 2))])
    return Trace(functional, None)


def _call(obj: Any, args: tuple, kwargs: dict) -> Any:
    """obj.call on symbolic arguments, in inference mode."""
    try:
        takes_training = "training" in inspect.signature(obj.call).parameters
    except (TypeError, ValueError):
        takes_training = False
    if takes_training:
        kwargs["training"] = False
    return obj.call(*args, **kwargs)


def _functional(obj: Any, inputs: list, outputs: Any) -> Any:
    flat = keras.tree.flatten(outputs)
    if not flat or not all(isinstance(t, keras.KerasTensor) for t in flat):
        raise Untraceable("its call returns values that do not depend on its inputs symbolically")
    if isinstance(outputs, (list, tuple)):
        outputs = list(outputs)
    return keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs, name=obj.name)


def _check(obj: Any, functional: Any, sample: list) -> None:
    """Refuses a view that would misrepresent `obj`: see the module docstring."""
    reached = {id(v) for op in functional.operations if isinstance(op, keras.layers.Layer) for v in op.weights}
    missed = [layer.name for layer in _sublayers(obj) if any(id(v) not in reached for v in layer.weights)]
    if missed:
        several = len(missed) > 1
        raise Untraceable(
            "its sub-layer%s %s %s not called on the data flow of its inputs (but on values computed "
            "from constants, or not at all), so a traced view would freeze %s"
            % (
                "s" if several else "",
                ", ".join(missed),
                "are" if several else "is",
                "their outputs" if several else "its output",
            )
        )
    own = list(getattr(obj, "_trainable_variables", [])) + list(getattr(obj, "_non_trainable_variables", []))
    if own and not isinstance(obj, keras.Model):
        raise Untraceable(
            "it holds variables of its own (%s), which would belong to none of its sub-layers"
            % ", ".join(str(v.name) for v in own)
        )
    try:
        functional(sample if len(sample) > 1 else sample[0], training=False)
    except Exception as e:
        raise Untraceable("its traced graph does not run (%s)" % _first_line(e)) from None


# ------------------------------------------------------------------ inputs


def _inputs_like(x: Any) -> Any:
    """Symbolic inputs shaped like the probe's arrays (any batch size), in the probe's structure."""
    if isinstance(x, dict):
        return {name: _input_like(value, str(name)) for name, value in x.items()}
    if isinstance(x, (list, tuple)):
        return [_input_like(value, "input_%d" % i) for i, value in enumerate(x)]
    return _input_like(x, "input")


def _input_like(value: Any, name: str) -> Any:
    array = np.asarray(value)
    dtype = keras.backend.floatx() if np.issubdtype(array.dtype, np.floating) else str(array.dtype)
    return keras.Input(batch_shape=(None,) + tuple(array.shape[1:]), dtype=dtype, name=name)


def _inputs_from_build_shapes(model: Any) -> Any:
    shapes = list((getattr(model, "_build_shapes_dict", None) or {}).values())
    if len(shapes) != 1:
        raise Untraceable("it is not built and no probe says what its inputs look like")
    shape = shapes[0]
    if _is_shape(shape):
        return keras.Input(batch_shape=(None,) + tuple(shape[1:]), name="input")
    if isinstance(shape, (list, tuple)) and all(_is_shape(s) for s in shape):
        return [keras.Input(batch_shape=(None,) + tuple(s[1:]), name="input_%d" % i) for i, s in enumerate(shape)]
    raise Untraceable("its inputs are not a tensor or a list of tensors")


def _same_inputs(a: Any, b: Any) -> bool:
    """Whether two probes give the same symbolic inputs (structure, shapes past the batch, dtypes)."""
    flat_a, flat_b = keras.tree.flatten(a), keras.tree.flatten(b)
    if len(flat_a) != len(flat_b) or (isinstance(a, dict) and not isinstance(b, dict)):
        return False
    for x, y in zip(flat_a, flat_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape[1:] != y.shape[1:] or x.dtype != y.dtype:
            return False
    return True


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value)


def _zeros(tensor: Any) -> np.ndarray:
    shape = tuple(1 if d is None else int(d) for d in tensor.shape)
    return np.zeros(shape, dtype=str(tensor.dtype))


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return "%s: %s" % (type(error).__name__, lines[0] if lines else "")


def _first_rows(x: Any, n: int) -> Any:
    if isinstance(x, dict):
        return {k: np.asarray(v)[:n] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [np.asarray(v)[:n] for v in x]
    return np.asarray(x)[:n]
