"""The tree of models: lineage between runs, its experiments, and what changed along each edge.

Pure Python. ``build_tree(models, architectures)`` takes one entry per run
(``{"run", "id", "name", "label", "parents", "params"}``, from the headers) and
the architecture of each run, and returns the graph the Tree view draws:

* experiments: connected components of the lineage graph, edges taken as
  undirected; two models whose common parent is missing from the logdir still
  share an experiment (the missing parent connects them). An experiment's id
  is the smallest model id (header id) in it, so it does not change when runs
  are added elsewhere; its ``name`` is the name of its first root.
* nodes: one per run, with ``depth`` = longest path from a root (for a
  left-to-right layout). Duplicate model ids (two runs logged with the same
  header id) are reported; the run that sorts first keeps the id, the others
  become nodes ``"<id>@<run>"`` (``model_id`` keeps the header id) so no run
  disappears; a parent id always refers to the node that kept the id.
* edges: parent -> child with the relative change of trainable parameters and
  the architecture diff (layers matched by id: added, removed, changed type,
  config values or output shapes).
* missing parents and cycles are reported, never crashed on. Cycles are
  broken deterministically for the layout: a depth-first search starting at
  the true roots (no parent present), then at the remaining nodes by id,
  children in id order, drops every edge closing a cycle (a back edge); those
  edges keep ``"broken": true`` and are listed in ``broken_edges``, and a note
  says so.
"""

from typing import Any


def build_tree(models, architectures=None):
    """The lineage graph of `models`; see the module docstring for the schema."""
    architectures = architectures if isinstance(architectures, dict) else {}
    entries = _normalise(models)
    notes = []

    # -- node ids, duplicates
    by_model_id: dict[Any, list[dict[str, Any]]] = {}
    for entry in sorted(entries, key=lambda e: (e["run"] is None, str(e["run"]), e["order"])):
        by_model_id.setdefault(entry["model_id"], []).append(entry)
    taken = set(by_model_id)
    duplicates = []
    for model_id, group in sorted(by_model_id.items()):
        group[0]["node"] = model_id
        for entry in group[1:]:
            node_id, n = "%s@%s" % (model_id, entry["run"]), 1
            while node_id in taken:
                n += 1
                node_id = "%s@%s#%d" % (model_id, entry["run"], n)
            taken.add(node_id)
            entry["node"] = node_id
            entry["duplicate_of"] = model_id
        if len(group) > 1:
            duplicates.append({"id": model_id, "runs": [e["run"] for e in group], "nodes": [e["node"] for e in group]})
            notes.append(
                "model id %s is used by %d runs (%s); the run %s keeps it"
                % (model_id, len(group), ", ".join(str(e["run"]) for e in group), group[0]["run"])
            )
    nodes = {e["node"]: e for e in entries}

    # -- edges and missing parents
    pairs, missing = [], []
    for entry in entries:
        for parent in entry["parents"]:
            if parent in by_model_id:
                pairs.append((parent, entry["node"]))
            else:
                missing.append({"child": entry["node"], "parent": parent})
    children: dict[Any, list[Any]] = {node: [] for node in nodes}
    parents_of: dict[Any, list[Any]] = {node: [] for node in nodes}
    for parent, child in pairs:
        children[parent].append(child)
        parents_of[child].append(parent)

    # -- cycles
    cycles = _cycles(nodes, children)
    broken = _back_edges(nodes, children, parents_of)
    in_cycle = {node for cycle in cycles for node in cycle}
    for cycle in cycles:
        cut = ["%s -> %s" % (p, c) for p, c in sorted(broken) if p in cycle and c in cycle]
        what = (
            "the model %s is its own parent" % cycle[0]
            if len(cycle) == 1
            else "the models %s form a cycle of parents" % ", ".join(cycle)
        )
        notes.append(
            "%s; for the layout the cycle is broken by ignoring the edge%s %s"
            % (what, "s" if len(cut) > 1 else "", ", ".join(cut))
        )

    depth = _depths(nodes, children, parents_of, broken)
    roots = {node for node in nodes if not any((p, node) not in broken for p in parents_of[node])}

    # -- experiments: undirected components, missing parents connect siblings
    union = _UnionFind(list(nodes))
    for parent, child in pairs:
        union.join(parent, child)
    for item in missing:
        union.join(item["child"], ("missing", item["parent"]))
    components: dict[Any, list[Any]] = {}
    for node in nodes:
        components.setdefault(union.find(node), []).append(node)

    def node_key(node):
        return (depth[node], str(nodes[node]["name"]), node)

    experiments = []
    for members in components.values():
        members.sort(key=node_key)
        member_set = set(members)
        exp_roots = [n for n in members if n in roots]
        experiments.append(
            {
                "id": min(nodes[n]["model_id"] for n in members),
                "name": nodes[exp_roots[0] if exp_roots else members[0]]["name"],
                "models": members,
                "runs": [nodes[n]["run"] for n in members],
                "roots": exp_roots,
                "missing_parents": sorted({m["parent"] for m in missing if m["child"] in member_set}),
            }
        )
    experiments.sort(key=lambda e: (min(str(r) for r in e["runs"]), e["id"]))
    experiment_of = {n: e["id"] for e in experiments for n in e["models"]}

    node_list = [
        {
            "id": node,
            "model_id": nodes[node]["model_id"],
            "run": nodes[node]["run"],
            "name": nodes[node]["name"],
            "label": nodes[node]["label"],
            "depth": depth[node],
            "experiment": experiment_of[node],
            "parents": parents_of[node],
            "in_cycle": node in in_cycle,
            "duplicate_of": nodes[node].get("duplicate_of"),
        }
        for e in experiments
        for node in e["models"]
    ]

    edge_list = []
    for parent, child in pairs:
        p, c = nodes[parent], nodes[child]
        edge_list.append(
            {
                "from": parent,
                "to": child,
                "param_change": _param_change(_trainable(p, architectures), _trainable(c, architectures)),
                "diff": diff_architectures(architectures.get(p["run"]), architectures.get(c["run"])),
                "broken": (parent, child) in broken,
            }
        )

    return {
        "experiments": experiments,
        "nodes": node_list,
        "edges": edge_list,
        "missing_parents": missing,
        "cycles": cycles,
        "broken_edges": [{"from": p, "to": c} for p, c in sorted(broken)],
        "duplicate_ids": duplicates,
        "notes": notes,
    }


