"""The backward walk: relevance from the attributed class score down to the input.

R starts as the score (the logit) of the class at its neuron, 0 elsewhere, and each step turns the
relevance of its output into the relevance of its inputs (layer_rules.py; rules.py for the linear
layers, chosen by composites.py). A tensor read by several layers sums what they send back.
"""

import tensorflow as tf

from innspector_tb.capture.relevance import canonize, composites, layer_rules, trace


def first_layers(steps, x):
    """ids of the steps of linear layers reached from the input through layers without weights only."""
    raw, first = {id(x)}, set()
    for step in steps:
        if not any(id(t) in raw for t in step.inputs):
            continue
        if step.kind == layer_rules.LINEAR:
            first.add(id(step))
        else:
            raw.add(id(step.output))
    return first


def relevance(graph, x, classes, method, options, bounds=None, final=None, strip=None):
    """R of x [n, ...] for the class of each row (classes [n]), and the scores [n, classes]."""
    scores, calls = trace.walk(graph, x, final, strip)
    steps = canonize.steps_of(calls, outputs=[scores], stripped=final if strip == "activation" else None)
    first = first_layers(steps, x)
    picked = tf.one_hot(tf.cast(classes, tf.int32), tf.shape(scores)[-1], dtype=scores.dtype) * scores
    rel = {id(scores): picked}
    for step in reversed(steps):
        r = rel.pop(id(step.output), None)
        if r is None:
            continue  # not on a path to the score
        if step.kind == layer_rules.LINEAR:
            layer = step.call.layer
            rule = composites.rule_for(method, layer_rules.is_convolution(layer), id(step) in first, options)
            x_in = step.inputs[0]
            r_in = [
                rule.relevance(
                    layer_rules.forward_of(layer), x_in, tf.cast(r, x_in.dtype), step.kernel, step.bias, bounds
                )
            ]
        elif step.kind in (layer_rules.MAXPOOL, layer_rules.MOVE):
            r_in = layer_rules.route(step.call, r)
        elif step.kind == layer_rules.AVGPOOL:
            r_in = layer_rules.proportional(step.call, r)
        elif step.kind == layer_rules.ADD:
            r_in = layer_rules.add(step.call, r)
        else:
            r_in = [r]
        for t, value in zip(step.inputs, r_in, strict=True):
            key = id(t)
            rel[key] = rel[key] + value if key in rel else value
    found = rel.get(id(x))
    return (tf.zeros_like(x) if found is None else tf.cast(found, x.dtype)), scores


def unsupported_reason(graph, example, final=None, strip=None):
    """None if relevance can pass every layer of the graph, else why not (walks one example eagerly)."""
    try:
        scores, calls = trace.walk(graph, tf.convert_to_tensor(example), final, strip)
        canonize.steps_of(calls, outputs=[scores], stripped=final if strip == "activation" else None)
    except canonize.Unsupported as e:
        return str(e)
    return None
