"""Extracts the architecture of a Keras 3 model as a JSON-serialisable dict.

Pure extraction: reads the model's layer objects and Keras' graph bookkeeping
(inbound nodes, tensor histories) and never calls or evaluates anything.
Nested models become namespaces whose leaf layers are wired directly to the
outer graph. Subclassed models and custom layers holding sub-layers are read
through their traced functional view (`tracing.py`): a custom layer becomes a
namespace like a nested model. What cannot be traced degrades with a note: a
subclassed model to a plain layer list, a custom layer to one opaque layer.
See ``extract_architecture`` for the output schema (format version 1).
"""

import dataclasses
import logging

import keras

from innspector_tb.capture import layer_details, tracing
from innspector_tb.format.architecture import FORMAT_VERSION
from innspector_tb.format.inner_ops import build_inner_graph

LOGGER = logging.getLogger("innspector_tb")


def extract_architecture(model):
    """The architecture of `model` as a dict (format version 1)."""
    walk = _Walker(model)
    walk.run()
    arch = _Assembler(walk).build()
    for note in arch["model"]["notes"]:
        LOGGER.warning(note)
    return arch


def iter_leaf_layers(model):
    """(layer id, layer) for every leaf layer, in graph order, shared ones once.

    InputLayers are excluded, and so are raw keras.ops operations (e.g. the
    ``add`` created by ``x + y`` on symbolic tensors): they appear in the
    architecture's "layers" (module "keras.ops") but are not Layer objects.
    """
    walk = _Walker(model)
    walk.run()
    return [
        (leaf.id, leaf.obj)
        for leaf in walk.leaves.values()
        if isinstance(leaf.obj, keras.layers.Layer) and not isinstance(leaf.obj, keras.layers.InputLayer)
    ]


def layer_variable_names(layer):
    """Names of `layer.weights`, in order, made unique within the layer.

    Usually the plain variable name ("kernel"); wrappers holding several
    sublayers with equally named variables (Bidirectional) get the path
    below the layer ("forward_lstm/lstm_cell/kernel").
    """
    weights = list(layer.weights)
    plain = [v.name for v in weights]
    names = list(plain)
    prefix = (getattr(layer, "path", None) or "") + "/"
    for i, v in enumerate(weights):
        if plain.count(v.name) > 1 and str(v.path).startswith(prefix):
            names[i] = str(v.path)[len(prefix) :]
    for i, name in enumerate(names):  # still clashing: number them
        if names[:i].count(name):
            names[i] = f"{name}_{names[:i].count(name) + 1}"
    return names


# ------------------------------------------------------------------ model kinds


def _is_functional(obj):
    return any(cls.__name__ == "Functional" and cls.__module__.startswith("keras") for cls in type(obj).__mro__)


def _graph_of(model):
    """The Functional holding `model`'s data-flow graph (traced for a subclassed model or a custom
    layer with sub-layers), or None."""
    if _is_functional(model):
        return model
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)  # None until built
    trace = tracing.trace_of(model)
    return None if trace is None else trace.functional


def _own_node_indices(graph, op):
    """Indices of op's inbound nodes that belong to `graph` (not other models)."""
    return [i for i in range(len(op._inbound_nodes)) if f"{id(op)}_ib-{i}" in graph._nodes]


def _join(namespace, name):
    return f"{namespace}/{name}" if namespace else name


def _tracked_layers(model):
    try:
        return list(model.layers)
    except Exception:
        return list(model._flatten_layers(include_self=False, recursive=False))


# ------------------------------------------------------------------ walking


@dataclasses.dataclass
class _Leaf:
    id: str
    obj: object
    namespace: str
    call_keys: list = dataclasses.field(default_factory=list)
    first_node: object = None  # Keras Node of the first call, for shapes

    def call_index(self, key):
        if key not in self.call_keys:
            self.call_keys.append(key)
        return self.call_keys.index(key)


@dataclasses.dataclass
class _Namespace:
    id: str
    name: str
    parent: str
    model: object
    functional: bool = False
    layers: list = dataclasses.field(default_factory=list)  # ids assigned here
    inputs: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    used: list = dataclasses.field(default_factory=list)  # leaf ids used here


