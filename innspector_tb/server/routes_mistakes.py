"""The `mistakes` route: the feature neurons responsible for the probe's mistakes of a class
(NeuroInspect's counterfactual stage, `analysis/mistakes.py`).

A plain function over a BoundRunStore; answers are cached per (run, step, class, alpha, beta,
iterations) until the run's data change. No HTTP here.
"""

from __future__ import annotations

from typing import Any

from innspector_tb.errors import BadRequest, NotFound
from innspector_tb.server.params import float_param, int_param
from innspector_tb.store.run_store import BoundRunStore


def mistakes(
    store: BoundRunStore,
    run: str | None,
    cls: Any = None,
    step: int | None = None,
    alpha: Any = None,
    beta: Any = None,
    iterations: Any = None,
) -> dict[str, Any]:
    """The feature neurons responsible for the probe's mistakes of a class (all when cls is None, "" or
    "all"). cls, alpha, beta and iterations are the request's values, checked here."""
    from innspector_tb.analysis import mistakes as mistakes_lib
    from innspector_tb.analysis import transforms

    run = store.require_run(run)
    if cls in (None, "", "all"):
        cls = None
    else:
        cls = int_param(cls, "class", minimum=0, maximum=2**31)
    alpha = float_param(alpha, "alpha", mistakes_lib.DEFAULT_ALPHA, minimum=0.0, maximum=1e6)
    beta = float_param(beta, "beta", mistakes_lib.DEFAULT_BETA, minimum=0.0, maximum=1e6)
    iterations = int_param(
        iterations,
        "iterations",
        default=mistakes_lib.DEFAULT_MAX_ITERATIONS,
        minimum=1,
        maximum=mistakes_lib.MAX_ITERATIONS,
    )
    step = store.resolve_step(run, step)
    arch = store.architecture(run)

    def compute():
        return mistakes_lib.analyse(
            arch,
            lambda dataset: store.read(run, step, dataset),
            store.labels(run),
            cls,
            alpha,
            beta,
            iterations,
            layer_dataset=store.layer_dataset,
        )

    try:
        answer = store.cached(("mistakes", run, step, cls, alpha, beta, iterations), compute)
    except mistakes_lib.WorkLimitError as e:
        raise transforms.LimitError(str(e), "mistakes_work", maximum=mistakes_lib.MAX_WORK) from e
    except mistakes_lib.MissingData as e:
        raise NotFound("run %r step %d: %s" % (run, step, e)) from e
    except mistakes_lib.MistakeError as e:
        raise BadRequest("run %r: %s" % (run, e)) from e
    return dict(answer, run=run, step=step)
