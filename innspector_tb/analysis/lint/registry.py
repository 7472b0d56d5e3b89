"""The rule registry: what a rule and a finding are, and the ``rule`` decorator that fills ``RULES``.

A rules module (``rules_architecture``, ``rules_data``, ...) decorates each check with ``rule(id, kind,
description)``; the check takes a ``context.Context`` and returns a list of ``Finding``. Rules run
in the order they were registered: module import order in ``lint/__init__.py``, then definition order.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclasses.dataclass
class Finding:
    """One detected (probable) mistake."""

    rule: str
    severity: str  # "error" | "warning" | "info"
    message: str
    unit: str  # layer id or unit id (e.g. "dense_1/kernel")
    layer: object = None  # layer id, or None when unknown
    step: object = None  # step the finding refers to, or None

    def to_json(self):
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "unit": self.unit,
            "layer": self.layer,
            "step": self.step,
        }


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # "activations" | "architecture" | "data" | "training"
    description: str
    check: Callable[[Any], list[Finding] | None]  # takes a context.Context

    def to_json(self):
        return {"id": self.id, "kind": self.kind, "description": self.description}


RULES: list[Rule] = []


def rule(rule_id, kind, description):
    def register(fn):
        RULES.append(Rule(rule_id, kind, description, fn))
        return fn

    return register
