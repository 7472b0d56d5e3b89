"""The careless-mistake detector: rules over a model's architecture, header and statistics.

Pure Python (no TensorFlow, no numpy), so the plugin can run it on what it
read from a log. ``lint(architecture, header, unit_stats)`` returns a list of
``Finding``; every rule tolerates missing data (no header hyper-parameters, no
statistics, a subclassed model without edges, an imported model whose layers
are of type "Unknown") and a rule that trips over odd input is skipped with a
log message, so ``lint`` never raises.

Rules (``RULES``; ``rules_json()`` lists them for the plugin's route) live in
one module per kind, whose docstring describes each rule:

  rules_architecture   double-activation, relu-on-distribution-parameter,
                       sigmoid-softmax-with-regression-loss, softmax-with-from-logits
  rules_data           dead-units, exploding-weights, vanishing-weights, non-finite
                       (from the STATISTICS summaries)
  rules_activations    activation-scale, init-scale, saturation, dying-relu, input-scale,
                       constant-units, narrow-bottleneck (training pathologies in the
                       statistics and histograms of layer outputs, kernels and inputs)
  rules_collapse       correlated-units, rank-collapse (a representation that loses its
                       dimensions: the `representations` summaries of the activations)
  rules_training       loss-non-finite, loss-divergence, loss-plateau, overfitting,
                       validation-better, frozen-layer (the metric scalars, weights that
                       never move), vanishing-gradients, exploding-gradients, update-ratio
                       (the gradient summaries)

``registry`` holds ``Finding``, ``Rule`` and the ``rule`` decorator that fills
``RULES``; ``context`` reads the inputs once, defensively, for every rule.

A new kind of rules is a new ``rules_<kind>.py`` that decorates its checks
with ``registry.rule``, plus its name in the import below: findings of equal
severity keep the order in which rules were registered.
"""

import logging

# The rule modules fill RULES as they are imported; this order is the findings' order.
from innspector_tb.analysis.lint import rules_architecture, rules_data  # noqa: F401

# isort: split
from innspector_tb.analysis.lint import rules_activations, rules_collapse, rules_training  # noqa: F401
from innspector_tb.analysis.lint.context import (
    ACTIVATION_LAYER_TYPES,
    LINEAR,
    PASS_THROUGH_TYPES,
    Context,
)
from innspector_tb.analysis.lint.registry import (
    RULES,
    SEVERITIES,
    SEVERITY_RANK,
    Finding,
    Rule,
)
from innspector_tb.analysis.lint.rules_architecture import (
    BOUNDED_BELOW,
    NON_NEGATIVE,
    PROBABILITY,
    REGRESSION_LOSSES,
    SQUASHING,
)
from innspector_tb.analysis.lint.rules_data import (
    DEAD_ERROR,
    DEAD_WARNING,
    GROWTH_ERROR_FACTOR,
    GROWTH_FACTOR,
    KERNEL_VARIABLES,
    SHRINK_FACTOR,
    STD_LIMIT,
)

LOGGER = logging.getLogger("innspector_tb")

__all__ = [
    "lint",
    "rules_json",
    "RULES",
    "Rule",
    "Finding",
    "SEVERITIES",
    "PASS_THROUGH_TYPES",
    "ACTIVATION_LAYER_TYPES",
    "LINEAR",
    "NON_NEGATIVE",
    "BOUNDED_BELOW",
    "PROBABILITY",
    "SQUASHING",
    "REGRESSION_LOSSES",
    "KERNEL_VARIABLES",
    "DEAD_WARNING",
    "DEAD_ERROR",
    "GROWTH_FACTOR",
    "GROWTH_ERROR_FACTOR",
    "SHRINK_FACTOR",
    "STD_LIMIT",
]


def rules_json():
    """The rule list for the plugin's route: [{"id", "kind", "description"}]."""
    return [rule.to_json() for rule in RULES]


def lint(
    architecture,
    header,
    unit_stats,
    metrics=None,
    histograms=None,
    inputs=None,
    gradients=None,
    representations=None,
):
    """Runs every rule; returns the findings, errors first. Never raises.

    metrics: {name: {step: value}} of the run's metric scalars (``loss``, ``val_loss``, ...);
    histograms: {unit: {step: [bins, 3]}}; inputs: {input layer id: statistics of the probe inputs};
    gradients: {"layer/variable": {step: {format.gradients.GRADIENT_FIELDS name: value}}};
    representations: a function (layer id, step) -> the analysis.representation_rank summary of the
    layer's activations at the step (of the probe inputs for an input layer), or None when unknown.
    """
    try:
        ctx = Context(architecture, header, unit_stats, metrics, histograms, inputs, gradients, representations)
    except Exception:  # pragma: no cover - Context is defensive itself
        LOGGER.warning("lint: could not read the model's data", exc_info=True)
        return []
    findings: list[Finding] = []
    for rule in RULES:
        try:
            findings.extend(rule.check(ctx) or [])
        except Exception:
            LOGGER.warning("lint rule %s failed; skipped", rule.id, exc_info=True)
    order = {rule.id: i for i, rule in enumerate(RULES)}
    findings.sort(key=lambda f: (SEVERITY_RANK.get(f.severity, 9), order.get(f.rule, 99)))
    return findings
