"""A model's header: its identity in the tree of models (paper §5.4.1).

A header is a plain, JSON-safe dict so it can be written into a training script,
pasted from the Branch Model tool and stored in a log without code.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from innspector_tb import errors

HEADER_KEYS = ("id", "name", "label", "parents", "hparams")

# A header: {"id": str, "name": str, "label": str, "parents": [id, ...], "hparams": {...}}, JSON-safe.
Header = dict[str, Any]


class HeaderError(errors.ConfigurationError):
    """A header that cannot be logged as given."""


def header(
    name: str,
    label: str | None = None,
    parents: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]] = (),
    id: str | None = None,
    hparams: Mapping[str, Any] | None = None,
) -> Header:
    """Returns the header of a model.

    Args:
      name: short name shown on the model's box, e.g. "cnn_wide".
      label: a longer description; defaults to the name.
      parents: ids (or headers) of the models this one was derived from;
        several are allowed, since two models can be merged.
      id: a stable id; a fresh UUID when omitted.
      hparams: hyper-parameters (batch size, optimizer, loss and its arguments,
        anything else). The Keras callback adds what it reads from the compiled
        model without overriding what is given here.
    """
    _check_name(name)
    if isinstance(parents, (str, Mapping)):
        parents = (parents,)
    parent_ids: list[str] = []
    for parent in parents:
        parent_id = parent.get("id") if isinstance(parent, Mapping) else parent
        if not isinstance(parent_id, str) or not parent_id:
            raise HeaderError("parent must be a header or a non-empty id string, got %r" % (parent,))
        if parent_id not in parent_ids:
            parent_ids.append(parent_id)
    model_id = str(uuid.uuid4()) if id is None else id
    if not isinstance(model_id, str) or not model_id:
        raise HeaderError("header id must be a non-empty string, got %r" % (id,))
    if model_id in parent_ids:
        raise HeaderError("model %r cannot be its own parent" % model_id)
    result = {
        "id": model_id,
        "name": name,
        "label": name if label is None else str(label),
        "parents": parent_ids,
        "hparams": to_json_safe(dict(hparams or {})),
    }
    return result


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise HeaderError("header name must be a non-empty string, got %r" % (name,))
    return name


def branch(parent: Mapping[str, Any], name: str, label: str | None = None, **hparam_changes: Any) -> Header:
    """Returns the header of a child of `parent` (a header dict).

    The child inherits the parent's hyper-parameters, updated with
    `hparam_changes`, and gets a fresh id.
    """
    if not isinstance(parent, Mapping) or "id" not in parent:
        raise HeaderError("branch() needs the parent's header dict, got %r" % (parent,))
    hparams = dict(parent.get("hparams") or {})
    hparams.update(hparam_changes)
    return header(name, label=label, parents=(parent["id"],), hparams=hparams)


def merge_hparams(header_dict: Mapping[str, Any], extra: Mapping[str, Any]) -> Header:
    """Returns a copy of the header with `extra` hparams added where not already set."""
    merged = dict(header_dict)
    hparams = dict(to_json_safe(extra))
    hparams.update(header_dict.get("hparams") or {})
    merged["hparams"] = hparams
    return merged


def validate(header_dict: object) -> Header:
    """Checks a header read from a log or a file; returns it normalised."""
    if not isinstance(header_dict, dict):
        raise HeaderError("header must be a JSON object, got %s" % type(header_dict).__name__)
    unknown = sorted(set(header_dict) - set(HEADER_KEYS))
    if unknown:
        raise HeaderError("header has unknown keys: %s" % ", ".join(unknown))
    hparams = header_dict.get("hparams") or {}
    if not isinstance(hparams, dict):
        raise HeaderError("header hparams must be an object")
    return header(
        _check_name(header_dict.get("name")),
        label=header_dict.get("label"),
        parents=tuple(header_dict.get("parents") or ()),
        id=header_dict.get("id"),
        hparams=hparams,
    )


def to_json(header_dict: Mapping[str, Any]) -> str:
    return json.dumps(header_dict, sort_keys=True, allow_nan=False)


def to_json_safe(value: Any) -> Any:
    """Converts numpy scalars, tuples and odd objects to JSON-safe values.

    Non-finite floats become strings ("nan", "inf") so the JSON stays strict;
    unknown objects become their repr, never code.
    """
    if isinstance(value, dict):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return to_json_safe(value.item())
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "tolist"):
        return to_json_safe(value.tolist())
    return repr(value)


def tensorboard_hparams(header_dict: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """The header's hyper-parameters as TensorBoard's HParams plugin takes them: flat names (nested
    objects joined with "."), values a bool, number or string (lists and other values as JSON text;
    null and non-finite numbers left out), plus `model`, the header's name, so runs of one lineage are
    told apart in the HParams tab."""
    flat: dict[str, bool | int | float | str] = {"model": str(header_dict.get("name", ""))}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                add("%s.%s" % (prefix, key) if prefix else str(key), inner)
        elif value is None or (isinstance(value, float) and not math.isfinite(value)):
            return
        elif isinstance(value, (bool, int, float, str)):
            flat[prefix] = value
        else:
            flat[prefix] = json.dumps(to_json_safe(value), sort_keys=True)

    add("", header_dict.get("hparams") or {})
    return flat
