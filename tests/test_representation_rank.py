"""The representation summaries (analysis/representation_rank.py) on matrices with a known structure,
and the collapse rules (analysis/lint/rules_collapse.py) over summaries of real matrices: named at the
layer where the rank drops, at the step it started, and not downstream of it."""

import numpy as np
import pytest

from innspector_tb.analysis import representation_rank as rr
from innspector_tb.analysis.lint import lint

RNG = np.random.default_rng(0)
SIGNAL = RNG.normal(size=(128, 1))


def test_independent_units_span_many_directions_copies_one():
    independent = rr.summarize(RNG.normal(size=(128, 32)))
    assert independent["participation_ratio"] > 20 and independent["correlated_fraction"] == 0.0
    copies = rr.summarize(np.maximum(0, SIGNAL) * np.linspace(0.5, 2, 32))
    assert copies["participation_ratio"] == pytest.approx(1.0) and copies["correlated_fraction"] == 1.0
    assert copies["varying"] == 32 and copies["samples"] == 128
    # Units driven by one signal through ReLUs with different biases: not copies, yet one direction.
    one_signal = rr.summarize(np.maximum(0, SIGNAL + RNG.normal(size=32)))
    assert one_signal["participation_ratio"] < 2 and one_signal["correlated_fraction"] < 0.5


def test_constant_units_are_left_out_and_feature_maps_pool_to_channels():
    x = RNG.normal(size=(64, 8))
    x[:, :3] = 0.5  # constant over the probe: constant-units' business
    summary = rr.summarize(x)
    assert summary["units"] == 8 and summary["varying"] == 5
    maps = RNG.normal(size=(64, 4, 4, 6))
    assert rr.pooled(maps).shape == (64, 6)
    assert rr.summarize(maps)["units"] == 6
    assert rr.summarize(np.zeros((64, 8)))["participation_ratio"] is None
    assert rr.summarize(np.zeros((0, 8))) is None


def test_units_and_samples_are_capped():
    summary = rr.summarize(RNG.normal(size=(rr.MAX_SAMPLES + 50, rr.MAX_UNITS + 100)))
    assert summary["samples"] == rr.MAX_SAMPLES and summary["units"] == rr.MAX_UNITS + 100
    assert summary["participation_ratio"] <= rr.MAX_UNITS


# x -> a -> b -> c -> d -> out (softmax): b is where the planted collapse happens.
CHAIN = ["x", "a", "b", "c", "d", "out"]


def _arch():
    layers = [{"id": "x", "type": "InputLayer", "is_input": True, "output_shapes": [[None, 16]]}]
    layers += [{"id": lid, "type": "Dense", "config": {"activation": "relu"}} for lid in "abcd"]
    layers.append({"id": "out", "type": "Dense", "config": {"activation": "softmax"}})
    return {
        "layers": layers,
        "edges": [{"from": f, "to": t} for f, t in zip(CHAIN, CHAIN[1:], strict=False)],
        "inputs": ["x"],
        "outputs": [{"layer": "out"}],
    }


STEPS = (0, 1, 2, 3)


def _lint(matrices):
    """Lint over summaries of the given matrices {(layer, step): matrix}, healthy ones elsewhere."""
    stats = {lid + "/activations": {s: {"mean": 0.5, "std": 0.5} for s in STEPS} for lid in CHAIN[1:]}
    asked = []

    def representations(layer, step):
        asked.append((layer, step))
        matrix = matrices.get((layer, step))
        return rr.summarize(matrix if matrix is not None else RNG.normal(size=(128, 32)))

    findings = [f for f in lint(_arch(), {}, stats, representations=representations) if f.rule in RULES]
    return findings, asked


RULES = ("correlated-units", "rank-collapse")


def test_copies_from_step_2_are_named_at_the_layer_and_step_not_downstream():
    copies = np.maximum(0, SIGNAL) * np.ones(32)
    downstream = copies @ RNG.normal(size=(32, 32))  # what a layer fed by copies computes: copies too
    planted = {("b", s): copies for s in (2, 3)} | {(lid, s): downstream for lid in "cd" for s in (2, 3)}
    findings, asked = _lint(planted)
    assert [(f.rule, f.layer, f.step, f.severity) for f in findings] == [("correlated-units", "b", 2, "warning")]
    assert "from step 2 (not at step 0)" in findings[0].message and "100%" in findings[0].message
    # Other layers are read at the last step only (with their producers); only b's steps go back in time.
    assert ("b", 1) in asked and ("a", 1) in asked  # b and its producer at step 1, where b is sound
    assert not [(layer, step) for layer, step in asked if layer in ("x", "c", "d") and step != 3], asked


def test_rank_collapse_where_the_rank_drops_and_not_before_a_classifier_head():
    one_signal = np.maximum(0, SIGNAL + RNG.normal(size=32))
    findings, _ = _lint({("b", s): one_signal for s in STEPS})
    assert [(f.rule, f.layer, f.step) for f in findings] == [("rank-collapse", "b", 0)]
    assert "already at step 0" in findings[0].message
    # d feeds the softmax output: its features collapse towards the class means by design.
    findings, _ = _lint({("d", s): one_signal for s in STEPS})
    assert findings == []
    # A collapse that healed before the last step is not reported.
    findings, _ = _lint({("b", s): one_signal for s in (0, 1)})
    assert findings == []


def test_no_representations_no_findings():
    stats = {lid + "/activations": {0: {"mean": 0.5, "std": 0.5}} for lid in CHAIN[1:]}
    assert [f for f in lint(_arch(), {}, stats) if f.rule in RULES] == []
    # A reader that fails is read as "unknown", never as a failed lint.
    broken = lint(_arch(), {}, stats, representations=lambda layer, step: 1 / 0)
    assert [f for f in broken if f.rule in RULES] == []
