"""The `feature_visualisations` route: the class-conditional feature visualisations a run logged
(capture/feature_visualisation.py; docs/format.md, "Feature visualisations").

A plain function over a BoundRunStore, no HTTP and no TensorFlow here. Each target (a unit of a layer for a
class, or a class alone) with its images and, per image, the unit's value reached, its percentile among the
probe's values, and the class's rank and probability.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from innspector_tb import errors
from innspector_tb.format import step_files, strict_json
from innspector_tb.server.params import int_param
from innspector_tb.store.run_store import BoundRunStore

GROUP = "feature_visualisations"
_PER_RESULT = ("activation", "percentile", "class_rank", "class_probability")
MAX_VALUES = 4_000_000  # image values one answer may hold (as JSON numbers)


def visualised_steps(store: BoundRunStore, run: str) -> list[int]:
    """The steps whose step file holds feature visualisations, from their manifests."""
    steps = []
    for step, manifest in store.manifests(run).items():
        datasets = manifest.get("datasets") if isinstance(manifest, dict) else None
        if isinstance(datasets, dict) and isinstance(datasets.get(GROUP + "/images"), dict):
            steps.append(step)
    return sorted(steps)


def _group_info(store: BoundRunStore, run: str, step: int) -> dict[str, Any]:
    """The group's attributes (targets, options, notes, value_range decoded from JSON; score)."""
    path = store.step_file_path(run, step)

    def compute():
        try:
            with step_files.open_file(path, within=store.run_dir(run)) as f:
                # Only a hard link: get() without getlink would follow an external link to another file.
                if not isinstance(f.get(GROUP, getlink=True), h5py.HardLink) or not isinstance(f[GROUP], h5py.Group):
                    raise errors.NotFound("run %r step %d: no %s group" % (run, step, GROUP))
                info: dict[str, Any] = {}
                for name, value in f[GROUP].attrs.items():
                    value = value.decode("utf-8") if isinstance(value, bytes) else value
                    if not isinstance(value, str):
                        continue
                    info[name] = value if name == "score" else strict_json.loads(value)
                return info
        except (step_files.StepFileError, OSError, ValueError) as e:
            raise errors.BadRequest("run %r step %d: unreadable %s: %s" % (run, step, GROUP, e)) from e

    return store.cached(("feature_visualisations_info", run, step, store.version(run)), compute)


def _targets(info: dict[str, Any], count: int, run: str, step: int) -> list[dict[str, Any]]:
    targets = info.get("targets")
    if not isinstance(targets, list):
        targets = []
    ok = len(targets) == count and all(
        isinstance(t, dict)
        and isinstance(t.get("class"), int)
        and (t.get("layer") is None or isinstance(t.get("layer"), str))
        and (t.get("unit") is None or isinstance(t.get("unit"), int))
        and isinstance(t.get("source"), str)
        for t in targets
    )
    if not ok:
        raise errors.BadRequest(
            "run %r step %d: the feature visualisations' targets do not match their images" % (run, step)
        )
    return targets


def feature_visualisations(
    store: BoundRunStore,
    run: str | None,
    step: int | None = None,
    layer: str | None = None,
    unit: Any = None,
    cls: Any = None,
) -> dict[str, Any]:
    """The visualisations of a step (None: the newest step that has them), optionally only those of a
    layer, a unit and a class."""
    run = store.require_run(run)
    steps = visualised_steps(store, run)
    if not steps:
        raise errors.NotFound(
            "run %r has no feature visualisations (InnspectorCallback(visualize=...) logs them at the last step)" % run
        )
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise errors.NotFound("run %r has no feature visualisations at step %d (steps: %s)" % (run, step, steps))
    unit = None if unit in (None, "") else int_param(unit, "unit", minimum=-1, maximum=2**31)
    cls = None if cls in (None, "") else int_param(cls, "class", minimum=0, maximum=2**31)
    images = store.read(run, step, GROUP + "/images")
    per_result = {name: store.read(run, step, "%s/%s" % (GROUP, name)) for name in _PER_RESULT}
    if images.ndim < 3 or any(a.shape != images.shape[:2] for a in per_result.values()):
        raise errors.BadRequest(
            "run %r step %d: the feature visualisations' arrays do not agree in shape" % (run, step)
        )
    info = _group_info(store, run, step)
    targets = _targets(info, images.shape[0], run, step)
    chosen = [
        k
        for k, t in enumerate(targets)
        if (layer is None or t["layer"] == (layer or None))
        and (unit is None or (t["unit"] if t["unit"] is not None else -1) == unit)
        and (cls is None or t["class"] == cls)
    ]
    values = len(chosen) * int(np.prod(images.shape[1:]))
    if values > MAX_VALUES:
        raise errors.LimitExceeded(
            "run %r step %d: %d image values are over the %d one answer may hold; choose a layer, unit or class"
            % (run, step, values, MAX_VALUES),
            limit="feature_visualisation_values",
            value=values,
            maximum=MAX_VALUES,
        )
    items = []
    for k in chosen:
        target = targets[k]
        items.append(
            {
                "layer": target["layer"],
                "unit": target["unit"],
                "class": target["class"],
                "source": target["source"],
                "images": np.asarray(images[k], dtype=np.float64).tolist(),
                "results": [
                    {
                        "activation": float(per_result["activation"][k, r]),
                        "percentile": float(per_result["percentile"][k, r]),
                        "class_rank": int(per_result["class_rank"][k, r]),
                        "class_probability": float(per_result["class_probability"][k, r]),
                    }
                    for r in range(images.shape[1])
                ],
            }
        )
    value_range = info.get("value_range")
    return {
        "run": run,
        "step": step,
        "steps": steps,
        "input_shape": [int(d) for d in images.shape[2:]],
        "value_range": value_range if isinstance(value_range, list) else None,
        "score": str(info.get("score", "logit")),
        "options": info.get("options") if isinstance(info.get("options"), dict) else {},
        "notes": [str(n) for n in info.get("notes") or []],
        "items": items,
    }
