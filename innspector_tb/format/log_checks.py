"""The shapes of the JSON summaries a reader trusts: checked once, when a run's summary is read, so a
malformed run (`{"layers": 5}`, parents that are not a list) is that run's listed error and never a
crash in code that reads every run (models, tree, structures, interestingness).

Lenient where old or newer writers differ (unknown keys are kept), strict on what readers index into.
"""

from typing import Any

_SHAPE = {"type": "array", "items": {"type": ["integer", "null", "array"]}}
_PARAMS = {
    "type": "object",
    "properties": {"trainable": {"type": "integer", "minimum": 0}, "non_trainable": {"type": "integer", "minimum": 0}},
}
_STRINGS = {"type": "array", "items": {"type": "string"}}

ARCHITECTURE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["layers"],
    "properties": {
        "model": {"type": "object", "properties": {"name": {"type": "string"}, "notes": _STRINGS}},
        "inputs": _STRINGS,
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["layer"],
                "properties": {"layer": {"type": "string"}, "output_index": {"type": "integer", "minimum": 0}},
            },
        },
        "layers": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
        "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}},
        "namespaces": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "string"}, "layers": _STRINGS, "inputs": _STRINGS, "outputs": _STRINGS},
            },
        },
        "params": _PARAMS,
    },
    "$defs": {
        "layer": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "type": {"type": "string"},
                "module": {"type": "string"},
                "config": {"type": "object"},
                "input_shapes": {"type": "array", "items": _SHAPE},
                "output_shapes": {"type": "array", "items": _SHAPE},
                "calls": {"type": "integer", "minimum": 0},
                "params": _PARAMS,
                "variables": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                },
                "inner": {
                    "type": "object",
                    "properties": {
                        "nodes": {"type": "array", "items": {"type": "object"}},
                        "edges": {"type": "array", "items": {"type": "array"}},
                    },
                },
                "is_input": {"type": "boolean"},
            },
        },
        "edge": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {
                "from": {"type": "string"},
                "to": {"type": "string"},
                "from_output": {"type": "integer", "minimum": 0},
                "to_input": {"type": "integer", "minimum": 0},
                "call": {"type": "integer", "minimum": 0},
                "shape": _SHAPE,
            },
        },
    },
}

HEADER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "id": {"type": ["string", "null"]},
        "name": {"type": "string"},
        "label": {"type": ["string", "null"]},
        "parents": _STRINGS,
        "hparams": {"type": "object"},
    },
}

_validators: dict[int, Any] = {}


class LogShapeError(ValueError):
    """A summary whose JSON is well formed but not shaped as the format says."""


def check_architecture(value: Any) -> Any:
    """`value` when it is shaped as an architecture summary; LogShapeError saying where it is not."""
    return _check(ARCHITECTURE_SCHEMA, value, "architecture")


def check_header(value: Any) -> Any:
    """`value` when it is shaped as a header; LogShapeError saying where it is not."""
    return _check(HEADER_SCHEMA, value, "header")


def _check(schema: dict[str, Any], value: Any, what: str) -> Any:
    validator = _validators.get(id(schema))
    if validator is None:
        import jsonschema  # on first use: a process that never reads a log need not pay for it

        validator = _validators[id(schema)] = jsonschema.Draft202012Validator(schema)
    error = next(iter(validator.iter_errors(value)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise LogShapeError("%s malformed at %s: %s" % (what, where, _short(error.message)))
    return value


def _short(message: str, limit: int = 120) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