class _Walker:
    """Walks a model once, assigning ids and collecting leaves and edges."""

    def __init__(self, model):
        self.model = model
        self.leaves = {}  # layer id -> _Leaf, in graph order
        self.namespaces = []  # nested namespaces, parents first
        self.edges = []
        self.notes = []
        self.root = _Namespace("", getattr(model, "name", ""), "", model)
        self._leaf_ids = {}  # id(op) -> layer id
        self._spaces = {}  # id(model) -> _Namespace
        self._taken = set()

    def run(self):
        try:
            self._walk_model(self.model, self.root)
        except Exception as exc:  # odd graph internals: degrade, never crash
            fallback = _Walker(self.model)
            self.__dict__.update(fallback.__dict__)
            self.notes.append(
                f"could not read the model graph ({type(exc).__name__}: {exc}); falling back to the plain layer list"
            )
            try:
                self._walk_subclassed(self.model, self.root)
            except Exception as exc2:
                self.notes.append(f"could not list the model's layers: {exc2}")

    # -- ids

    def _unique_id(self, candidate):
        unique, n = candidate, 1
        while unique in self._taken:
            n += 1
            unique = f"{candidate}_{n}"
        self._taken.add(unique)
        return unique

    def _add_leaf(self, op, scope):
        lid = self._leaf_ids.get(id(op))
        if lid is None:  # a shared layer keeps the id of its first sighting
            lid = self._unique_id(_join(scope.id, op.name))
            self._leaf_ids[id(op)] = lid
            self.leaves[lid] = _Leaf(lid, op, scope.id)
            scope.layers.append(lid)
        if lid not in scope.used:
            scope.used.append(lid)
        return self.leaves[lid]

    def _enter_namespace(self, model, scope):
        if id(model) in self._spaces:  # a nested model called several times
            return
        ns = _Namespace(self._unique_id(_join(scope.id, model.name)), model.name, scope.id, model)
        self._spaces[id(model)] = ns
        self.namespaces.append(ns)
        self._walk_model(model, ns)

    # -- the three kinds of models

    def _walk_model(self, model, scope):
        graph = _graph_of(model)
        scope.functional = graph is not None
        if graph is not None:
            self._walk_graph(graph, scope)
        elif isinstance(model, keras.Sequential):
            self._walk_chain(model, scope)
        else:
            self._walk_subclassed(model, scope)

    def _walk_graph(self, graph, scope):
        ops = graph.operations
        for op in ops:
            if _graph_of(op) is not None:
                self._enter_namespace(op, scope)
            else:
                self._register_calls(graph, op, scope)
        for op in ops:
            for index in _own_node_indices(graph, op):
                node = op._inbound_nodes[index]
                for k, tensor in enumerate(node.input_tensors):
                    self._add_edge(op, index, k, tensor)
        scope.inputs = [self._leaf_ids.get(id(t._keras_history.operation)) for t in graph.inputs]
        scope.outputs = [(self._producer(t) or (None,))[0] for t in graph.outputs]

    def _register_calls(self, graph, op, scope):
        leaf = self._add_leaf(op, scope)
        reason = tracing.why_not(op)
        if reason is not None and leaf.first_node is None:
            self.notes.append(f"custom layer '{leaf.id}' ({type(op).__name__}) is shown as one layer: {reason}")
        for index in _own_node_indices(graph, op):
            if leaf.first_node is None:
                leaf.first_node = op._inbound_nodes[index]
            # An InputLayer's own node is no call; its calls are the outer
            # calls of its nested model (registered when wiring edges).
            if not isinstance(op, keras.layers.InputLayer):
                leaf.call_index((id(op), index))

    def _walk_chain(self, model, scope):
        """Unbuilt Sequential: its layers in a chain, without shapes."""
        self.notes.append(f"Sequential model '{model.name}' is not built: showing its layers as a chain without shapes")
        first = previous = None
        for layer in _tracked_layers(model):
            entry, exit_ = self._chain_link(layer, scope)
            if previous is not None and entry is not None:
                call = self.leaves[entry].call_index(("chain", id(model)))
                self.edges.append(
                    {"from": previous, "to": entry, "from_output": 0, "to_input": 0, "call": call, "shape": None}
                )
            first = entry if first is None else first
            previous = exit_
        # A nested chain is entered at its first layer; the top-level
        # "inputs" list only InputLayers, and an unbuilt model has none.
        if scope is not self.root and first is not None:
            scope.inputs = [first]
        if previous is not None:
            scope.outputs = [previous]

    def _chain_link(self, layer, scope):
        """(entry id, exit id) of one element of a chain; None if unknown."""
        if not isinstance(layer, keras.Model):
            lid = self._add_leaf(layer, scope).id
            return lid, lid
        self._enter_namespace(layer, scope)
        ns = self._spaces[id(layer)]
        return ((ns.inputs or [None])[0], (ns.outputs or [None])[0])

    def _walk_subclassed(self, model, scope):
        layers = _tracked_layers(model)
        for layer in layers:
            if isinstance(layer, keras.Model):
                self._enter_namespace(layer, scope)
            else:
                self._add_leaf(layer, scope)
        reason = tracing.why_not(model)
        self.notes.append(
            f"{type(model).__name__} is a subclassed model without a functional "
            f"graph: showing its {len(layers)} layers without data-flow edges"
            + (f" (namespace '{scope.id}')" if scope.id else "")
            + (f"; it could not be traced: {reason}" if reason else "")
        )

    # -- edges

    def _add_edge(self, op, index, k, tensor):
        source = self._producer(tensor)
        target = self._consumer(op, index, k)
        if source is None or target is None:
            self.notes.append(f"could not resolve input {k} of '{op.name}' (call {index})")
            return
        if (
            source[0] == target[0]
            and target[1] == 0
            and isinstance(self.leaves[target[0]].obj, keras.layers.InputLayer)
        ):
            return  # nested model fed by its own Input tensor: no real edge
        self.edges.append(
            {
                "from": source[0],
                "to": target[0],
                "from_output": source[1],
                "to_input": target[1],
                "call": target[2],
                "shape": layer_details.shape_of(tensor),
            }
        )

    def _producer(self, tensor):
        """(leaf id, output index) producing `tensor`, looking into nested models."""
        history = getattr(tensor, "_keras_history", None)
        if history is None or history.operation is None:
            return None
        op = history.operation
        inner = _graph_of(op)
        if inner is not None:
            return self._producer(inner.outputs[history.tensor_index])
        lid = self._leaf_ids.get(id(op))
        return None if lid is None else (lid, history.tensor_index)

    def _consumer(self, op, index, k):
        """(leaf id, input index, call) receiving input k of op's call `index`."""
        inner = _graph_of(op)
        if inner is None:
            lid = self._leaf_ids.get(id(op))
            if lid is None:
                return None
            return lid, k, self.leaves[lid].call_index((id(op), index))
        if k >= len(inner.inputs):  # e.g. a mask tensor passed as keyword
            return None
        target = inner.inputs[k]._keras_history.operation
        lid = self._leaf_ids.get(id(target))
        if lid is None:
            return None
        return lid, 0, self.leaves[lid].call_index(("outer", id(op), index))


