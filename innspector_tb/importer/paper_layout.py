"""The iNNspector paper's HDF5 checkpoint layout: reading one file completely and checking it.

Only numeric datasets reached by hard links are read: no attributes, no pickles, no external or soft
links, no virtual datasets. `build_architecture` describes what such a file shows of a model.
"""

import os
import re
from typing import Any

import h5py
import numpy as np

from innspector_tb import errors, fs
from innspector_tb.format import architecture as architecture_lib
from innspector_tb.format import inner_ops, step_files

# Parts of a layer group in the paper's layout.
ACTIVATIONS = "activations"
WEIGHTS = "weights"
CLASS_MEANS = "mean_class_activations"
LAYER_PARTS = (ACTIVATIONS, WEIGHTS, CLASS_MEANS)
SAMPLE_DATASETS = ("x", "y_label", "y_prediction")

_CLASS_NAME = re.compile(r"^class_(-?[0-9]+)$")
# What one dataset of an imported checkpoint may declare (shape x item size), read whole into memory.
MAX_DATASET_BYTES = 4 * 2**30
# Nesting below layers/ deeper than this is refused (and guards against cycles).
_MAX_DEPTH = 64


class CheckpointImportError(errors.FormatError):
    """A checkpoint that cannot be imported, or a run that cannot take it."""


# ------------------------------------------------------------------ reading


class _Layer:
    def __init__(self, layer_id):
        self.id = layer_id
        self.activations = None
        self.weights = {}  # variable name -> array, in file order
        self.class_means = {}  # class -> array


class _Parsed:
    def __init__(self, path):
        self.path = path
        self.x = None
        self.y_label = None
        self.y_prediction = None
        self.layers = []
        self.skipped = []  # "path: reason" of what the layout does not know
        self.notes = []  # "path: remark" of what was imported differently

    def skip(self, path, reason):
        self.skipped.append("%s: %s" % (path, reason))

    def note(self, path, remark):
        self.notes.append("%s: %s" % (path, remark))


def _read_numeric(parsed, obj, path, min_ndim=0):
    """The array of a dataset, or None (noted as skipped) if it is not plain numbers."""
    if not isinstance(obj, h5py.Dataset):
        parsed.skip(path, "expected a dataset, found a group")
        return None
    try:
        step_files.check_dataset(obj, path)  # virtual, external storage, null dataspace, not numbers
    except step_files.UnsafeDataset as e:
        parsed.skip(path, "%s" % e)
        return None
    if len(obj.shape) < min_ndim:
        parsed.skip(path, "a scalar, but a samples axis is needed")
        return None
    declared = step_files.declared_bytes(obj)
    if declared > MAX_DATASET_BYTES:
        # Compressed data can declare far more than the file holds (a decompression bomb).
        parsed.skip(path, "declares %d bytes, over the import limit of %d" % (declared, MAX_DATASET_BYTES))
        return None
    return np.asarray(obj[()])


def _members(parsed, group, path):
    """(name, object) of the hard-linked members of a group, in file order."""
    result = []
    for name in group.keys():
        member_path = "%s/%s" % (path, name) if path else name
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            parsed.skip(member_path, "%s not followed" % type(link).__name__)
            continue
        result.append((name, member_path, group[name]))
    return result


def _is_layer(group):
    return any(name in LAYER_PARTS for name in group.keys())


def _read_layer(parsed, group, layer, path, visit_child):
    for name, member_path, obj in _members(parsed, group, path):
        if name == ACTIVATIONS:
            array = _read_numeric(parsed, obj, member_path, min_ndim=1)
            if array is not None:
                layer.activations = array
        elif name == WEIGHTS:
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group of variables, found a dataset")
                continue
            for variable, variable_path, value in _members(parsed, obj, member_path):
                if isinstance(value, h5py.Group):
                    parsed.skip(variable_path, "nested group inside weights")
                    continue
                array = _read_numeric(parsed, value, variable_path)
                if array is not None:
                    layer.weights[variable] = array
        elif name == CLASS_MEANS:
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group of class_<k> datasets, found a dataset")
                continue
            for entry, entry_path, value in _members(parsed, obj, member_path):
                match = _CLASS_NAME.match(entry)
                if not match:
                    parsed.skip(entry_path, "not named class_<integer>")
                    continue
                k = int(match.group(1))
                if k in layer.class_means:
                    parsed.skip(entry_path, "class %d appears twice" % k)
                    continue
                array = _read_numeric(parsed, value, entry_path)
                if array is not None:
                    layer.class_means[k] = array
        elif isinstance(obj, h5py.Group):
            visit_child(obj, member_path)  # may hold nested layers
        else:
            parsed.skip(member_path, "unknown dataset in a layer group")


