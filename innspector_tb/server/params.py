"""Request parameters: turning untrusted query-string and JSON-body values into checked Python values.

Every parser raises errors.BadRequest (answered 400) saying which parameter is wrong and why; none of
them reads the store. The routes call them with the raw value (Any: a query-string value or anything a
JSON body holds) and the parameter's name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

from innspector_tb.errors import BadRequest

MAX_KEEP = 100  # neurons a `keep` parameter may name


def int_param(
    value: Any, name: str, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer within [minimum, maximum]; `default` when absent (required when there is none)."""
    if value is None or value == "":
        if default is None:
            raise BadRequest("parameter %r is required" % name)
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise BadRequest("parameter %r must be an integer, got %r" % (name, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest("parameter %r must be an integer, got %r" % (name, value)) from None
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        raise BadRequest("parameter %r must be within [%s, %s], got %d" % (name, minimum, maximum, number))
    return number


def float_param(
    value: Any, name: str, default: float, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite number within [minimum, maximum]; `default` when absent."""
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest("parameter %r must be a number, got %r" % (name, value)) from None
    if (
        not math.isfinite(number)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise BadRequest(
            "parameter %r must be a finite number within [%s, %s], got %r" % (name, minimum, maximum, value)
        )
    return number


def step_param(value: Any) -> int | None:
    """None/"last" for the last complete step, else a non-negative integer."""
    if value is None or value == "" or value == "last":
        return None
    return int_param(value, "step", minimum=0, maximum=2**62)


def list_param(value: Any, name: str) -> list[str | int] | None:
    """A comma-separated list (query string) or a JSON list of strings or ints; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [item for item in value.split(",") if item != ""]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return value
    raise BadRequest("parameter %r must be a list of names" % name)


def class_selection(value: Any, classes: Sequence[Any]) -> list[int]:
    """Indices into `classes` of the selected classes (all when absent)."""
    selected = list_param(value, "classes")
    if selected is None:
        return list(range(len(classes)))
    if not selected:
        raise BadRequest("select at least one class (or leave 'classes' out for all)")
    known = {str(c): i for i, c in enumerate(classes)}
    rows = []
    for item in selected:
        if str(item) not in known:
            raise BadRequest("unknown class %r; classes: %s" % (item, ", ".join(map(str, classes))))
        rows.append(known[str(item)])
    return sorted(set(rows))


def keep_param(value: Any, units: int) -> tuple[int, ...]:
    """`keep`: comma-separated neuron indices of the layer to keep in the L1 view (at most MAX_KEEP)."""
    if value in (None, ""):
        return ()
    parts = str(value).split(",")
    if len(parts) > MAX_KEEP:
        raise BadRequest("keep: at most %d neurons" % MAX_KEEP)
    try:
        indices = [int(p) for p in parts]
    except ValueError:
        raise BadRequest("keep must be comma-separated neuron indices, got %r" % (value,)) from None
    outside = [i for i in indices if not 0 <= i < units]
    if outside:
        raise BadRequest("keep: neuron(s) %s outside the layer's %d units" % (outside, units))
    return tuple(indices)


@overload
def require_str(body: Mapping[str, Any], key: str, required: Literal[True] = ...) -> str: ...
@overload
def require_str(body: Mapping[str, Any], key: str, required: bool) -> str | None: ...
def require_str(body: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    """body[key], a non-empty string (None when absent and not required)."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest("%r must be a non-empty string" % key)
    return value


def json_number(value: Any) -> float | None:
    """A float for JSON: None for None, NaN and infinities (JSON has no such numbers)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
