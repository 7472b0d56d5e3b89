"""Search for structures (M4): unit types and recurring structures of a model, and their counts.

Pure Python. ``find_structures(architecture)`` indexes one model:

* unit types: layers by type, inner ops by op (the layers containing each),
  variables by name (their unit ids, e.g. ``conv_1/kernel``; a nested variable
  path such as ``forward_lstm/lstm_cell/kernel`` counts under its last
  component ``kernel``) and activations by name (layers applying them: a
  layer's ``activation`` config, activation layers, keras.ops activations and
  inner activation ops; ``linear`` is no activation);
* structures on the layer graph (nested namespaces are already flattened
  into layer ids with "/"; edges of shared layers are merged per layer pair,
  self-loops ignored):
  - ``skip_connection``: an edge u -> v such that another, longer path
    u -> ... -> v exists; ``to`` is the merge layer (e.g. an Add), ``layers``
    every layer on a path from u to v (u and v included);
  - ``multi_branch``: a fork (a layer with more than one consumer) whose
    branches first re-join at a layer (with more than one producer, e.g.
    Concatenate/Add, or a custom merging layer) with at least two non-empty
    branches. ``branches`` lists the layers of each non-empty branch
    (between fork and join, both excluded); ``identity_branch`` says whether
    a direct fork -> join edge exists too (that edge is also a
    skip_connection). A residual block with an identity shortcut is thus a
    skip_connection only; one with a projection shortcut is a multi_branch.

``propagate(structures_by_run, experiments)`` sums the counts per model and
per experiment, so badges can be shown at every level.
"""

from typing import Any

from innspector_tb.format import inner_ops

STRUCTURE_KINDS = ("skip_connection", "multi_branch")
UNIT_TYPE_KINDS = ("layer", "op", "variable", "activation")

_LINEAR = ("linear", "identity", "none", "")

_ACTIVATION_LAYERS = {
    "Activation": None,
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "PReLU": "prelu",
    "Softmax": "softmax",
    "ThresholdedReLU": "thresholded_relu",
}
_OPS_ACTIVATIONS = inner_ops.OPS_ACTIVATIONS


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _as_list(value):
    return value if isinstance(value, list) else []


def find_structures(architecture):
    """Unit types, structures and counts of one architecture (never raises on odd input)."""
    arch = _as_dict(architecture)
    layers: dict[str, dict[str, Any]] = {}
    for layer in _as_list(arch.get("layers")):
        if isinstance(layer, dict) and isinstance(layer.get("id"), str):
            layers.setdefault(layer["id"], layer)
    order = {lid: i for i, lid in enumerate(layers)}
    unit_types = _unit_types(layers)
    graph = _Graph(layers, arch.get("edges"))
    structures = graph.skip_connections() + graph.multi_branches()
    namespaces = [
        ns.get("id")
        for ns in _as_list(arch.get("namespaces"))
        if isinstance(ns, dict) and isinstance(ns.get("id"), str)
    ]
    for structure in structures:
        structure["namespace"] = _common_namespace(structure["layers"])
    structures.sort(
        key=lambda s: (order.get(s.get("to", s.get("join")), 0), order.get(s.get("from", s.get("fork")), 0), s["kind"])
    )
    return {
        "unit_types": unit_types,
        "structures": structures,
        "counts": _counts(unit_types, structures, namespaces),
    }


# ------------------------------------------------------------------ unit types


def _activations_of(layer):
    """Names of the activations a layer applies (deduplicated, in order)."""
    names = []
    kind = str(layer.get("type") or "")
    config = _as_dict(layer.get("config"))
    if layer.get("module") == "keras.ops":
        if kind in _OPS_ACTIVATIONS:
            names.append(_OPS_ACTIVATIONS[kind])
    elif activation := _ACTIVATION_LAYERS.get(kind):
        names.append(activation)
    act = config.get("activation")
    if isinstance(act, str):
        names.append(act)
    for node in _as_list(_as_dict(layer.get("inner")).get("nodes")):
        if isinstance(node, dict) and node.get("kind") == "op" and node.get("op") == "activation":
            label = node.get("activation") or node.get("label")
            if isinstance(label, str):
                names.append(label)
    result = []
    for name in names:
        name = name.strip().lower()
        if name not in _LINEAR and name not in result:
            result.append(name)
    return result