# ------------------------------------------------------------------ inputs


def _normalise(models):
    entries: list[dict[str, Any]] = []
    for order, model in enumerate(models if isinstance(models, (list, tuple)) else []):
        if not isinstance(model, dict):
            continue
        run = model.get("run")
        model_id = model.get("id")
        if not isinstance(model_id, str) or not model_id:
            if run is None:
                continue
            model_id = str(run)  # no header id: the run name identifies it
        parents = model.get("parents")
        if isinstance(parents, str):
            parents = [parents]
        if not isinstance(parents, (list, tuple)):
            parents = []
        clean = []
        for parent in parents:
            if isinstance(parent, dict):
                parent = parent.get("id")
            if isinstance(parent, str) and parent and parent not in clean:
                clean.append(parent)
        name = model.get("name")
        name = name if isinstance(name, str) and name else (str(run) if run is not None else model_id)
        label = model.get("label")
        entries.append(
            {
                "order": order,
                "run": run,
                "model_id": model_id,
                "name": name,
                "label": label if isinstance(label, str) else name,
                "parents": clean,
                "params": model.get("params") if isinstance(model.get("params"), dict) else {},
            }
        )
    return entries


# ------------------------------------------------------------------ graph algorithms


class _UnionFind:
    def __init__(self, items):
        self.parent = {item: item for item in items}

    def find(self, item):
        self.parent.setdefault(item, item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # deterministic: the smaller (string) representative wins
            if str(rb) < str(ra):
                ra, rb = rb, ra
            self.parent[rb] = ra


def _cycles(nodes, children):
    """Strongly connected components that contain a cycle, members sorted, by first member."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(set(children[start]))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for child in it:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(set(children[child])))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in children[node]:
                    result.append(sorted(component))
    return sorted(result)


def _back_edges(nodes, children, parents_of):
    """Edges closing a cycle in a DFS from the true roots first, then by node id."""
    starts = sorted(n for n in nodes if not parents_of[n]) + sorted(nodes)
    state, broken = {}, set()
    for start in starts:
        if start in state:
            continue
        state[start] = "open"
        work = [(start, iter(sorted(set(children[start]))))]
        while work:
            node, it = work[-1]
            for child in it:
                if state.get(child) == "open":
                    broken.add((node, child))
                elif child not in state:
                    state[child] = "open"
                    work.append((child, iter(sorted(set(children[child])))))
                    break
            else:
                state[node] = "done"
                work.pop()
    return broken


def _depths(nodes, children, parents_of, broken):
    """Longest path from a root over the edges that are not broken (a DAG)."""
    indegree = {n: sum(1 for p in parents_of[n] if (p, n) not in broken) for n in nodes}
    depth = {n: 0 for n in nodes}
    ready = sorted(n for n in nodes if indegree[n] == 0)
    while ready:
        node = ready.pop(0)
        for child in sorted(children[node]):
            if (node, child) in broken:
                continue
            depth[child] = max(depth[child], depth[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return depth


# ------------------------------------------------------------------ edges


def _count(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == value:
        return value
    return None


def _trainable(entry, architectures):
    count = _count(entry["params"].get("trainable"))
    if count is None:
        arch = architectures.get(entry["run"])
        if isinstance(arch, dict) and isinstance(arch.get("params"), dict):
            count = _count(arch["params"].get("trainable"))
    return count


def _param_change(parent, child):
    if parent is None or child is None or parent <= 0:
        return None
    return child / parent - 1.0


def diff_architectures(before, after):
    """{"added", "removed", "changed"} between two architectures, or None if one is unknown.

    Layers are matched by id. A layer changed when its type, a config value
    (keys missing on one side count as None) or its output shapes differ;
    ``fields`` maps "type", each differing config key and "output_shapes" to
    [before, after].
    """
    a, b = _layers_by_id(before), _layers_by_id(after)
    if a is None or b is None:
        return None
    changed = []
    for lid, old in a.items():
        new = b.get(lid)
        if new is None:
            continue
        fields = {}
        if old.get("type") != new.get("type"):
            fields["type"] = [old.get("type"), new.get("type")]
        old_config = old.get("config") if isinstance(old.get("config"), dict) else {}
        new_config = new.get("config") if isinstance(new.get("config"), dict) else {}
        for key in list(old_config) + [k for k in new_config if k not in old_config]:
            if old_config.get(key) != new_config.get(key):
                fields[key] = [old_config.get(key), new_config.get(key)]
        if old.get("output_shapes") != new.get("output_shapes"):
            fields["output_shapes"] = [old.get("output_shapes"), new.get("output_shapes")]
        if fields:
            changed.append({"layer": lid, "fields": fields})
    return {
        "added": [lid for lid in b if lid not in a],
        "removed": [lid for lid in a if lid not in b],
        "changed": changed,
    }


def _layers_by_id(arch):
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        return None
    layers: dict[str, dict[str, Any]] = {}
    for layer in arch["layers"]:
        if isinstance(layer, dict) and isinstance(layer.get("id"), str):
            layers.setdefault(layer["id"], layer)
    return layers
