"""Server-side transform pipelines for the `data` route: a JSON grammar and its interpreter.

The browser only draws; the server cuts, reduces and bins the stored arrays
(activations, weights, gradients of a unit of analysis) as the frontend asks,
in a small JSON language. Pure numpy/scipy, no I/O, and no string is ever
evaluated: an op name only selects a function from the OPS registry.

Grammar
-------
A pipeline is a JSON list of steps, applied in order to a table of named
columns. The table starts as {"value": the array}, plus {"label": one int class
label per sample (first axis)} when the caller has labels. A step is
``{"op": name, ...params}``:

* array ops read column "in" (default "value") and write column "out"
  (default: "in"): slice, select, classes, flatten, reshape, transpose, abs,
  log, clip, mean, std, var, min, max, sum, count, median, quantiles,
  histogram, kde, topk, sort, group_by_class, pca, normalize;
* "get" reads one field of a JSON-object result (e.g. pca "coordinates");
* production rules reshape the table itself: branch (copy a column into
  several), merge (stack / concatenate columns), select_columns (keep some).

``grammar()`` lists every op with its parameters and docstring. ``run()``
returns {column: to_json(column)} for every column left at the end.

Errors
------
Every refusal is a TransformError (a ValueError, answered with 400) whose
message names the step and what is wrong ("pipeline[2] (mean): axis 4 out of
range for a 2-D array") and whose ``field`` points into the JSON
("pipeline[2].axis"). Breaching a Limits value raises LimitError, always
*before* the expensive work.
"""

import dataclasses
import difflib
import inspect
import math

import numpy as np
from scipy import stats as scipy_stats
from innspector_tb import errors

MAX_DEPTH = 6          # pipeline > step > "slices" > [start, stop, step] > int is 4
MAX_STRING = 1_000     # characters in any JSON string of a pipeline
MAX_NDIM = 32
INT_BOUND = 2 ** 53    # ints beyond this are not exact in JavaScript anyway
MAX_QUANTILES = 1_000
DEFAULT_BINS = 30
DEFAULT_KDE_POINTS = 100
# Randomized PCA: Halko et al. range finder, fixed seed so answers are stable.
OVERSAMPLING = 10
POWER_ITERATIONS = 3
RANDOMIZED_PASSES = 5 + 2 * POWER_ITERATIONS  # passes over the data, for the work budget


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
    max_work_elements: int = 200_000_000   # sum over steps of elements touched
    max_output_elements: int = 2_000_000
    max_bins: int = 10_000
    max_kde_points: int = 2_000
    max_kde_columns: int = 256
    max_kde_samples: int = 20_000          # above: deterministic subsample, not an error
    max_pca_features: int = 10_000
    max_classes: int = 10_000              # groups of group_by_class
    max_pipeline_items: int = 100_000      # JSON values in the pipeline itself


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