def _unit_types(layers):
    types: dict[str, dict[str, list[str]]] = {kind: {} for kind in UNIT_TYPE_KINDS}

    def add(kind, key, value):
        bucket = types[kind].setdefault(str(key), [])
        if value not in bucket:
            bucket.append(value)

    for lid, layer in layers.items():
        add("layer", layer.get("type") or "Unknown", lid)
        for node in _as_list(_as_dict(layer.get("inner")).get("nodes")):
            if isinstance(node, dict) and node.get("kind") == "op" and node.get("op"):
                add("op", node["op"], lid)
        for variable in _as_list(layer.get("variables")):
            if not isinstance(variable, dict) or not variable.get("name"):
                continue
            name = str(variable["name"])
            path = variable.get("path") if isinstance(variable.get("path"), str) else "%s/%s" % (lid, name)
            add("variable", name.rsplit("/", 1)[-1], path)
        for act in _activations_of(layer):
            add("activation", act, lid)
    return types


# ------------------------------------------------------------------ graph structures


class _Graph:
    def __init__(self, layers, edges):
        self.order = {lid: i for i, lid in enumerate(layers)}
        self.types = {lid: layer.get("type") for lid, layer in layers.items()}
        self.succ: dict[str, list[str]] = {lid: [] for lid in layers}
        self.pred: dict[str, list[str]] = {lid: [] for lid in layers}
        self.slot: dict[tuple[str, str], int] = {}  # (from, to) -> smallest input index of the edges between them
        for edge in _as_list(edges):
            if not isinstance(edge, dict):
                continue
            src, dst = edge.get("from"), edge.get("to")
            if src not in self.succ or dst not in self.succ or src == dst:
                continue
            slot = edge.get("to_input")
            slot = slot if isinstance(slot, int) and not isinstance(slot, bool) else 1 << 30
            self.slot[(src, dst)] = min(slot, self.slot.get((src, dst), slot))
            if dst not in self.succ[src]:
                self.succ[src].append(dst)
                self.pred[dst].append(src)
        self._reach = {}

    def reachable(self, start):
        """Layers reachable from `start`, itself included."""
        if start not in self._reach:
            seen, todo = {start}, [start]
            while todo:
                for nxt in self.succ[todo.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            self._reach[start] = seen
        return self._reach[start]

    def sort(self, ids):
        return sorted(ids, key=lambda lid: self.order.get(lid, 0))

    def between(self, source, target):
        """Layers on some path source -> ... -> target, both excluded."""
        return {x for x in self.reachable(source) if x not in (source, target) and target in self.reachable(x)}

    def skip_connections(self):
        found = []
        for u in self.sort(self.succ):
            for v in self.succ[u]:
                longer = [w for w in self.succ[u] if w != v and v in self.reachable(w)]
                if not longer:
                    continue
                inner = set()
                for w in longer:
                    inner |= {w} | self.between(w, v)
                inner.discard(u)
                inner.discard(v)
                found.append(
                    {
                        "kind": "skip_connection",
                        "from": u,
                        "to": v,
                        "layers": [u] + self.sort(inner) + [v],
                        "skipped": self.sort(inner),
                    }
                )
        return found

    def multi_branches(self):
        found = []
        for fork in self.sort(self.succ):
            consumers = self.succ[fork]
            if len(consumers) < 2:
                continue
            reach = {c: self.reachable(c) for c in consumers}
            meets = {
                x for x in set().union(*reach.values()) if sum(1 for c in consumers if x in reach[c]) >= 2 and x != fork
            }
            # First meeting points: not below another meeting point. Whatever a
            # meeting point reaches is one too, so it suffices that no
            # producer of j is a meeting point.
            joins = [j for j in meets if not any(p in meets for p in self.pred[j])]
            for join in self.sort(joins):
                branches, identity = [], False
                for c in consumers:
                    if join not in reach[c]:
                        continue
                    if c == join:
                        identity = True
                        continue
                    branches.append(self.sort({c} | self.between(c, join)))
                if len(branches) < 2:
                    continue
                # in the order of the join's inputs they feed
                branches.sort(key=lambda b: min(self.slot.get((x, join), 1 << 30) for x in b))
                inner = sorted({x for b in branches for x in b}, key=lambda x: self.order.get(x, 0))
                found.append(
                    {
                        "kind": "multi_branch",
                        "fork": fork,
                        "join": join,
                        "join_type": self.types.get(join),
                        "branches": branches,
                        "identity_branch": identity,
                        "layers": [fork] + inner + [join],
                    }
                )
        return found


def _common_namespace(ids):
    """The deepest namespace containing all `ids` ("" for the top level)."""
    spaces = [lid.rsplit("/", 1)[0] if "/" in lid else "" for lid in ids]
    if not spaces:
        return ""
    parts = [s.split("/") if s else [] for s in spaces]
    common = []
    for level in zip(*parts, strict=False):  # up to the shortest: the common prefix
        if all(p == level[0] for p in level):
            common.append(level[0])
        else:
            break
    return "/".join(common)


def _counts(unit_types, structures, namespaces):
    counts: dict[str, dict[str, Any]] = {
        kind: {key: len(ids) for key, ids in unit_types[kind].items()} for kind in UNIT_TYPE_KINDS
    }
    counts["structures"] = {kind: sum(1 for s in structures if s["kind"] == kind) for kind in STRUCTURE_KINDS}
    by_namespace = {ns: dict.fromkeys(STRUCTURE_KINDS, 0) for ns in [""] + namespaces}
    for structure in structures:
        ns = structure["namespace"]
        chain = [""] + ["/".join(ns.split("/")[: i + 1]) for i in range(len(ns.split("/")))] if ns else [""]
        for space in chain:
            by_namespace.setdefault(space, dict.fromkeys(STRUCTURE_KINDS, 0))
            by_namespace[space][structure["kind"]] += 1
    counts["by_namespace"] = by_namespace
    return counts


# ------------------------------------------------------------------ propagation


def _empty_counts():
    return {"structures": dict.fromkeys(STRUCTURE_KINDS, 0), **{kind: {} for kind in UNIT_TYPE_KINDS}}


def _model_counts(found):
    """Counts of one find_structures() result (recomputed if "counts" is absent)."""
    found = _as_dict(found)
    counts = _as_dict(found.get("counts"))
    result = _empty_counts()
    if counts:
        for kind in STRUCTURE_KINDS:
            value = _as_dict(counts.get("structures")).get(kind, 0)
            result["structures"][kind] = value if isinstance(value, int) else 0
        for kind in UNIT_TYPE_KINDS:
            result[kind] = {
                str(k): v
                for k, v in _as_dict(counts.get(kind)).items()
                if isinstance(v, int) and not isinstance(v, bool)
            }
        return result
    for structure in _as_list(found.get("structures")):
        if isinstance(structure, dict) and structure.get("kind") in STRUCTURE_KINDS:
            result["structures"][structure["kind"]] += 1
    unit_types = _as_dict(found.get("unit_types"))
    for kind in UNIT_TYPE_KINDS:
        result[kind] = {str(k): len(v) for k, v in _as_dict(unit_types.get(kind)).items() if isinstance(v, list)}
    return result


def _add(total, counts):
    for kind in STRUCTURE_KINDS:
        total["structures"][kind] += counts["structures"][kind]
    for kind in UNIT_TYPE_KINDS:
        for key, value in counts[kind].items():
            total[kind][key] = total[kind].get(key, 0) + value


def _experiment_runs(experiment, known):
    """(experiment id, runs) of an experiment entry of lineage.build_tree or a plain list."""
    if isinstance(experiment, dict):
        runs = experiment.get("runs")
        if not isinstance(runs, list):
            runs = [m for m in _as_list(experiment.get("models")) if m in known]
        return str(experiment.get("id")), [r for r in runs if r in known]
    if isinstance(experiment, (list, tuple)):
        return None, [r for r in experiment if r in known]
    return None, []


def propagate(structures_by_run, experiments):
    """Counts per model, per experiment and in total.

    ``structures_by_run`` maps run -> find_structures() result; ``experiments``
    is lineage.build_tree()["experiments"] (entries with "id" and "runs"; with
    only "models", those that are keys of structures_by_run are used) or a list
    of run lists. Returns::

        {"models": {run: COUNTS},
         "experiments": {experiment id: COUNTS + {"models": int (runs with data),
                                                  "models_with": {kind: int}}},
         "total": COUNTS + {"models", "models_with"}}

    where COUNTS = {"structures": {"skip_connection": n, "multi_branch": n},
    "layer": {type: n}, "op": {op: n}, "variable": {name: n}, "activation": {name: n}};
    ``models_with`` counts the models having at least one of each structure kind.
    """
    structures_by_run = _as_dict(structures_by_run)
    per_model = {run: _model_counts(found) for run, found in structures_by_run.items()}

    def aggregate(runs):
        total = _empty_counts()
        total["models"] = 0
        total["models_with"] = dict.fromkeys(STRUCTURE_KINDS, 0)
        for run in dict.fromkeys(runs):
            counts = per_model[run]
            _add(total, counts)
            total["models"] += 1
            for kind in STRUCTURE_KINDS:
                total["models_with"][kind] += 1 if counts["structures"][kind] else 0
        return total

    by_experiment = {}
    for position, experiment in enumerate(_as_list(experiments)):
        exp_id, runs = _experiment_runs(experiment, per_model)
        by_experiment[exp_id if exp_id is not None else str(position)] = aggregate(runs)
    return {"models": per_model, "experiments": by_experiment, "total": aggregate(per_model)}