def _read_layers(parsed, root):
    visited = {root.id}

    def visit(group, path, depth):
        """Adds the layers at or below `group`; returns how many it found."""
        if group.id in visited:
            parsed.skip(path, "group linked twice (a cycle or an alias), read once")
            return 0
        visited.add(group.id)
        if depth > _MAX_DEPTH:
            raise CheckpointImportError("groups under layers/ are nested more than %d deep" % _MAX_DEPTH)
        relative = path[len("layers/") :]
        found = 0
        if _is_layer(group):
            layer = _Layer(relative)
            parsed.layers.append(layer)
            found = 1

            def visit_child(child, child_path):
                nonlocal found
                found += visit(child, child_path, depth + 1)

            _read_layer(parsed, group, layer, path, visit_child)
            return found
        for _, member_path, obj in _members(parsed, group, path):
            if isinstance(obj, h5py.Group):
                found += visit(obj, member_path, depth + 1)
            else:
                parsed.skip(member_path, "dataset outside any layer group")
        if found == 0:
            parsed.skip(path, "group holds no activations, weights or mean_class_activations")
        return found

    for _, member_path, obj in _members(parsed, root, "layers"):
        if isinstance(obj, h5py.Group):
            visit(obj, member_path, 1)
        else:
            parsed.skip(member_path, "dataset directly under layers/ (expected layer groups)")


def read_checkpoint(path):
    """Reads and checks the whole checkpoint; raises CheckpointImportError if unusable."""
    if fs.is_local(path):
        plain = fs.local_path(path)
        if not os.path.exists(plain):
            raise CheckpointImportError("checkpoint %s: no such file" % path)
        if not os.path.isfile(plain):
            raise CheckpointImportError("checkpoint %s: not a file" % path)
        if not h5py.is_hdf5(plain):
            raise CheckpointImportError("checkpoint %s: not an HDF5 file" % path)
    parsed = _Parsed(path)
    try:
        with step_files.open_file(path) as f:
            _read_root(parsed, f)
    except CheckpointImportError:
        raise
    except step_files.StepFileError as e:
        raise CheckpointImportError(
            "checkpoint %s cannot be opened as HDF5 (truncated or corrupt?): %s" % (path, e)
        ) from None
    except Exception as e:  # h5py reports damage as OSError, KeyError, RuntimeError, ...
        raise CheckpointImportError(
            "checkpoint %s is unreadable (truncated or corrupt?): %s: %s" % (path, type(e).__name__, e)
        ) from None
    _check(parsed)
    return parsed


def _read_root(parsed, f):
    members = _members(parsed, f, "")
    names = [name for name, _, _ in members]
    if "data_samples" not in names and "layers" not in names:
        raise CheckpointImportError(
            "checkpoint %s is not in the iNNspector layout: no data_samples/ or layers/ group "
            "(top level holds: %s)" % (parsed.path, ", ".join(sorted(f.keys())) or "nothing")
        )
    for name, member_path, obj in members:
        if name == "data_samples":
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group, found a dataset")
                continue
            for sample_name, sample_path, value in _members(parsed, obj, member_path):
                if sample_name not in SAMPLE_DATASETS:
                    parsed.skip(sample_path, "unknown sample dataset")
                    continue
                array = _read_numeric(parsed, value, sample_path, min_ndim=1)
                if array is not None:
                    setattr(parsed, sample_name, array)
        elif name == "layers":
            if not isinstance(obj, h5py.Group):
                parsed.skip(member_path, "expected a group, found a dataset")
                continue
            _read_layers(parsed, obj)
        else:
            parsed.skip(member_path, "not part of the iNNspector layout")