def _count(value):
    """Number of elements a column costs to output."""
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, Vector):
        return int(value.array.size)
    if isinstance(value, dict):
        return sum(_count(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_count(item) for item in value)
    return 1


# ---------------------------------------------------------------------------
# Parameter validation: JSON types only, checked before anything runs.


class _Invalid(Exception):
    """A parameter value is wrong; the step parser adds where."""


REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Param:
    check: object
    default: object = REQUIRED


def _describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean (%s)" % ("true" if value else "false")
    if isinstance(value, (int, float)):
        return "%s (%s)" % ("an integer" if type(value) is int else "a float", _short(value))
    if isinstance(value, str):
        return "a string (%s)" % _short(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a %s" % type(value).__name__


def _short(value, size=40):
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
            raise _Invalid("must be an integer, not %s" % _describe(value))
        if not lo <= value <= hi:
            raise _Invalid("must be between %d and %d, not %s" % (lo, hi, _short(value)))
        return value

    return check


def number(lo=-math.inf, hi=math.inf):
    @_checker("number" + ("" if lo == -math.inf else " >= %g" % lo) + ("" if hi == math.inf else " <= %g" % hi))
    def check(value):
        if type(value) not in (int, float):
            raise _Invalid("must be a number, not %s" % _describe(value))
        value = float(value)
        if not math.isfinite(value):
            raise _Invalid("must be a finite number, not %s" % value)
        if not lo <= value <= hi:
            raise _Invalid("must be between %g and %g, not %g" % (lo, hi, value))
        return value

    return check


@_checker("boolean")
def boolean(value):
    if type(value) is not bool:
        raise _Invalid("must be true or false, not %s" % _describe(value))
    return value


def choice(*options):
    @_checker(" | ".join(_short(o) for o in options))
    def check(value):
        for option in options:
            if type(value) is type(option) and value == option:
                return value
        raise _Invalid("must be one of %s, not %s" % (", ".join(_short(o) for o in options), _describe(value)))

    return check


@_checker("column name")
def column(value):
    if type(value) is not str or not 1 <= len(value) <= 128:
        raise _Invalid("must be a column name (a string of 1 to 128 characters), not %s" % _describe(value))
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
            raise _Invalid("must be a list, not %s" % _describe(value))
        if len(value) < min_len:
            raise _Invalid("must have at least %d item(s)" % min_len)
        if max_len is not None and len(value) > max_len:
            raise _Invalid("must have at most %d items, not %d" % (max_len, len(value)))
        items = []
        for index, item in enumerate(value):
            try:
                items.append(check(item))
            except _Invalid as error:
                raise _Invalid("item %d %s" % (index, error)) from None
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
        raise _Invalid("must be [lo, hi] with lo < hi, not [%g, %g]" % (lo, hi))
    return lo, hi


@_checker("null | integer | [start, stop] | [start, stop, step]")
def slice_entry(value):
    if value is None or type(value) is int:
        return integer()(value) if value is not None else None
    parts = list_of(optional(integer()), min_len=1, max_len=3)(value)
    parts += [None] * (3 - len(parts))
    if parts[2] == 0:
        raise _Invalid("has step 0; a slice step must not be zero")
    return tuple(parts)


@_checker("nonzero integer")
def step_param(value):
    value = integer()(value)
    if value == 0:
        raise _Invalid("must not be zero")
    return value


# ---------------------------------------------------------------------------
# The registry.


@dataclasses.dataclass(frozen=True)
class OpSpec:
    name: str
    fn: object
    params: dict
    kind: str   # "array": array -> value; "record": Record -> value; "table": whole table
    doc: str


OPS = {}
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


# ---------------------------------------------------------------------------
# The interpreter.


@dataclasses.dataclass
class _Step:
    index: int
    spec: OpSpec
    params: dict

    @property
    def where(self):
        return "pipeline[%d]" % self.index


def run(pipeline, columns, limits=Limits()):
    """Applies `pipeline` (JSON list of steps) to `columns` ({name: array}) and returns JSON-safe output.

    `columns` normally holds "value" and optionally "label". Returns
    {column name: to_json(column)} for every column left. Raises
    TransformError (LimitError for limits) and nothing else for any pipeline.
    """
    _check_json(pipeline, limits)
    if type(pipeline) is not list:
        raise TransformError("the pipeline must be a list of steps, not %s" % _describe(pipeline), field="pipeline")
    if len(pipeline) > limits.max_ops:
        raise LimitError(
            "the pipeline has %d steps, more than max_ops = %d" % (len(pipeline), limits.max_ops),
            "max_ops", len(pipeline), limits.max_ops, field="pipeline",
        )
    # Parse every step first: a typo in step 9 is reported before step 0 runs.
    steps = [_parse_step(index, raw) for index, raw in enumerate(pipeline)]
    context = _Context(limits, _input_table(columns, limits))
    # Overflow, 0/0 and NaN comparisons are expected here (NaN in, null out).
    with np.errstate(all="ignore"):
        for step in steps:
            context.run(step)
    table = context.table
    total = sum(_count(value) for value in table.values())
    if total > limits.max_output_elements:
        raise LimitError(
            "the output has %d elements, more than max_output_elements = %d; reduce, slice or "
            "select_columns first" % (total, limits.max_output_elements),
            "max_output_elements", total, limits.max_output_elements, field="pipeline",
        )
    return {name: to_json(value) for name, value in table.items()}


def _check_json(value, limits):
    """Only JSON types, bounded depth, size and strings; iterative so deep nesting cannot recurse."""
    stack = [(value, 0, "pipeline")]
    items = 0
    while stack:
        item, depth, path = stack.pop()
        items += 1
        if items > limits.max_pipeline_items:
            raise LimitError(
                "the pipeline holds more than max_pipeline_items = %d JSON values" % limits.max_pipeline_items,
                "max_pipeline_items", items, limits.max_pipeline_items, field="pipeline",
            )
        if depth > MAX_DEPTH:
            raise TransformError("%s: nested deeper than %d levels" % (path, MAX_DEPTH), field=path)
        if item is None or type(item) in (bool, int, float):
            continue
        if type(item) is str:
            if len(item) > MAX_STRING:
                raise TransformError("%s: string longer than %d characters" % (path, MAX_STRING), field=path)
        elif type(item) is list:
            stack.extend((child, depth + 1, "%s[%d]" % (path, i)) for i, child in enumerate(item))
        elif type(item) is dict:
            for key, child in item.items():
                if type(key) is not str:
                    raise TransformError("%s: object keys must be strings, not %s" % (path, _describe(key)), field=path)
                if len(key) > MAX_STRING:
                    raise TransformError("%s: key longer than %d characters" % (path, MAX_STRING), field=path)
                stack.append((child, depth + 1, "%s.%s" % (path, key[:40])))
        else:
            raise TransformError("%s: %s is not a JSON value" % (path, _describe(item)), field=path)


def _parse_step(index, raw):
    where = "pipeline[%d]" % index
    if type(raw) is not dict:
        raise TransformError('%s: a step must be an object like {"op": "mean"}, not %s' % (where, _describe(raw)), field=where)
    if "op" not in raw:
        raise TransformError("%s: missing 'op'" % where, field=where + ".op")
    name = raw["op"]
    if type(name) is not str:
        raise TransformError("%s: 'op' must be a string, not %s" % (where, _describe(name)), field=where + ".op")
    spec = OPS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, OPS, n=1)
        hint = " (did you mean '%s'?)" % close[0] if close else ""
        raise TransformError(
            "%s: unknown op %s%s; known ops: %s" % (where, _short(name), hint, ", ".join(sorted(OPS))),
            field=where + ".op",
        )
    label = "%s (%s)" % (where, name)
    for key in raw:
        if key != "op" and key not in spec.params:
            raise TransformError(
                "%s: unknown parameter %s; %s takes: %s" % (label, _short(key), name, ", ".join(sorted(spec.params))),
                field="%s.%s" % (where, key[:40]),
            )
    params = {}
    for key, param in spec.params.items():
        if key in raw:
            try:
                params[key] = param.check(raw[key])
            except _Invalid as error:
                raise TransformError("%s: parameter '%s' %s" % (label, key, error), field="%s.%s" % (where, key)) from None
        elif param.default is REQUIRED:
            raise TransformError("%s: missing required parameter '%s'" % (label, key), field="%s.%s" % (where, key))
        else:
            params[key] = param.default
    return _Step(index, spec, params)


def _input_table(columns, limits):
    if not isinstance(columns, dict):
        raise TransformError("columns must be a dict of name -> array", field="columns")
    table = {}
    total = 0
    for name, value in columns.items():
        if name == "label" and value is None:
            continue
        if type(name) is not str:
            raise TransformError("column names must be strings, not %s" % _describe(name), field="columns")
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as error:
            raise TransformError("column '%s' is not an array: %s" % (name, error), field="columns") from None
        if array.dtype.kind not in "biuf" or array.ndim > MAX_NDIM:
            raise TransformError(
                "column '%s' must be a numeric array of at most %d dimensions, not %s with %d"
                % (name, MAX_NDIM, array.dtype, array.ndim),
                field="columns",
            )
        total += array.size
        table[name] = array
    if total > limits.max_input_elements:
        raise LimitError(
            "the input has %d elements, more than max_input_elements = %d" % (total, limits.max_input_elements),
            "max_input_elements", total, limits.max_input_elements, field="columns",
        )
    return table


class _Context:
    """What an op may use: the table, the limits, the work budget, and error helpers."""

    def __init__(self, limits, table):
        self.limits = limits
        self.table = table
        self.work = 0
        self.step = None

    def run(self, step):
        self.step = step
        spec = step.spec
        try:
            if spec.kind == "table":
                spec.fn(self.table, step.params, self)
                return
            name = step.params["in"]
            value = self.column(name)
            if spec.kind == "array" and not isinstance(value, np.ndarray):
                raise self.error(
                    "column '%s' holds a %s result (a JSON object), not an array; use 'get' to take one of "
                    "its fields (%s)" % (name, getattr(value, "kind", "non-array"), ", ".join(map(str, value))[:200]),
                    field="in",
                )
            if spec.kind == "record" and not isinstance(value, Record):
                raise self.error("column '%s' is an array; 'get' takes a field of an op's JSON-object result" % name, field="in")
            self.charge(_count(value))
            result = spec.fn(value, step.params, self)
            if isinstance(result, np.generic):
                result = np.asarray(result)  # ufuncs turn 0-d arrays into numpy scalars
            self.table[step.params["out"] or name] = result
        except TransformError:
            raise
        except (ValueError, TypeError, IndexError, ArithmeticError) as error:
            # Validation should have caught this: still the client's input, so still a 400.
            wrapped = self.error("could not compute this step (%s: %s)" % (type(error).__name__, error))
            wrapped.unexpected = True
            raise wrapped from error

    # -- errors ------------------------------------------------------------

    def _where(self, field):
        where = self.step.where
        return where + "." + field if field else where

    def error(self, message, field=None):
        """A TransformError naming the current step."""
        return TransformError("%s (%s): %s" % (self.step.where, self.step.spec.name, message), field=self._where(field))

    def limit(self, limit, value, message, field=None):
        maximum = getattr(self.limits, limit)
        return LimitError(
            "%s (%s): %s, more than %s = %d" % (self.step.where, self.step.spec.name, message, limit, maximum),
            limit, value, maximum, field=self._where(field),
        )

    def charge(self, elements):
        """Adds to the work budget; called before the work, so a breach costs nothing."""
        self.work += int(elements)
        if self.work > self.limits.max_work_elements:
            raise self.limit("max_work_elements", self.work, "the pipeline would touch %d elements" % self.work)

    # -- lookups -----------------------------------------------------------

    def column(self, name, field="in"):
        if name not in self.table:
            raise self.error("no column '%s'; columns are: %s" % (name, ", ".join(sorted(self.table)) or "none"), field=field)
        return self.table[name]

    def array(self, name, field):
        value = self.column(name, field)
        if not isinstance(value, np.ndarray):
            raise self.error("column '%s' holds a %s result, not an array" % (name, value.kind), field=field)
        return value

    def axis(self, axis, ndim, field="axis"):
        """Normalises a possibly negative axis, or raises naming the array's dimensions."""
        if not -ndim <= axis < ndim:
            raise self.error("axis %d out of range for a %d-D array" % (axis, ndim), field=field)
        return axis % ndim

    def axes(self, axes, ndim, field="axis"):
        """int | list | None (all axes) -> sorted tuple of distinct axes."""
        if axes is None:
            return tuple(range(ndim))
        if type(axes) is int:
            return (self.axis(axes, ndim, field),)
        normalised = [self.axis(a, ndim, field) for a in axes]
        if len(set(normalised)) != len(normalised):
            raise self.error("axis %s repeats an axis" % axes, field=field)
        return tuple(sorted(normalised))

    def labels(self, x):
        """The "label" column as int64, checked against the samples (first axis) of x."""
        labels = self.table.get("label")
        if labels is None:
            raise self.error("needs a 'label' column (class label per sample), and there is none")
        if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "biu":
            raise self.error("the 'label' column must be a 1-D array of integer class labels")
        if x.ndim == 0 or x.shape[0] != labels.shape[0]:
            raise self.error(
                "the 'label' column has %d labels but the data has %s samples along axis 0"
                % (labels.shape[0], x.shape[0] if x.ndim else "no"),
            )
        return labels.astype(np.int64)


# ---------------------------------------------------------------------------
# Numeric helpers. Everything is computed in float64 and returned in the
# input's float dtype (float64 for ints and bools), so float32 data stays small.


def _float_dtype(x):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


def _rows(x, axes):
    """x as float64 [kept elements, reduced elements], plus the kept shape."""
    kept = [i for i in range(x.ndim) if i not in axes]
    kept_shape = tuple(x.shape[i] for i in kept)
    reduced = math.prod(x.shape[i] for i in axes)
    flat = np.transpose(x.astype(np.float64, copy=False), kept + list(axes))
    return flat.reshape(math.prod(kept_shape), reduced), kept_shape


def _reduce_rows(flat, how, qs=None):
    """NaN-aware reduction of each row (numpy's nan* functions, without their warnings)."""
    m, n = flat.shape
    nan = np.isnan(flat)
    count = n - nan.sum(axis=1)
    if how == "count":
        return count
    if how == "sum":
        return np.where(nan, 0.0, flat).sum(axis=1)
    if n == 0:
        return np.full((len(qs), m) if how == "quantiles" else m, np.nan)
    if how == "min":
        return np.fmin.reduce(flat, axis=1)
    if how == "max":
        return np.fmax.reduce(flat, axis=1)
    if how in ("mean", "var", "std"):
        mean = np.where(nan, 0.0, flat).sum(axis=1) / count
        if how == "mean":
            return mean
        deviation = np.where(nan, 0.0, flat - mean[:, None])
        var = (deviation * deviation).sum(axis=1) / count
        return var if how == "var" else np.sqrt(var)
    if how == "median":
        return _quantile_rows(flat, count, [0.5])[0]
    return _quantile_rows(flat, count, qs)


def _quantile_rows(flat, count, qs):
    """Linear-interpolation quantiles ignoring NaN, like np.nanquantile."""
    ordered = np.sort(flat, axis=1)  # NaN sort last
    rows = np.arange(flat.shape[0])
    last = np.maximum(count - 1, 0)
    result = np.empty((len(qs), flat.shape[0]))
    for i, q in enumerate(qs):
        position = q * last
        lo = np.floor(position).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        fraction = position - lo
        a, b = ordered[rows, lo], ordered[rows, hi]
        value = np.where((fraction == 0) | (a == b), a, a + (b - a) * fraction)
        result[i] = np.where(count > 0, value, np.nan)
    return result


def _reduce(x, axes, how, qs=None):
    """Reduces x over `axes` (a tuple); quantiles get a leading axis of len(qs)."""
    flat, kept_shape = _rows(x, axes)
    reduced = _reduce_rows(flat, how, qs)
    if how == "count":
        return reduced.reshape(kept_shape).astype(np.int64)
    shape = ((len(qs),) if how == "quantiles" else ()) + kept_shape
    return reduced.reshape(shape).astype(_float_dtype(x))


# ---------------------------------------------------------------------------
# Selection and shape.


@op("slice",
    slices=Param(optional(list_of(slice_entry, max_len=MAX_NDIM)), None),
    axis=Param(optional(integer()), None),
    start=Param(optional(integer()), None),
    stop=Param(optional(integer()), None),
    step=Param(optional(step_param), None))
def _slice(x, p, ctx):
    """Basic slicing, like numpy's x[a:b:c, ...].

    `slices` has one entry per leading axis: null (whole axis), an int (picks
    one index and drops the axis) or [start, stop] / [start, stop, step], each
    part an int or null. Or, for one axis: `axis` (default 0) with
    `start`/`stop`/`step`. The "label" column is not sliced with it: only
    `classes` filters labels in sync.
    """
    single = any(p[key] is not None for key in ("axis", "start", "stop", "step"))
    if p["slices"] is not None and single:
        raise ctx.error("give either 'slices' or 'axis' with 'start'/'stop'/'step', not both", field="slices")
    if p["slices"] is None and not single:
        raise ctx.error("needs 'slices' (one entry per axis) or 'axis' with 'start'/'stop'/'step'", field="slices")
    if single:
        axis = ctx.axis(p["axis"] or 0, x.ndim)
        entries = [None] * axis + [(p["start"], p["stop"], p["step"])]
    else:
        entries = p["slices"]
    if len(entries) > x.ndim:
        raise ctx.error("%d slice entries for a %d-D array" % (len(entries), x.ndim), field="slices")
    index = []
    for axis, entry in enumerate(entries):
        size = x.shape[axis]
        if entry is None:
            index.append(slice(None))
        elif type(entry) is int:
            if not -size <= entry < size:
                raise ctx.error("index %d out of range for axis %d of length %d" % (entry, axis, size), field="slices")
            index.append(entry)
        else:
            index.append(slice(*entry))
    return x[tuple(index)]


@op("select", axis=Param(integer(), 0), indices=Param(list_of(integer())))
def _select(x, p, ctx):
    """Picks `indices` (ints, negative from the end, repeats allowed) along `axis` (default 0)."""
    axis = ctx.axis(p["axis"], x.ndim)
    size = x.shape[axis]
    indices = np.asarray(p["indices"], dtype=np.int64)
    bad = (indices < -size) | (indices >= size)
    if bad.any():
        raise ctx.error("index %d out of range for axis %d of length %d" % (indices[bad][0], axis, size), field="indices")
    ctx.charge(math.prod(x.shape[:axis] + x.shape[axis + 1:]) * len(indices))
    return np.take(x, indices, axis=axis)


@op("classes", classes=Param(list_of(integer(), min_len=1)))
def _classes(x, p, ctx):
    """Keeps the samples (first axis) whose label is in `classes`; filters "label" in sync."""
    labels = ctx.labels(x)
    keep = np.isin(labels, np.asarray(p["classes"], dtype=np.int64))
    ctx.table["label"] = ctx.table["label"][keep]
    return x[keep]


@op("flatten", start_axis=Param(integer(), 0))
def _flatten(x, p, ctx):
    """Flattens the axes from `start_axis` (default 0: everything) into one."""
    if x.ndim == 0:
        return x.reshape(1)
    start = ctx.axis(p["start_axis"], x.ndim, field="start_axis")
    return x.reshape(x.shape[:start] + (math.prod(x.shape[start:]),))


@op("reshape", shape=Param(list_of(integer(-1), max_len=MAX_NDIM)))
def _reshape(x, p, ctx):
    """Reshapes to `shape` (same number of elements; at most one -1, inferred)."""
    shape = p["shape"]
    if shape.count(-1) > 1:
        raise ctx.error("shape %s has more than one -1" % shape, field="shape")
    known = math.prod(n for n in shape if n != -1)  # Python ints: no overflow for huge shapes
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ctx.error("cannot reshape %d elements (shape %s) into %s" % (x.size, list(x.shape), shape), field="shape")
        shape = [x.size // known if n == -1 else n for n in shape]
    elif known != x.size:
        raise ctx.error("cannot reshape %d elements (shape %s) into %s" % (x.size, list(x.shape), shape), field="shape")
    return x.reshape(shape)


@op("transpose", axes=Param(optional(list_of(integer(), max_len=MAX_NDIM)), None))
def _transpose(x, p, ctx):
    """Permutes the axes to `axes` (a permutation; default: reversed)."""
    if p["axes"] is None:
        return x.transpose()
    axes = [ctx.axis(a, x.ndim, field="axes") for a in p["axes"]]
    if sorted(axes) != list(range(x.ndim)):
        raise ctx.error("axes %s are not a permutation of the %d axes" % (p["axes"], x.ndim), field="axes")
    return x.transpose(axes)


@op("get", kind="record", key=Param(column))
def _get(record, p, ctx):
    """Takes one array field of a JSON-object result, e.g. pca "coordinates" or group_by_class "3"."""
    key = p["key"]
    if key not in record:
        raise ctx.error("a %s result has no field '%s'; fields: %s" % (record.kind, key, ", ".join(record)[:200]), field="key")
    value = record[key]
    if isinstance(value, Vector):
        return value.array
    if not isinstance(value, np.ndarray):
        raise ctx.error("field '%s' of a %s result is not an array" % (key, record.kind), field="key")
    return value


# ---------------------------------------------------------------------------
# Element-wise.


@op("abs")
def _abs(x, p, ctx):
    """Absolute value, element-wise."""
    return np.abs(x)


@op("log", base=Param(choice("e", 2, 10), "e"))
def _log(x, p, ctx):
    """Logarithm in `base` "e" (default), 2 or 10; non-positive values become NaN (null), never an error."""
    values = x.astype(np.float64)
    result = np.full(values.shape, np.nan)
    log = {"e": np.log, 2: np.log2, 10: np.log10}[p["base"]]
    log(values, out=result, where=values > 0)
    return result.astype(_float_dtype(x))


@op("clip", min=Param(optional(number()), None), max=Param(optional(number()), None))
def _clip(x, p, ctx):
    """Limits values to [`min`, `max`] (either may be null for no bound). NaN stays NaN."""
    lo, hi = p["min"], p["max"]
    if lo is None and hi is None:
        raise ctx.error("needs 'min' or 'max'", field="min")
    if lo is not None and hi is not None and lo > hi:
        raise ctx.error("min %g is greater than max %g" % (lo, hi), field="min")
    # float64 so that bounds outside float32's range cannot overflow.
    return np.clip(x.astype(np.float64), lo, hi).astype(_float_dtype(x))


@op("normalize", method=Param(choice("minmax", "zscore", "l2")), axis=Param(axes_param, None))
def _normalize(x, p, ctx):
    """Rescales over `axis` (int, list, or null = whole array), ignoring NaN.

    "minmax": to [0, 1]; "zscore": zero mean, unit std; "l2": unit Euclidean
    norm. A constant (or all-zero, for l2) slice maps to 0 instead of NaN.
    """
    axes = ctx.axes(p["axis"], x.ndim)
    values = x.astype(np.float64)
    if values.size == 0:
        return values.astype(_float_dtype(x))
    ctx.charge(2 * x.size)
    keep = tuple(1 if i in axes else n for i, n in enumerate(x.shape))

    def stat(data, how):
        return _reduce_rows(_rows(data, axes)[0], how).reshape(keep)

    method = p["method"]
    if method == "minmax":
        centre = stat(values, "min")
        scale = stat(values, "max") - centre
    elif method == "zscore":
        centre = stat(values, "mean")
        scale = stat(values, "std")
    else:
        centre = 0.0
        scale = np.sqrt(stat(values * values, "sum"))
    result = np.array(values - centre)  # an array even for 0-d input, so `out=` works
    np.divide(result, scale, out=result, where=scale > 0)
    return result.astype(_float_dtype(x))


# ---------------------------------------------------------------------------
# Reductions.


def _reduction_op(how):
    def reduce(x, p, ctx):
        return _reduce(x, ctx.axes(p["axis"], x.ndim), how)

    reduce.__doc__ = (
        "NaN-aware %s over `axis` (int, list of ints, or null = all axes; default null). "
        "Empty or all-NaN slices give NaN (null)%s."
        % (how, "" if how not in ("sum", "count") else ", except sum/count which give 0")
    )
    return reduce


REDUCTIONS = ("mean", "std", "var", "min", "max", "sum", "count", "median")
for _how in REDUCTIONS:
    op(_how, axis=Param(axes_param, None))(_reduction_op(_how))


@op("quantiles", q=Param(list_of(number(0.0, 1.0), min_len=1, max_len=MAX_QUANTILES)), axis=Param(axes_param, None))
def _quantiles(x, p, ctx):
    """NaN-aware quantiles `q` (list of numbers in [0, 1]) over `axis`, linear interpolation.

    The result has a new first axis, one entry per q (like np.nanquantile).
    """
    axes = ctx.axes(p["axis"], x.ndim)
    ctx.charge(x.size + len(p["q"]) * (x.size // max(1, math.prod(x.shape[i] for i in axes))))
    return _reduce(x, axes, "quantiles", p["q"])


@op("group_by_class", reduce=Param(choice(*REDUCTIONS), "mean"))
def _group_by_class(x, p, ctx):
    """Reduces the samples (first axis) of each class with `reduce` (mean, std, var, min, max, sum, count, median).

    Needs a "label" column. Result: {"<class>": array of the remaining shape}, classes in ascending order.
    """
    labels = ctx.labels(x)
    order = np.argsort(labels, kind="stable")
    classes, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    if len(classes) > ctx.limits.max_classes:
        raise ctx.limit("max_classes", len(classes), "the labels have %d classes" % len(classes))
    ctx.charge(x.size + len(classes) * math.prod(x.shape[1:]))
    result = Record("group_by_class")
    for label, start, count in zip(classes, starts, counts):
        result[str(int(label))] = _reduce(x[order[start:start + count]], (0,), p["reduce"])
    return result


# ---------------------------------------------------------------------------
# Distributions.


@op("histogram",
    bins=Param(optional(integer(1)), None),
    range=Param(optional(range_param), None),
    edges=Param(optional(list_of(number(), min_len=2)), None))
def _histogram(x, p, ctx):
    """Counts the values of the whole array in bins.

    `bins` (int, default 30) over `range` [lo, hi] (default: finite min..max),
    or explicit increasing `edges` (shared edges give a group of widgets one
    scale). Bins are [left, right), the last one [left, right]. Result:
    {"edges", "counts", "dropped", "nonfinite", "below", "above"}; "dropped" =
    NaN/Inf plus values outside the edges, so sum(counts) + dropped = size.
    """
    if p["edges"] is not None:
        if p["bins"] is not None or p["range"] is not None:
            raise ctx.error("give either 'edges' or 'bins'/'range', not both", field="edges")
        edges = np.asarray(p["edges"])
        if len(edges) - 1 > ctx.limits.max_bins:
            raise ctx.limit("max_bins", len(edges) - 1, "%d edges make %d bins" % (len(edges), len(edges) - 1), field="edges")
        if not np.all(np.diff(edges) > 0):
            raise ctx.error("edges must be strictly increasing", field="edges")
    else:
        bins = DEFAULT_BINS if p["bins"] is None else p["bins"]
        if bins > ctx.limits.max_bins:
            raise ctx.limit("max_bins", bins, "%d bins" % bins, field="bins")
    values = x.astype(np.float64).reshape(-1)
    finite = np.isfinite(values)
    if p["edges"] is None:
        if p["range"] is not None:
            lo, hi = p["range"]
        elif finite.any():
            lo, hi = float(values[finite].min()), float(values[finite].max())
        else:
            lo, hi = 0.0, 1.0  # numpy's choice for no data
        if lo == hi:
            # numpy's +-0.5, widened to one ulp where 0.5 is lost in rounding (|value| > 2**53).
            pad = max(0.5, float(np.spacing(abs(lo))))
            lo, hi = (lo - pad if math.isfinite(lo - pad) else lo), (hi + pad if math.isfinite(hi + pad) else hi)
        # lo*(1-t) + hi*t cannot overflow, unlike hi - lo for values near +-1e308;
        # clip and accumulate so rounding can never make the edges decrease.
        t = np.linspace(0.0, 1.0, bins + 1)
        edges = np.maximum.accumulate(np.clip(lo * (1 - t) + hi * t, lo, hi))
        edges[0], edges[-1] = lo, hi
    nbins = len(edges) - 1
    nonfinite = int(values.size - np.count_nonzero(finite))
    if nonfinite:
        values = values[finite]
    n_below = int(np.count_nonzero(values < edges[0]))
    n_above = int(np.count_nonzero(values > edges[-1]))
    counts = None
    if p["edges"] is None and math.isfinite(edges[-1] - edges[0]):
        # Equal-width bins: numpy computes the bin of each value directly, several
        # times faster than a search (a 1M-element kernel is a common request).
        # It refuses bins narrower than the values' resolution: then search.
        try:
            counts = np.histogram(values, bins=nbins, range=(edges[0], edges[-1]))[0]
        except ValueError:
            counts = None
    if counts is None:
        inside = values[(values >= edges[0]) & (values <= edges[-1])] if n_below or n_above else values
        index = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, nbins - 1)
        counts = np.bincount(index, minlength=nbins)
    return Record(
        "histogram",
        edges=Vector(edges),
        counts=Vector(counts, dtype=np.int64),
        dropped=nonfinite + n_below + n_above,
        nonfinite=nonfinite,
        below=n_below,
        above=n_above,
    )


@op("kde", points=Param(integer(2), DEFAULT_KDE_POINTS), range=Param(optional(range_param), None))
def _kde(x, p, ctx):
    """Gaussian kernel density (scipy gaussian_kde, Scott's rule) of each column of a 1-D or 2-D array.

    Evaluated on `points` (default 100) evenly spaced x over `range` (shared by
    all columns) or, by default, each column's min..max padded by 3 bandwidths.
    NaN/Inf are ignored; columns with more than max_kde_samples finite values
    are subsampled evenly. Result: {"columns": [{"column", "x", "density",
    "bandwidth", "samples"} or {"column", "note"} for a degenerate column]}.
    """
    if x.ndim > 2:
        raise ctx.error("needs a 1-D or 2-D [samples, columns] array, not %d-D; reshape or flatten first" % x.ndim)
    data = x.reshape(-1, 1) if x.ndim < 2 else x
    rows, ncols = data.shape
    limits = ctx.limits
    if ncols > limits.max_kde_columns:
        raise ctx.limit("max_kde_columns", ncols, "%d columns" % ncols)
    points = p["points"]
    if points > limits.max_kde_points:
        raise ctx.limit("max_kde_points", points, "%d points" % points, field="points")
    # Evaluating n samples at m points costs n * m kernel terms per column.
    ctx.charge(ncols * min(rows, limits.max_kde_samples) * points)
    columns = [_kde_column(data[:, j], points, p["range"], limits.max_kde_samples) for j in range(ncols)]
    for j, entry in enumerate(columns):
        entry["column"] = j
    return Record("kde", columns=columns)


def _kde_column(column, points, grid_range, max_samples):
    values = column.astype(np.float64)
    values = values[np.isfinite(values)]
    entry = {}
    if values.size > max_samples:
        # Evenly spaced picks: deterministic, and spread over the whole column.
        pick = np.linspace(0, values.size - 1, max_samples).astype(np.int64)
        entry["note"] = "subsampled %d of %d finite values" % (max_samples, values.size)
        values = values[pick]
    if values.size < 2:
        return {"note": "fewer than 2 finite values: no density"}
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return {"note": "constant column (every value is %r): no density" % lo}
    # Estimate on values scaled to [-1, 1] so that huge magnitudes cannot overflow.
    centre, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    precision_note = {"note": "values span %r..%r, beyond float64 precision for a density" % (lo, hi)}
    if half == 0:  # a spread of one subnormal step halves to 0
        return precision_note
    try:
        kde = scipy_stats.gaussian_kde((values - centre) / half)
        bandwidth = math.sqrt(float(kde.covariance[0, 0]))
        if grid_range is None:
            grid = np.linspace(-1 - 3 * bandwidth, 1 + 3 * bandwidth, points)
            xs = centre + half * grid
        else:
            xs = np.linspace(grid_range[0], grid_range[1], points)
            grid = (xs - centre) / half
        density = kde(grid) / half
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as error:
        return {"note": "degenerate column, no density: %s" % error}
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(density))):
        return precision_note
    entry.update(x=Vector(xs), density=Vector(density), bandwidth=bandwidth * half, samples=int(values.size))
    return entry


# ---------------------------------------------------------------------------
# Ordering.


@op("topk", k=Param(integer(1)), axis=Param(optional(integer()), -1),
    by=Param(choice("value", "abs"), "value"), largest=Param(boolean, True))
def _topk(x, p, ctx):
    """The `k` largest (or smallest, `largest`: false) entries along `axis` (default -1; null = flattened).

    `by`: "value" or "abs" (magnitude). k beyond the axis length keeps all.
    NaN ranks last. Ties keep index order. Result: {"values", "indices"}
    (indices along the axis; into the flattened array for axis null).
    """
    if p["axis"] is None:
        data, axis = x.reshape(-1), 0
    else:
        data, axis = x, ctx.axis(p["axis"], x.ndim)
    moved = np.moveaxis(data, axis, -1)
    key = moved.astype(np.float64)
    if p["by"] == "abs":
        key = np.abs(key)
    if p["largest"]:
        key = -key  # -NaN is NaN, so NaN still sorts last
    ctx.charge(data.size)
    order = np.argsort(key, axis=-1, kind="stable")[..., : p["k"]]
    values = np.take_along_axis(moved, order, axis=-1)
    return Record("topk", values=np.moveaxis(values, -1, axis), indices=np.moveaxis(order, -1, axis))


@op("sort", axis=Param(optional(integer()), -1), descending=Param(boolean, False))
def _sort(x, p, ctx):
    """Sorts along `axis` (default -1; null = flattened), ascending or `descending`; NaN last either way."""
    if p["axis"] is None:
        data, axis = x.reshape(-1), 0
    else:
        data, axis = x, ctx.axis(p["axis"], x.ndim)
    ctx.charge(data.size)
    if not p["descending"]:
        return np.sort(data, axis=axis)
    if data.dtype.kind == "f":
        return -np.sort(-data, axis=axis)
    return np.flip(np.sort(data, axis=axis), axis=axis)  # ints: -x could overflow


# ---------------------------------------------------------------------------
# Projection.


@op("pca", components=Param(integer(1, 100), 2), method=Param(choice("auto", "exact", "randomized"), "auto"))
def _pca(x, p, ctx):
    """Principal component projection of a 2-D [samples, features] array.

    Result: {"coordinates": [samples, components], "explained_variance_ratio",
    "method", "samples_used", "note"?}. Samples with NaN/Inf are left out of
    the fit and get null coordinates. Components beyond the data's rank (e.g.
    fewer samples than components) are 0. `method` "auto" uses numpy's exact
    SVD when it fits the work budget, else a randomized SVD (fixed seed).
    Each component's sign makes its largest loading positive.
    """
    if x.ndim != 2:
        raise ctx.error("needs a 2-D [samples, features] array, not %d-D; reshape or flatten first" % x.ndim)
    samples, features = x.shape
    if features > ctx.limits.max_pca_features:
        raise ctx.limit("max_pca_features", features, "%d features" % features)
    k = p["components"]
    values = x.astype(np.float64)
    rows = np.isfinite(values).all(axis=1)
    n = int(rows.sum())
    exact_cost = n * features * min(n, features)  # an SVD passes over the data ~min(n, f) times
    method = p["method"]
    if method == "auto":
        method = "exact" if exact_cost <= ctx.limits.max_work_elements else "randomized"
    ctx.charge(samples * k + (exact_cost if method == "exact" else n * features * RANDOMIZED_PASSES))
    coordinates = np.zeros((samples, k))
    coordinates[~rows] = np.nan
    ratio = np.zeros(k)
    result = Record("pca", coordinates=coordinates, explained_variance_ratio=Vector(ratio), method=method, samples_used=n)
    if n < 2 or features == 0:
        result["note"] = "fewer than 2 samples with finite features: no direction of variance"
        return result
    data = values[rows]
    scale = float(np.abs(data).max())  # fit scaled data: squares of 1e200 would overflow
    if scale == 0:
        result["note"] = "all samples are identical: no direction of variance"
        return result
    data /= scale
    centred = data - data.mean(axis=0)
    total = float(np.sum(centred * centred))
    if not total > 0:
        result["note"] = "all samples are identical: no direction of variance"
        return result
    try:
        if method == "exact":
            _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        else:
            singular, vt = _randomized_svd(centred, min(k + OVERSAMPLING, n, features))
    except np.linalg.LinAlgError as error:
        raise ctx.error("the SVD did not converge (%s)" % error) from None
    rank = int(np.sum(singular > singular[0] * max(n, features) * np.finfo(np.float64).eps))
    r = min(k, rank)
    vt = vt[:r]
    largest = np.argmax(np.abs(vt), axis=1)
    signs = np.sign(vt[np.arange(r), largest])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    coordinates[rows, :r] = (centred @ vt.T) * scale
    ratio[:r] = singular[:r] ** 2 / total
    if r < k:
        result["note"] = "the data spans only %d dimension(s): components %d..%d are 0" % (rank, r + 1, k)
    return result


def _randomized_svd(a, width):
    """Top singular values and right vectors of `a` via a randomized range finder (Halko et al. 2011)."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], width)))
    for _ in range(POWER_ITERATIONS):
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    _, singular, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return singular, vt


# ---------------------------------------------------------------------------
# Production rules: operate on the table itself.


@op("branch", kind="table", **{"from": Param(column, "value"), "to": Param(list_of(column, min_len=1))})
def _branch(table, p, ctx):
    """Copies column `from` (default "value") into each column of `to`, for separate processing."""
    source = ctx.column(p["from"], field="from")
    for name in p["to"]:
        table[name] = source  # no copy needed: ops never modify arrays in place


@op("merge", kind="table", columns=Param(list_of(column, min_len=1)), out=Param(column),
    how=Param(choice("stack", "concat"), "stack"))
def _merge(table, p, ctx):
    """Merges array `columns` into column `out`: "stack" (default) along a new first axis (same shapes),
    or "concat" along axis 0 (same shapes after the first axis)."""
    arrays = [ctx.array(name, field="columns") for name in p["columns"]]
    first = arrays[0]
    for name, array in zip(p["columns"], arrays):
        if p["how"] == "stack" and array.shape != first.shape:
            raise ctx.error(
                "cannot stack '%s' of shape %s with '%s' of shape %s"
                % (name, list(array.shape), p["columns"][0], list(first.shape)), field="columns",
            )
        if p["how"] == "concat" and (array.ndim == 0 or array.shape[1:] != first.shape[1:]):
            raise ctx.error(
                "cannot concatenate '%s' of shape %s with '%s' of shape %s along axis 0"
                % (name, list(array.shape), p["columns"][0], list(first.shape)), field="columns",
            )
    ctx.charge(2 * sum(array.size for array in arrays))
    table[p["out"]] = np.stack(arrays) if p["how"] == "stack" else np.concatenate(arrays)


@op("select_columns", kind="table", columns=Param(list_of(column, min_len=1)))
def _select_columns(table, p, ctx):
    """Keeps only `columns`, in that order (e.g. to drop "label" from the output)."""
    kept = {name: ctx.column(name, field="columns") for name in p["columns"]}
    table.clear()
    table.update(kept)
