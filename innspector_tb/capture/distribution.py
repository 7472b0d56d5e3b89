"""Which process of a distributed training logs: only the chief.

Under `tf.distribute.MultiWorkerMirroredStrategy` every worker runs the same script, so every worker
builds the callback on the same run directory. Only one may write: the chief, which is the task of type
`chief` in TF_CONFIG, or worker 0 when the cluster has no chief (TensorFlow's own rule, the one Keras'
checkpointing follows). The other workers' callbacks do nothing at all: no files, no writer lock, no
probe pass. Their weights equal the chief's after every step (the strategy all-reduces the gradients),
so nothing is lost.

Replicas of one process (`MirroredStrategy` over several devices, or the replicas of one worker) share
one callback: Keras calls its hooks once per step, outside the replicas, so the probe pass runs once.
"""

import json
import os
from collections.abc import Mapping

# Task types that never log: they train nothing the chief does not (ps, evaluator) or are not the chief.
CHIEF_TYPES = ("chief", "master")


def task_of(environ: Mapping[str, str] = os.environ) -> tuple[str | None, int, bool]:
    """(task type, task index, cluster has a chief) from TF_CONFIG; (None, 0, False) without one."""
    raw = environ.get("TF_CONFIG")
    if not raw:
        return None, 0, False
    try:
        config = json.loads(raw)
    except ValueError:
        return None, 0, False  # TensorFlow refuses it itself; the callback is not the place to
    if not isinstance(config, dict):
        return None, 0, False
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    if not isinstance(task, dict) or not isinstance(cluster, dict):
        return None, 0, False
    try:
        index = int(task.get("index", 0) or 0)
    except (TypeError, ValueError):
        index = 0
    has_chief = any(cluster.get(kind) for kind in CHIEF_TYPES)
    kind = task.get("type")
    return (str(kind) if kind is not None else None), index, has_chief


def is_chief(environ: Mapping[str, str] = os.environ) -> bool:
    """True when this process logs: no TF_CONFIG (not distributed), the chief, or worker 0 without one."""
    kind, index, has_chief = task_of(environ)
    if kind is None:
        return True
    if kind in CHIEF_TYPES:
        return True
    return kind == "worker" and index == 0 and not has_chief


def role(environ: Mapping[str, str] = os.environ) -> str:
    """This process in a message: "worker 1", "evaluator 0", ..."""
    kind, index, _ = task_of(environ)
    return "%s %d" % (kind, index) if kind is not None else "the only process"
