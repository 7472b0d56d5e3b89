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

Layout
------
``grammar`` (errors, limits, values, parameter checkers, the ``OPS`` registry),
``interpreter`` (``run``), ``numeric`` (reductions shared by the ops) and the
op families ``ops_shape``, ``ops_stats`` and ``ops_order``, which register
themselves in ``OPS`` when imported below. A new op goes into the family it
belongs to, with the ``op`` decorator.
"""

# The op modules fill OPS as they are imported; their order is the registry's order.
from innspector_tb.analysis.transforms import ops_order, ops_shape, ops_stats  # noqa: F401
from innspector_tb.analysis.transforms.grammar import (
    INT_BOUND,
    MAX_DEPTH,
    MAX_NDIM,
    MAX_STRING,
    OPS,
    REQUIRED,
    LimitError,
    Limits,
    OpSpec,
    Param,
    Record,
    TransformError,
    Vector,
    axes_param,
    boolean,
    choice,
    column,
    grammar,
    integer,
    list_of,
    number,
    op,
    optional,
    range_param,
    slice_entry,
    step_param,
    to_json,
)
from innspector_tb.analysis.transforms.interpreter import check_json, parse_step, run
from innspector_tb.analysis.transforms.ops_order import OVERSAMPLING, POWER_ITERATIONS, RANDOMIZED_PASSES
from innspector_tb.analysis.transforms.ops_stats import DEFAULT_BINS, DEFAULT_KDE_POINTS, MAX_QUANTILES, REDUCTIONS

# The JSON tools validate a tool's pipeline without running it under these older names.
_check_json = check_json
_parse_step = parse_step

__all__ = [
    "run",
    "grammar",
    "to_json",
    "check_json",
    "parse_step",
    "TransformError",
    "LimitError",
    "Limits",
    "Record",
    "Vector",
    "OPS",
    "OpSpec",
    "op",
    "Param",
    "REQUIRED",
    "REDUCTIONS",
    "integer",
    "number",
    "boolean",
    "choice",
    "column",
    "optional",
    "list_of",
    "axes_param",
    "range_param",
    "slice_entry",
    "step_param",
    "MAX_DEPTH",
    "MAX_STRING",
    "MAX_NDIM",
    "INT_BOUND",
    "MAX_QUANTILES",
    "DEFAULT_BINS",
    "DEFAULT_KDE_POINTS",
    "OVERSAMPLING",
    "POWER_ITERATIONS",
    "RANDOMIZED_PASSES",
]
