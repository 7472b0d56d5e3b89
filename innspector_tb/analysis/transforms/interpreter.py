"""The interpreter: ``run`` checks a pipeline's JSON, parses every step against the registry, then
applies the steps in order to the table, under the Limits and the work budget.

``check_json`` and ``parse_step`` also validate a pipeline without running it (the JSON tools do).
"""

import dataclasses
import difflib

import numpy as np

from innspector_tb.analysis.transforms.grammar import (
    MAX_DEPTH,
    MAX_NDIM,
    MAX_STRING,
    OPS,
    REQUIRED,
    Invalid,
    LimitError,
    Limits,
    OpSpec,
    Record,
    TransformError,
    describe,
    element_count,
    short,
    to_json,
)


@dataclasses.dataclass
class _Step:
    index: int
    spec: OpSpec
    params: dict

    @property
    def where(self):
        return "pipeline[%d]" % self.index


_DEFAULT_LIMITS = Limits()  # frozen: one instance serves every call


def run(pipeline, columns, limits=_DEFAULT_LIMITS):
    """Applies `pipeline` (JSON list of steps) to `columns` ({name: array}) and returns JSON-safe output.

    `columns` normally holds "value" and optionally "label". Returns
    {column name: to_json(column)} for every column left. Raises
    TransformError (LimitError for limits) and nothing else for any pipeline.
    """
    check_json(pipeline, limits)
    if type(pipeline) is not list:
        raise TransformError("the pipeline must be a list of steps, not %s" % describe(pipeline), field="pipeline")
    if len(pipeline) > limits.max_ops:
        raise LimitError(
            "the pipeline has %d steps, more than max_ops = %d" % (len(pipeline), limits.max_ops),
            "max_ops",
            len(pipeline),
            limits.max_ops,
            field="pipeline",
        )
    # Parse every step first: a typo in step 9 is reported before step 0 runs.
    steps = [parse_step(index, raw) for index, raw in enumerate(pipeline)]
    context = _Context(limits, _input_table(columns, limits))
    # Overflow, 0/0 and NaN comparisons are expected here (NaN in, null out).
    with np.errstate(all="ignore"):
        for step in steps:
            context.run(step)
    table = context.table
    total = sum(element_count(value) for value in table.values())
    if total > limits.max_output_elements:
        raise LimitError(
            "the output has %d elements, more than max_output_elements = %d; reduce, slice or "
            "select_columns first" % (total, limits.max_output_elements),
            "max_output_elements",
            total,
            limits.max_output_elements,
            field="pipeline",
        )
    return {name: to_json(value) for name, value in table.items()}


def check_json(value, limits):
    """Only JSON types, bounded depth, size and strings; iterative so deep nesting cannot recurse."""
    stack = [(value, 0, "pipeline")]
    items = 0
    while stack:
        item, depth, path = stack.pop()
        items += 1
        if items > limits.max_pipeline_items:
            raise LimitError(
                "the pipeline holds more than max_pipeline_items = %d JSON values" % limits.max_pipeline_items,
                "max_pipeline_items",
                items,
                limits.max_pipeline_items,
                field="pipeline",
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
                    raise TransformError("%s: object keys must be strings, not %s" % (path, describe(key)), field=path)
                if len(key) > MAX_STRING:
                    raise TransformError("%s: key longer than %d characters" % (path, MAX_STRING), field=path)
                stack.append((child, depth + 1, "%s.%s" % (path, key[:40])))
        else:
            raise TransformError("%s: %s is not a JSON value" % (path, describe(item)), field=path)


def parse_step(index, raw):
    where = "pipeline[%d]" % index
    if type(raw) is not dict:
        raise TransformError(
            '%s: a step must be an object like {"op": "mean"}, not %s' % (where, describe(raw)), field=where
        )
    if "op" not in raw:
        raise TransformError("%s: missing 'op'" % where, field=where + ".op")
    name = raw["op"]
    if type(name) is not str:
        raise TransformError("%s: 'op' must be a string, not %s" % (where, describe(name)), field=where + ".op")
    spec = OPS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, OPS, n=1)
        hint = " (did you mean '%s'?)" % close[0] if close else ""
        raise TransformError(
            "%s: unknown op %s%s; known ops: %s" % (where, short(name), hint, ", ".join(sorted(OPS))),
            field=where + ".op",
        )
    label = "%s (%s)" % (where, name)
    for key in raw:
        if key != "op" and key not in spec.params:
            raise TransformError(
                "%s: unknown parameter %s; %s takes: %s" % (label, short(key), name, ", ".join(sorted(spec.params))),
                field="%s.%s" % (where, key[:40]),
            )
    params = {}
    for key, param in spec.params.items():
        if key in raw:
            try:
                params[key] = param.check(raw[key])
            except Invalid as error:
                raise TransformError(
                    "%s: parameter '%s' %s" % (label, key, error), field="%s.%s" % (where, key)
                ) from None
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
            raise TransformError("column names must be strings, not %s" % describe(name), field="columns")
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
            "max_input_elements",
            total,
            limits.max_input_elements,
            field="columns",
        )
    return table


class _Context:
    """What an op may use: the table, the limits, the work budget, and error helpers."""

    def __init__(self, limits, table):
        self.limits = limits
        self.table = table
        self.work = 0
        self.step: _Step | None = None

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
                raise self.error(
                    "column '%s' is an array; 'get' takes a field of an op's JSON-object result" % name, field="in"
                )
            self.charge(element_count(value))
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

    def _current(self):
        """The step being run: ops call the error helpers only from within `run`."""
        if self.step is None:
            raise RuntimeError("no transform step is running")
        return self.step

    def _where(self, field):
        where = self._current().where
        return where + "." + field if field else where

    def error(self, message, field=None):
        """A TransformError naming the current step."""
        step = self._current()
        return TransformError("%s (%s): %s" % (step.where, step.spec.name, message), field=self._where(field))

    def limit(self, limit, value, message, field=None):
        maximum = getattr(self.limits, limit)
        step = self._current()
        return LimitError(
            "%s (%s): %s, more than %s = %d" % (step.where, step.spec.name, message, limit, maximum),
            limit,
            value,
            maximum,
            field=self._where(field),
        )

    def charge(self, elements):
        """Adds to the work budget; called before the work, so a breach costs nothing."""
        self.work += int(elements)
        if self.work > self.limits.max_work_elements:
            raise self.limit("max_work_elements", self.work, "the pipeline would touch %d elements" % self.work)

    # -- lookups -----------------------------------------------------------

    def column(self, name, field="in"):
        if name not in self.table:
            raise self.error(
                "no column '%s'; columns are: %s" % (name, ", ".join(sorted(self.table)) or "none"), field=field
            )
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
