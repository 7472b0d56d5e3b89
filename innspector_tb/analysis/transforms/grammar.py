"""The transform grammar: its errors and limits, the values a table holds, parameter checkers and the op registry.

Everything a step is checked against before anything runs. The ops themselves live in the ``ops_*``
modules, which fill ``OPS`` with the ``op`` decorator; the interpreter only looks names up there.
"""

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from innspector_tb import errors

MAX_DEPTH = 6  # pipeline > step > "slices" > [start, stop, step] > int is 4
MAX_STRING = 1_000  # characters in any JSON string of a pipeline
MAX_NDIM = 32
INT_BOUND = 2**53  # ints beyond this are not exact in JavaScript anyway


class TransformError(errors.BadRequest):
    """A pipeline the server refuses (unknown op, bad parameter, axis or shape): a 400.

    ``field`` is where in the JSON the problem is, e.g. "pipeline[2].axis".
    ``unexpected`` is True when numpy/scipy failed on something validation
    should have caught (still a 400, but a bug to fix here).
    """

    unexpected = False


class LimitError(errors.LimitExceeded, TransformError):
    """A pipeline that would exceed one of the Limits; ``limit`` names it."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on what one request may cost the server. Elements, not bytes."""

    max_ops: int = 32
    max_input_elements: int = 50_000_000
    max_work_elements: int = 200_000_000  # sum over steps of elements touched
    max_output_elements: int = 2_000_000
    max_bins: int = 10_000
    max_kde_points: int = 2_000
    max_kde_columns: int = 256
    max_kde_samples: int = 20_000  # above: deterministic subsample, not an error
    max_pca_features: int = 10_000
    max_classes: int = 10_000  # groups of group_by_class
    max_pipeline_items: int = 100_000  # JSON values in the pipeline itself


# ---------------------------------------------------------------------------
# Values held in the table besides arrays.