def _check(parsed):
    """Refuses what the summary ops would reject halfway through writing."""
    counts = {}
    for name in SAMPLE_DATASETS:
        array = getattr(parsed, name)
        if array is not None:
            counts["data_samples/" + name] = array.shape[0]
    for layer in parsed.layers:
        if layer.activations is not None:
            counts["layers/%s/activations" % layer.id] = layer.activations.shape[0]
    if len(set(counts.values())) > 1:
        raise CheckpointImportError(
            "checkpoint %s: sample counts disagree: %s"
            % (parsed.path, ", ".join("%s has %d" % item for item in sorted(counts.items())))
        )
    names: dict[str, str] = {}
    for layer in parsed.layers:
        h5_name = architecture_lib.layer_h5_name(layer.id)
        if h5_name in names:
            raise CheckpointImportError(
                "checkpoint %s: layers %r and %r would share the group layers/%s"
                % (parsed.path, names[h5_name], layer.id, h5_name)
            )
        names[h5_name] = layer.id
    wide = sorted(name for name, array in _all_arrays(parsed) if array.dtype.kind == "f" and array.dtype.itemsize > 4)
    if wide:
        parsed.note(", ".join(wide), "stored as float32 (the run's storage dtype)")
    has_data = any(getattr(parsed, name) is not None for name in SAMPLE_DATASETS) or any(
        layer.activations is not None or layer.weights or layer.class_means for layer in parsed.layers
    )
    if not has_data:
        raise CheckpointImportError("checkpoint %s holds no data to import" % parsed.path)


def _all_arrays(parsed):
    for name in SAMPLE_DATASETS:
        if getattr(parsed, name) is not None:
            yield "data_samples/" + name, getattr(parsed, name)
    for layer in parsed.layers:
        base = "layers/" + layer.id
        if layer.activations is not None:
            yield base + "/" + ACTIVATIONS, layer.activations
        for var, array in layer.weights.items():
            yield "%s/%s/%s" % (base, WEIGHTS, var), array
        for k, array in layer.class_means.items():
            yield "%s/%s/class_%d" % (base, CLASS_MEANS, k), array


# ------------------------------------------------------------------ architecture


def build_architecture(layers, name, source):
    """A format-version-1 architecture of what a checkpoint shows: layers, no edges."""
    entries = []
    total = 0
    namespaces: dict[str, dict[str, Any]] = {}
    for layer in layers:
        namespace, _, short = layer.id.rpartition("/")
        variables = [
            {
                "name": var,
                "path": "%s/%s" % (layer.id, var),
                "shape": [int(d) for d in array.shape],
                "dtype": array.dtype.name,
                "trainable": None,
                "initializer": None,
            }
            for var, array in layer.weights.items()
        ]
        size = sum(int(array.size) for array in layer.weights.values())
        total += size
        if layer.activations is not None:
            outputs = [[None] + [int(d) for d in layer.activations.shape[1:]]]
        elif layer.class_means:
            # A class mean has the shape of one sample's activations.
            outputs = [[None] + [int(d) for d in next(iter(layer.class_means.values())).shape]]
        else:
            outputs = []
        graph = inner_ops.InnerGraph([(v["name"], v["shape"]) for v in variables])
        graph.output(graph.op("call", [graph.input()], label="Unknown", variables=[v["name"] for v in variables]))
        entries.append(
            {
                "id": layer.id,
                "name": short,
                "namespace": namespace,
                "type": "Unknown",
                "module": "",
                "custom": True,
                "config": {},
                "input_shapes": [],
                "output_shapes": outputs,
                "calls": 1,
                "params": {"trainable": size, "non_trainable": 0},
                "variables": variables,
                "inner": graph.as_dict(),
                "is_input": False,
            }
        )
        parent = namespace
        while parent:
            parent_of, _, parent_name = parent.rpartition("/")
            space = namespaces.setdefault(
                parent,
                {
                    "id": parent,
                    "name": parent_name,
                    "parent": parent_of,
                    "type": "Unknown",
                    "functional": False,
                    "layers": [],
                    "inputs": [],
                    "outputs": [],
                    "params": {"trainable": 0, "non_trainable": 0},
                },
            )
            space["params"]["trainable"] += size
            if parent == namespace:
                space["layers"].append(layer.id)
            parent = parent_of
    notes = ["imported from %s: layer types and data-flow edges are unknown" % source]
    if total:
        notes.append(
            "imported from %s: trainability is unknown; all %d weights are counted as trainable" % (source, total)
        )
    return {
        "format_version": architecture_lib.FORMAT_VERSION,
        "model": {"name": name, "class": "Unknown", "functional": False, "notes": notes},
        "inputs": [],
        "outputs": [],
        "layers": entries,
        "edges": [],
        "namespaces": sorted(namespaces.values(), key=lambda ns: ns["id"].count("/")),
        "params": {"trainable": total, "non_trainable": 0},
    }
