"""The forward walk of a model's functional graph, recording every leaf layer call.

Tensors are matched by identity: the graph hands the tensor a call returned to the calls that consume
it, so `id()` of the recorded input and output tensors links the calls (the records keep them alive).
Nested functional models are walked into. The final softmax (or sigmoid) is left out as the
Attributor does (`strip`): the recorded score is the logit.
"""

import dataclasses
from typing import Any

import keras

from innspector_tb.capture import activations as activations_lib


@dataclasses.dataclass
class Call:
    """One leaf layer call: the layer, its input tensors (flattened) and its output tensor."""

    layer: Any
    inputs: list
    output: Any
    args: tuple
    kwargs: dict

    def rerun(self, inputs):
        """The layer called again on other input tensors (same structure), in inference mode."""
        first = self.args[0]
        if isinstance(first, (list, tuple)):
            return self.layer(list(inputs), *self.args[1:], **self.kwargs)
        return self.layer(inputs[0], *self.args[1:], **self.kwargs)


def flat(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def walk(graph, x, final=None, strip=None, call_layer=None):
    """(the graph's output tensor, [Call] in topological order) of running `graph` on x.

    `final`, `strip`: the last op and how to leave its activation out ("input" or "activation", see
    attribution_setup._strip_mode). `call_layer(layer, args, kwargs)`: calls a layer (default: as is).
    """
    calls: list[Call] = []

    def run(layer, args, kwargs):
        return call_layer(layer, args, kwargs) if call_layer is not None else layer(*args, **kwargs)

    def call(op, *args, **kwargs):
        nested = activations_lib.functional_graph(op) if isinstance(op, keras.Model) else None
        if nested is not None:
            inner = list(args[0]) if isinstance(args[0], (list, tuple)) else [args[0]]
            return nested._run_through_graph(inner, call_fn=call)
        if getattr(op, "_call_has_training_arg", False):
            kwargs["training"] = False
        if op is final and strip == "input":
            return args[0]
        if op is final and strip == "activation":
            saved = op.activation
            op.activation = keras.activations.linear
            try:
                outputs = run(op, args, kwargs)
            finally:
                op.activation = saved
        else:
            outputs = run(op, args, kwargs)
        calls.append(Call(op, flat(args[0]) if args else [], outputs, args, dict(kwargs)))
        return outputs

    outputs = graph._run_through_graph([x], call_fn=call)
    return flat(outputs)[0] if not isinstance(outputs, dict) else list(outputs.values())[0], calls
