"""The structural measure's corpus: layer-type transitions counted in the keras.applications models.

``data/layer_transitions.json`` (built by ``tools/build_layer_corpus.py``) is the one file this room
reads: package data, read once per path with ``json`` (cached); nothing in it is ever executed.
"""

import functools
import json
import math
import os

from innspector_tb import resources

DATA_DIR = resources.DATA_DIR
CORPUS_PATH = os.path.join(DATA_DIR, "layer_transitions.json")


@functools.lru_cache(maxsize=4)
def load_corpus(path=CORPUS_PATH):
    """The layer-transition corpus: {"source", "models", "counts": {a: {b: n}}, ...}.

    Plain ``json.load``: nothing in the file is executed. A missing file gives
    an empty corpus (every transition then equally rare).
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {"source": None, "models": [], "counts": {}}
    counts = {}
    for a, row in (data.get("counts") or {}).items():
        if isinstance(row, dict):
            counts[str(a)] = {str(b): float(n) for b, n in row.items() if isinstance(n, (int, float)) and n >= 0}
    data["counts"] = counts
    return data


class TransitionModel:
    """Add-one smoothed P(consumer type | producer type) from corpus counts.

    Known types are every type seen as producer or consumer; one extra slot
    stands for all unknown types, so V = known + 1 outcomes. For a known
    producer a: P(b | a) = (n(a, b) + 1) / (n(a) + V), where n(a, b) = 0 for
    unknown b. An unknown producer (a custom layer) has no row: it backs off to
    the smoothed marginal of consumer types, P(b) = (n(., b) + 1) / (N + V),
    i.e. "any layer feeding b", which for an unknown b too is 1 / (N + V).
    """

    def __init__(self, counts):
        self.counts = counts
        types = set(counts)
        for row in counts.values():
            types.update(row)
        self.types = types
        self.vocabulary = len(types) + 1
        self.row_totals = {a: sum(row.values()) for a, row in counts.items()}
        self.column_totals: dict[str, float] = {}
        for row in counts.values():
            for b, n in row.items():
                self.column_totals[b] = self.column_totals.get(b, 0.0) + n
        self.total = sum(self.row_totals.values())

    def probability(self, producer, consumer):
        row = self.counts.get(producer)
        if row is not None:
            return (row.get(consumer, 0.0) + 1.0) / (self.row_totals[producer] + self.vocabulary)
        return (self.column_totals.get(consumer, 0.0) + 1.0) / (self.total + self.vocabulary)

    def surprise(self, producer, consumer):
        """-log P(consumer | producer), in nats."""
        return -math.log(self.probability(producer, consumer))


@functools.lru_cache(maxsize=4)
def transition_model(path=CORPUS_PATH):
    return TransitionModel(load_corpus(path)["counts"])


def layer_transitions(architecture):
    """(producer id, consumer id) pairs of an architecture's data-flow edges.

    The InputLayer of a nested model is a pass-through (edges into a nested
    model are rewired to it): edges through it are joined, so the corpus and
    the scored models count ``Add -> LayerNormalization``, not
    ``Add -> InputLayer -> LayerNormalization``. The top-level InputLayers
    (no incoming edge) remain producers.
    """
    types = {layer["id"]: layer.get("type") for layer in architecture.get("layers", [])}
    incoming: dict[str, list[str]] = {}
    for edge in architecture.get("edges", []):
        if edge.get("from") in types and edge.get("to") in types:
            incoming.setdefault(edge["to"], []).append(edge["from"])
    passthrough = {lid for lid, t in types.items() if t == "InputLayer" and lid in incoming}

    def producers(lid, seen):
        for source in incoming.get(lid, []):
            if source in passthrough:
                if source not in seen:
                    seen.add(source)
                    yield from producers(source, seen)
            else:
                yield source

    pairs = []
    for lid in types:
        if lid in passthrough:
            continue
        for source in producers(lid, set()):
            pairs.append((source, lid))
    return pairs, types, passthrough
