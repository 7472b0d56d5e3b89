"""The rows of the heavy-tail α measure: one per Dense or convolution kernel, α of its values at the step
scored read from the step files (spectral_tail does the estimate).

Each row's detail is the fit (α, its verdict, the tail's start and size, the KS distance, how the matrices
were taken, and the step whose weights were read, which is earlier than the one scored when a logging plan
rotates weights), or a reason when α is not computed: no step file holds the kernel, NaN/Inf values, too
few eigenvalues, too large a matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from innspector_tb.analysis.interestingness import spectral_tail
from innspector_tb.analysis.interestingness.measures import UnitSeries

KERNELS = ("kernel", "pointwise_kernel")  # a separable convolution's pointwise kernel is an ordinary one

# cache(run, key, compute) -> compute() or the value cached under key for the run as it is now (a step
# logged again must be read anew); the default caches nothing.
Cache = Callable[[str, Any, Callable[[], dict[str, Any]]], dict[str, Any]]


def no_cache(run: str, key: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return compute()


def unit_alpha(s: UnitSeries, step: int | None, cache: Cache = no_cache) -> dict[str, Any]:
    """The detail of one kernel at a step: the fit, or {"reason"}."""
    if step is None:
        return {"reason": "not computed: the run has no logged step to score"}
    if s.weights is None:
        return {"reason": "not computed: the run has no step files to read the kernel from"}
    try:
        read_step, read = s.weights(step)
        result = cache(
            s.run,
            ("heavy_tail_alpha", s.unit, read_step),
            lambda: spectral_tail.kernel_alpha(read(), s.layer_type),
        )
    except (LookupError, ValueError) as e:
        return {"reason": "not computed: %s" % e}
    return {**result, "step": int(read_step)}


def alpha_units(
    series: Iterable[UnitSeries], steps: Mapping[str, int | None], cache: Cache = no_cache
) -> list[dict[str, Any]]:
    """Rows (run, unit, layer, ..., raw = α or None, detail) of every kernel in `series` at its run's step."""
    units = []
    for s in series:
        if s.unit_type not in KERNELS:
            continue
        detail = unit_alpha(s, steps.get(s.run), cache)
        units.append(
            {
                "run": s.run,
                "unit": s.unit,
                "layer": s.layer,
                "unit_type": s.unit_type,
                "variable_type": s.variable_type,
                "layer_type": s.layer_type,
                "raw": detail.get("alpha"),
                "score": None,
                "detail": detail,
            }
        )
    return units