# ------------------------------------------------------------------ assembling


class _Assembler:
    """Turns a finished walk into the format-version-1 dict."""

    def __init__(self, walk):
        self.walk = walk
        self.notes = list(walk.notes)

    def build(self):
        walk, model = self.walk, self.walk.model
        layers = [self._layer_entry(leaf) for leaf in walk.leaves.values()]
        graph = _graph_of(model)
        return {
            "format_version": FORMAT_VERSION,
            "model": {
                "name": str(getattr(model, "name", "")),
                "class": type(model).__name__,
                "functional": graph is not None,
                **_traced_flag(model),
                "notes": self.notes,
            },
            "inputs": [lid for lid in walk.root.inputs if lid is not None],
            "outputs": self._outputs(graph),
            "layers": layers,
            "edges": walk.edges,
            "namespaces": [self._namespace_entry(ns) for ns in walk.namespaces],
            "params": self._model_params(),
        }

    def _outputs(self, graph):
        if graph is None:  # unbuilt Sequential: the end of the chain
            return [{"layer": lid, "output_index": 0} for lid in self.walk.root.outputs]
        outputs = []
        for tensor in graph.outputs:
            source = self.walk._producer(tensor)
            if source is not None:
                outputs.append({"layer": source[0], "output_index": source[1]})
        return outputs

    # -- layers

    def _safe(self, leaf_id, what, fn, default):
        """Runs one extraction step; an odd layer yields a note, not a crash."""
        try:
            return fn()
        except Exception as exc:
            self.notes.append(f"{leaf_id}: could not read {what}: {type(exc).__name__}: {exc}")
            return default

    def _layer_entry(self, leaf):
        layer, lid = leaf.obj, leaf.id
        inputs, outputs = self._safe(
            lid, "shapes", lambda: layer_details.call_shapes(leaf.obj, leaf.first_node), ([], [])
        )
        variables = self._safe(lid, "variables", lambda: _variables(lid, layer), [])
        return {
            "id": lid,
            "name": str(getattr(layer, "name", lid.rsplit("/", 1)[-1])),
            "namespace": leaf.namespace,
            "type": type(layer).__name__,
            "module": layer_details.public_module(layer),
            "custom": not type(layer).__module__.startswith("keras."),
            "config": self._safe(lid, "config", lambda: layer_details.config_of(layer), {}),
            "input_shapes": inputs,
            "output_shapes": outputs,
            "calls": max(1, len(leaf.call_keys)),
            "params": self._safe(
                lid,
                "parameter counts",
                lambda: layer_details.param_counts([layer]),
                {"trainable": 0, "non_trainable": 0},
            ),
            "variables": variables,
            "inner": build_inner_graph(layer, [(v["name"], v["shape"]) for v in variables], max(1, len(inputs))),
            "is_input": isinstance(layer, keras.layers.InputLayer),
        }

    # -- namespaces and totals

    def _namespace_entry(self, ns):
        return {
            "id": ns.id,
            "name": ns.name,
            "parent": ns.parent,
            "type": type(ns.model).__name__,
            "functional": ns.functional,
            **_traced_flag(ns.model),
            "layers": ns.layers,
            "inputs": [i for i in ns.inputs if i is not None],
            "outputs": [o for o in ns.outputs if o is not None],
            "params": self._leaf_params(self._leaves_under(ns)),
        }

    def _leaves_under(self, ns):
        """Leaf ids used in `ns` or any namespace nested inside it."""
        ids = list(ns.used)
        for child in self.walk.namespaces:
            if child.parent == ns.id and child is not ns:
                ids += self._leaves_under(child)
        return ids

    def _leaf_params(self, leaf_ids):
        objs = [self.walk.leaves[lid].obj for lid in dict.fromkeys(leaf_ids)]
        return self._safe(
            "params", "parameter counts", lambda: layer_details.param_counts(objs), {"trainable": 0, "non_trainable": 0}
        )

    def _model_params(self):
        # Variables made by the model itself (add_weight in a subclassed
        # model) belong to no leaf, but are part of the model's parameters.
        objs = [leaf.obj for leaf in self.walk.leaves.values()]
        total = self._leaf_params(list(self.walk.leaves))
        try:
            seen = {id(v) for obj in objs for v in getattr(obj, "weights", [])}
            extra = [v for v in self.walk.model.weights if id(v) not in seen]
        except Exception:
            extra = []
        if extra:
            trainable = {id(v) for v in self.walk.model.trainable_weights}
            for v in extra:
                key = "trainable" if id(v) in trainable else "non_trainable"
                total[key] += layer_details.variable_size(v)
            self.notes.append(
                f"{len(extra)} model variables belong to no layer: " + ", ".join(str(v.path) for v in extra)
            )
        return total


# ------------------------------------------------------------------ per layer


def _traced_flag(obj):
    """{"traced": True} for a graph read from a traced view; nothing otherwise (older logs have none)."""
    return {"traced": True} if tracing.trace_of(obj) is not None else {}


def _variables(layer_id, layer):
    weights = list(getattr(layer, "weights", []))
    if not weights:
        return []
    trainable = {id(v) for v in layer.trainable_weights}
    return [
        {
            "name": name,
            "path": f"{layer_id}/{name}",
            "shape": layer_details.shape_of(v) or [],
            "dtype": str(getattr(v, "dtype", "")),
            "trainable": id(v) in trainable,
            "initializer": layer_details.initializer_of(layer, name),
        }
        for name, v in zip(layer_variable_names(layer), weights, strict=True)
    ]