class Record(dict):
    """A JSON-object result (histogram, kde, topk, pca, group_by_class); ``kind`` names the op."""

    def __init__(self, kind, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind


class Vector:
    """A 1-D array rendered as a plain JSON list (histogram edges, kde densities)."""

    def __init__(self, values, dtype=np.float64):
        self.array = np.asarray(values, dtype=dtype).reshape(-1)


def to_json(value):
    """Returns a JSON-safe version of a column or result (NaN and +-Inf become null).

    Arrays become {"shape", "dtype", "data": nested lists}; Records become
    objects; Vectors become plain lists.
    """
    if isinstance(value, np.ndarray):
        return {"shape": list(value.shape), "dtype": value.dtype.name, "data": _tolist(value)}
    if isinstance(value, Vector):
        return _tolist(value.array)
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError("to_json: unsupported value of type %s" % type(value).__name__)


def _tolist(array):
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            cells = array.astype(object)
            cells[bad] = None
            return cells.tolist()
    return array.tolist()


def element_count(value):
    """Number of elements a column costs to output."""
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, Vector):
        return int(value.array.size)
    if isinstance(value, dict):
        return sum(element_count(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(element_count(item) for item in value)
    return 1


# ---------------------------------------------------------------------------
# Parameter validation: JSON types only, checked before anything runs.


class Invalid(Exception):
    """A parameter value is wrong; the step parser adds where."""


REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Param:
    check: Callable[[Any], Any]  # returns the checked value or raises Invalid
    default: object = REQUIRED


def describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean (%s)" % ("true" if value else "false")
    if isinstance(value, (int, float)):
        return "%s (%s)" % ("an integer" if type(value) is int else "a float", short(value))
    if isinstance(value, str):
        return "a string (%s)" % short(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a %s" % type(value).__name__


def short(value, size=40):
    text = repr(value)
    return text if len(text) <= size else text[: size - 3] + "..."


def _checker(text):
    """Labels a validator with a human description, used by grammar()."""

    def label(fn):
        fn.text = text
        return fn

    return label


def integer(lo=-INT_BOUND, hi=INT_BOUND):
    @_checker("integer" + ("" if lo == -INT_BOUND else " >= %d" % lo) + ("" if hi == INT_BOUND else " <= %d" % hi))
    def check(value):
        # type() and not isinstance(): a JSON true is not the integer 1.
        if type(value) is not int:
            raise Invalid("must be an integer, not %s" % describe(value))
        if not lo <= value <= hi:
            raise Invalid("must be between %d and %d, not %s" % (lo, hi, short(value)))
        return value

    return check


def number(lo=-math.inf, hi=math.inf):
    @_checker("number" + ("" if lo == -math.inf else " >= %g" % lo) + ("" if hi == math.inf else " <= %g" % hi))
    def check(value):
        if type(value) not in (int, float):
            raise Invalid("must be a number, not %s" % describe(value))
        value = float(value)
        if not math.isfinite(value):
            raise Invalid("must be a finite number, not %s" % value)
        if not lo <= value <= hi:
            raise Invalid("must be between %g and %g, not %g" % (lo, hi, value))
        return value

    return check


@_checker("boolean")
def boolean(value):
    if type(value) is not bool:
        raise Invalid("must be true or false, not %s" % describe(value))
    return value


def choice(*options):
    @_checker(" | ".join(short(o) for o in options))
    def check(value):
        for option in options:
            if type(value) is type(option) and value == option:
                return value
        raise Invalid("must be one of %s, not %s" % (", ".join(short(o) for o in options), describe(value)))

    return check


@_checker("column name")
def column(value):
    if type(value) is not str or not 1 <= len(value) <= 128:
        raise Invalid("must be a column name (a string of 1 to 128 characters), not %s" % describe(value))
    return value


def optional(check):
    @_checker(check.text + " | null")
    def maybe(value):
        return None if value is None else check(value)

    return maybe


def list_of(check, min_len=0, max_len=None):
    @_checker("list of " + check.text)
    def checked(value):
        if type(value) is not list:
            raise Invalid("must be a list, not %s" % describe(value))
        if len(value) < min_len:
            raise Invalid("must have at least %d item(s)" % min_len)
        if max_len is not None and len(value) > max_len:
            raise Invalid("must have at most %d items, not %d" % (max_len, len(value)))
        items = []
        for index, item in enumerate(value):
            try:
                items.append(check(item))
            except Invalid as error:
                raise Invalid("item %d %s" % (index, error)) from None
        return items

    return checked


@_checker("integer | list of integer | null")
def axes_param(value):
    if value is None or type(value) is int:
        return integer()(value) if value is not None else None
    return list_of(integer(), max_len=MAX_NDIM)(value)


@_checker("[lo, hi] numbers, lo < hi")
def range_param(value):
    lo, hi = list_of(number(), min_len=2, max_len=2)(value)
    if not lo < hi:
        raise Invalid("must be [lo, hi] with lo < hi, not [%g, %g]" % (lo, hi))
    return lo, hi


@_checker("null | integer | [start, stop] | [start, stop, step]")
def slice_entry(value):
    if value is None or type(value) is int:
        return integer()(value) if value is not None else None
    parts = list_of(optional(integer()), min_len=1, max_len=3)(value)
    parts += [None] * (3 - len(parts))
    if parts[2] == 0:
        raise Invalid("has step 0; a slice step must not be zero")
    return tuple(parts)


@_checker("nonzero integer")
def step_param(value):
    value = integer()(value)
    if value == 0:
        raise Invalid("must not be zero")
    return value


# ---------------------------------------------------------------------------
# The registry.


@dataclasses.dataclass(frozen=True)
class OpSpec:
    name: str
    fn: Callable[..., Any]
    params: dict[str, Param]
    kind: str  # "array": array -> value; "record": Record -> value; "table": whole table
    doc: str


OPS: dict[str, OpSpec] = {}
_IN_OUT = {"in": Param(column, "value"), "out": Param(optional(column), None)}


def op(name, kind="array", **params):
    """Registers fn(value, params, ctx) (or fn(table, params, ctx) for kind "table") as `name`."""

    def register(fn):
        spec_params = dict(params)
        if kind != "table":
            spec_params.update(_IN_OUT)
        OPS[name] = OpSpec(name, fn, spec_params, kind, inspect.getdoc(fn) or "")
        return fn

    return register


def grammar():
    """Every op with its docstring and parameters ({name: {"type", "required", "default"}})."""
    described = {}
    for name, spec in sorted(OPS.items()):
        params = {}
        for key, param in spec.params.items():
            params[key] = {"type": getattr(param.check, "text", ""), "required": param.default is REQUIRED}
            if param.default is not REQUIRED:
                params[key]["default"] = param.default
        described[name] = {"doc": spec.doc, "kind": spec.kind, "params": params}
    return described
