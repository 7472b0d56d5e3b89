"""The logging plan: which bulk arrays of a model go into each step file, within a byte budget per step.

Statistics of every unit are always logged (they are small). Bulk arrays are not: a ResNet50 at 32x32
would need 1.5 GB of activations per step. The plan is made once from the architecture and the probe,
deterministically, before training starts:

- if everything fits the budget (the demo's models), everything is kept: every layer's activations on
  the whole probe, per-class mean maps, every weight at every step;
- otherwise weights take at most `WEIGHT_SHARE` of the budget: kernels are split into `weights_every`
  groups of about equal size and one group is logged in full per logged step, in turn. The last step of
  a training holds, from its turn on, as many groups as `FINAL_WEIGHT_BUDGETS` budgets hold (all of a
  ResNet50's): the trained model's kernels are what people read most, and with paced steps a group's
  turn may never come in a short training;
- activations fill the rest, layers in order of what the views need (pinned layers, the model's
  outputs and what feeds them, bottlenecks, then the cheapest first): first per-sample vectors pooled
  per unit (mean over spatial or sequence positions; for a dense layer that is the full array) for the
  whole probe, then full maps of a balanced subset of samples and per-class mean maps. Layers that get
  nothing still have their statistics; the plan's notes say what was reduced.

Budgets count raw float32 bytes (4 per value), so what lands on disk, compressed, is at most the budget.
Pure Python and numpy: no TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_BUDGET_BYTES = 64 * 2**20
# Why 64 MB: a step of the demo's models is under 5 MB, so they keep everything; a ResNet50 or a small
# Transformer gets every unit's statistics plus pooled vectors of tens of thousands of units, 16 full
# maps per kept layer and a rotating quarter of its kernels, and 100 logged steps stay a few GB on disk.
DEFAULT_SUBSET_SIZE = 16
WEIGHT_SHARE = 0.25
ATTRIBUTION_SHARE = 0.25  # of the budget, at most, for attribution maps (the callback trims samples)
VECTOR_SHARE = 0.75  # of what weights leave to activations
# The last logged step's full weights may take this many budgets (raw): a ResNet50's 90 MB of weights fit
# 1.5 x 64 MB; on disk that step is then about 60 MB (weights compress to about 0.43x raw).
FINAL_WEIGHT_BUDGETS = 1.5
BYTES_PER_VALUE = 4

FULL = "full"  # every probe sample, full shape
POOLED = "pooled"  # every probe sample, one value per unit (mean over positions)
NONE = "none"  # statistics only


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """What the plan needs of a layer: its id, per-sample output shapes, weights and role."""

    id: str
    outputs: tuple[tuple[int, ...], ...]  # per-sample shapes (no batch axis)
    weights: tuple[tuple[str, int], ...] = ()  # (variable name, element count)
    is_output: bool = False  # produces a model output
    feeds_output: bool = False  # input of a layer producing a model output (the decision features)
    bottleneck: bool = False  # smaller per-sample output than its predecessors and successors
    junction: bool = False  # merges several inputs or feeds several layers (a residual block's boundary)

    @property
    def sample_size(self) -> int:
        return sum(int(np.prod(shape)) if shape else 1 for shape in self.outputs)

    @property
    def units(self) -> int:
        return sum(int(shape[-1]) if shape else 1 for shape in self.outputs)

    @property
    def spatial(self) -> bool:
        """Whether pooling per unit loses anything (an output of rank > 1 per sample)."""
        return any(len(shape) > 1 for shape in self.outputs)

    @property
    def weight_size(self) -> int:
        return sum(size for _, size in self.weights)


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    activations: str  # FULL, POOLED or NONE, for the whole probe
    sample_maps: bool = False  # full maps of the subset samples (when activations is not FULL)
    class_maps: bool = False  # per-class mean maps of full shape

    def to_json(self) -> dict[str, Any]:
        return {"activations": self.activations, "sample_maps": self.sample_maps, "class_maps": self.class_maps}


@dataclasses.dataclass(frozen=True)
class Plan:
    budget_bytes: int | None
    probe_size: int
    subset: tuple[int, ...]  # probe rows whose full maps are kept for reduced layers
    layers: Mapping[str, LayerPlan]
    weights_every: int  # a layer's full weights are logged every this many logged steps
    weight_groups: Mapping[str, int]  # layer id -> its turn in [0, weights_every)
    planned_bytes: int  # the largest step, raw float32 bytes
    reduced: bool = False  # False: everything is kept, as without a budget
    notes: tuple[str, ...] = ()
    weight_group_bytes: tuple[int, ...] = ()  # raw bytes of each group's weights

    def weights_due(self, log_index: int, last: bool = False) -> set[str]:
        """Layers whose full weights go into the `log_index`-th logged step (0 for step 0).

        last: the last step of a training: its turn's group and the next ones while they fit
        FINAL_WEIGHT_BUDGETS budgets.
        """
        turn = log_index % self.weights_every
        turns = {turn}
        if last and self.budget_bytes is not None and len(self.weight_group_bytes) == self.weights_every:
            allowed = FINAL_WEIGHT_BUDGETS * self.budget_bytes
            total = self.weight_group_bytes[turn]
            for offset in range(1, self.weights_every):
                group = (turn + offset) % self.weights_every
                if total + self.weight_group_bytes[group] > allowed:
                    break
                total += self.weight_group_bytes[group]
                turns.add(group)
        return {layer for layer, group in self.weight_groups.items() if group in turns}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "budget_bytes": self.budget_bytes,
            "probe_size": self.probe_size,
            "subset": list(self.subset),
            "layers": {layer: plan.to_json() for layer, plan in self.layers.items()},
            "weights_every": self.weights_every,
            "weight_groups": dict(self.weight_groups),
            "planned_bytes": self.planned_bytes,
            "reduced": self.reduced,
            "notes": list(self.notes),
        }


def make_plan(
    layers: Sequence[LayerShape],
    probe_size: int,
    classes: int,
    budget_bytes: int | None = DEFAULT_BUDGET_BYTES,
    reserved_bytes: int = 0,
    full_layers: Iterable[str] = (),
    subset: Sequence[int] = (),
) -> Plan:
    """The plan for `layers` (in graph order) on a probe of `probe_size` samples with `classes` classes.

    reserved_bytes: bulk bytes per step planned elsewhere (predictions, attribution maps).
    full_layers: layer ids kept in full whatever the budget (the user's pins).
    subset: the probe rows kept in full for reduced layers (balanced over classes; chosen by the caller).
    """
    pins = set(full_layers)
    unknown = pins - {layer.id for layer in layers}
    if unknown:
        raise ValueError("full_layers names layers the model does not have: %s" % ", ".join(sorted(unknown)))
    n, c, s = int(probe_size), int(classes), len(subset)
    everything = {layer.id: LayerPlan(FULL, False, c > 0) for layer in layers}
    all_weights = sum(layer.weight_size for layer in layers) * BYTES_PER_VALUE
    full_bytes = (
        reserved_bytes + all_weights + sum(_cost(layer, plan, n, c, s) for layer, plan in _zip(layers, everything))
    )
    if budget_bytes is None or full_bytes <= budget_bytes:
        groups = {layer.id: 0 for layer in layers if layer.weights}
        return Plan(budget_bytes, n, tuple(subset), everything, 1, groups, full_bytes)

    share = budget_bytes * WEIGHT_SHARE
    # A layer whose weights alone exceed the share (a huge embedding) keeps statistics only, unless pinned.
    too_big = [layer.id for layer in layers if layer.weight_size * BYTES_PER_VALUE > share and layer.id not in pins]
    rotating = [layer for layer in layers if layer.id not in too_big]
    weights_every, groups, loads = _weight_groups(rotating, share)
    room = budget_bytes - reserved_bytes - max(loads, default=0)
    plans = {layer.id: LayerPlan(NONE) for layer in layers}
    for layer in layers:  # pins first, whatever they cost
        if layer.id in pins:
            plans[layer.id] = everything[layer.id]
            room -= _cost(layer, plans[layer.id], n, c, s)
    ordered = [layer for layer in _priority(layers) if layer.id not in pins]
    # Pooled vectors get most of the room first, maps the rest; what one leaves, the other takes.
    room = _fill_vectors(ordered, plans, n, c, s, room, cap=room * VECTOR_SHARE)
    room = _fill_maps(ordered, plans, n, c, s, room)
    room = _fill_vectors(ordered, plans, n, c, s, room, cap=room)
    planned = budget_bytes - room
    notes = _notes(layers, plans, weights_every, n, s, _groups_at_last_step(loads, budget_bytes))
    if too_big:
        notes.append(
            "%d layers: weights larger than %.3g MB, statistics only%s"
            % (len(too_big), share / 2**20, _examples(too_big))
        )
    return Plan(budget_bytes, n, tuple(subset), plans, weights_every, groups, planned, True, tuple(notes), tuple(loads))


def _fill_vectors(ordered, plans, n, c, s, room, cap):
    """One vector per probe sample (pooled, or the full array of a dense layer) for layers that fit."""
    spent = 0
    for layer in ordered:
        if plans[layer.id].activations != NONE:
            continue
        candidate = LayerPlan(POOLED if layer.spatial else FULL)
        cost = _cost(layer, candidate, n, c, s)
        if spent + cost <= cap:
            plans[layer.id], spent = candidate, spent + cost
    return room - spent


def _fill_maps(ordered, plans, n, c, s, room):
    """Full maps of the subset samples and per-class mean maps, for layers already keeping vectors."""
    for layer in ordered:
        current = plans[layer.id]
        if not layer.spatial or current.activations != POOLED or current.sample_maps or c + s == 0:
            continue
        candidate = dataclasses.replace(current, sample_maps=s > 0, class_maps=c > 0)
        extra = _cost(layer, candidate, n, c, s) - _cost(layer, current, n, c, s)
        if extra <= room:
            plans[layer.id], room = candidate, room - extra
    return room


def _zip(layers, plans):
    return [(layer, plans[layer.id]) for layer in layers]


def _cost(layer: LayerShape, plan: LayerPlan, n: int, classes: int, subset: int) -> int:
    """Raw bytes per step of a layer under `plan`."""
    size = layer.sample_size
    if plan.activations == FULL:
        rows = n * size
    elif plan.activations == POOLED:
        rows = n * layer.units + (subset * size if plan.sample_maps else 0)
    else:
        rows = 0
    maps = classes * size if plan.class_maps else 0
    return (rows + maps) * BYTES_PER_VALUE


def _weight_groups(layers: Sequence[LayerShape], share: float) -> tuple[int, dict[str, int], list[int]]:
    """(k, {layer: group}, bytes of each group): weights split into k groups of about `share` bytes.

    Largest layers first into the lightest group (deterministic: ties by graph order), so every group
    stays close to total / k.
    """
    weighted = [layer for layer in layers if layer.weights]
    total = sum(layer.weight_size for layer in weighted) * BYTES_PER_VALUE
    if not weighted:
        return 1, {}, [0]
    k = max(1, math.ceil(total / max(share, 1.0)))
    while True:  # more groups until the largest fits (a single layer bigger than the share stays alone)
        k = min(k, len(weighted))
        groups, loads = _pack(weighted, k)
        if max(loads) <= share or k == len(weighted):
            return k, groups, loads
        k += 1


def _pack(weighted: Sequence[LayerShape], k: int) -> tuple[dict[str, int], list[int]]:
    loads = [0] * k
    groups = {}
    order = sorted(range(len(weighted)), key=lambda i: (-weighted[i].weight_size, i))
    for i in order:
        group = min(range(k), key=lambda g: (loads[g], g))
        groups[weighted[i].id] = group
        loads[group] += weighted[i].weight_size * BYTES_PER_VALUE
    return {layer.id: groups[layer.id] for layer in weighted}, loads


def _priority(layers: Sequence[LayerShape]) -> list[LayerShape]:
    """What the views need first: outputs, their inputs, block boundaries, bottlenecks; then cheapest first."""
    order = {layer.id: i for i, layer in enumerate(layers)}

    def rank(layer: LayerShape):
        roles = (layer.is_output, layer.feeds_output, layer.junction, layer.bottleneck, True)
        role = roles.index(True)
        return (role, layer.units if layer.spatial else layer.sample_size, order[layer.id])

    return sorted(layers, key=rank)


def _groups_at_last_step(loads: Sequence[int], budget_bytes: int) -> int:
    """How many weight groups the last step holds at least (from any turn): the note's figure."""
    plan = Plan(budget_bytes, 0, (), {}, len(loads), {str(g): g for g in range(len(loads))}, 0, True, (), tuple(loads))
    return min(len(plan.weights_due(turn, last=True)) for turn in range(len(loads)))


def _notes(layers, plans, weights_every, n, s, last_groups=1) -> list[str]:
    """One line per kind of reduction, for the log at train begin and the UI."""
    pooled = [layer.id for layer in layers if plans[layer.id].activations == POOLED]
    none = [layer.id for layer in layers if plans[layer.id].activations == NONE and layer.sample_size]
    maps = [layer.id for layer in layers if plans[layer.id].sample_maps]
    notes = []
    if pooled:
        notes.append(
            "%d layers: activations pooled per unit (mean over positions) for all %d probe samples%s"
            % (len(pooled), n, _examples(pooled))
        )
    if maps:
        notes.append(
            "%d layers: full activation maps for %d of %d probe samples%s" % (len(maps), s, n, _examples(maps))
        )
    if none:
        notes.append("%d layers: statistics only, no per-sample activations%s" % (len(none), _examples(none)))
    if weights_every > 1:
        at_last = (
            "; all of them at the last step"
            if last_groups >= weights_every
            else "; %d of the %d groups at the last step" % (last_groups, weights_every)
            if last_groups > 1
            else ""
        )
        notes.append(
            "weights: statistics every step, each layer's full weights every %d logged steps%s"
            % (weights_every, at_last)
        )
    return notes


def _examples(ids: list[str], most: int = 3) -> str:
    shown = ", ".join(ids[:most])
    return " (%s%s)" % (shown, ", ..." if len(ids) > most else "")


def layer_shapes(architecture: Mapping[str, Any], layer_ids: Iterable[str] | None = None) -> list[LayerShape]:
    """LayerShapes of the logged layers of an architecture dict (format/architecture), in its order."""
    wanted = None if layer_ids is None else set(layer_ids)
    entries = [layer for layer in architecture.get("layers", []) if wanted is None or layer["id"] in wanted]
    output_layers = {output["layer"] for output in architecture.get("outputs", [])}
    predecessors: dict[str, set[str]] = {}
    successors: dict[str, set[str]] = {}
    for edge in architecture.get("edges", []):
        predecessors.setdefault(edge["to"], set()).add(edge["from"])
        successors.setdefault(edge["from"], set()).add(edge["to"])
    feeding = set().union(*(predecessors.get(layer, set()) for layer in output_layers)) if output_layers else set()
    sizes = {}
    result = []
    for layer in entries:
        outputs = tuple(tuple(int(d or 0) for d in shape[1:]) for shape in layer.get("output_shapes", []) if shape)
        sizes[layer["id"]] = sum(int(np.prod(shape)) if shape else 1 for shape in outputs)
    for layer in entries:
        outputs = tuple(tuple(int(d or 0) for d in shape[1:]) for shape in layer.get("output_shapes", []) if shape)
        weights = tuple((v["name"], int(np.prod(v.get("shape") or [1]))) for v in layer.get("variables", []))
        size = sizes[layer["id"]]
        neighbours = predecessors.get(layer["id"], set()) | successors.get(layer["id"], set())
        around = [sizes[other] for other in neighbours if sizes.get(other)]
        bottleneck = bool(around) and size > 0 and all(size < other for other in around)
        result.append(
            LayerShape(
                id=layer["id"],
                outputs=outputs,
                weights=weights,
                is_output=layer["id"] in output_layers,
                feeds_output=layer["id"] in feeding,
                bottleneck=bottleneck,
                junction=len(predecessors.get(layer["id"], ())) > 1 or len(successors.get(layer["id"], ())) > 1,
            )
        )
    return result
