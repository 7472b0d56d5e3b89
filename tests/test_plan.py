"""The logging plan (capture/plan.py): pure, deterministic, within its budget."""

import hypothesis
import pytest
from hypothesis import strategies as st

from innspector_tb.capture import plan as plan_lib
from innspector_tb.capture.plan import FULL, NONE, POOLED, LayerShape


def _conv_net(depth=12, width=64, side=32):
    layers = [LayerShape("input", ((side, side, 3),))]
    for i in range(depth):
        layers.append(
            LayerShape("conv_%d" % i, ((side, side, width),), weights=(("kernel", 9 * width * width), ("bias", width)))
        )
    layers.append(LayerShape("pool", ((width,),), feeds_output=True))
    layers.append(LayerShape("dense", ((10,),), weights=(("kernel", width * 10), ("bias", 10)), is_output=True))
    return layers


def test_a_small_model_keeps_everything():
    layers = _conv_net(depth=2, width=4, side=8)
    plan = plan_lib.make_plan(layers, probe_size=512, classes=10, subset=tuple(range(16)))
    assert not plan.reduced and plan.weights_every == 1 and not plan.notes
    assert all(p.activations == FULL for p in plan.layers.values())
    assert plan.layers["conv_0"].class_maps and plan.layers["pool"].class_maps  # as without a plan: every layer
    assert plan.weights_due(0) == plan.weights_due(7) == {"conv_0", "conv_1", "dense"}


def test_no_budget_keeps_everything_of_a_big_model():
    plan = plan_lib.make_plan(_conv_net(), probe_size=512, classes=10, budget_bytes=None)
    assert not plan.reduced and plan.planned_bytes > plan_lib.DEFAULT_BUDGET_BYTES


def test_a_big_model_is_reduced_within_the_budget_outputs_first():
    budget = 2 * 2**20
    plan = plan_lib.make_plan(
        _conv_net(depth=40), probe_size=512, classes=10, budget_bytes=budget, subset=tuple(range(16))
    )
    assert plan.reduced
    assert plan.planned_bytes <= budget
    assert plan.layers["dense"].activations == FULL and plan.layers["pool"].activations == FULL
    kept = [p.activations for p in plan.layers.values()]
    assert POOLED in kept and NONE in kept
    assert plan.notes and any("pooled" in note for note in plan.notes)


def test_weights_rotate_in_groups_that_cover_every_layer_once():
    layers = _conv_net(depth=20, width=128)
    plan = plan_lib.make_plan(layers, probe_size=512, classes=10, budget_bytes=4 * 2**20)
    k = plan.weights_every
    assert k > 1
    turns = [plan.weights_due(i) for i in range(k)]
    weighted = {layer.id for layer in layers if layer.weights}
    assert set().union(*turns) == weighted and sum(len(t) for t in turns) == len(weighted)
    assert plan.weights_due(k) == plan.weights_due(0)
    largest = max(sum(layer.weight_size for layer in layers if layer.id in turn) * 4 for turn in turns)
    assert largest <= 4 * 2**20 * plan_lib.WEIGHT_SHARE * 1.05


def _weight_bytes(layers, ids):
    return sum(layer.weight_size for layer in layers if layer.id in ids) * 4


def test_the_last_step_holds_as_many_weight_groups_as_its_allowance():
    # 20 x 147 kB of kernels in groups of at most 1 MB: all of them fit 1.5 budgets of 4 MB.
    layers = _conv_net(depth=20, width=64)
    plan = plan_lib.make_plan(layers, probe_size=512, classes=10, budget_bytes=4 * 2**20)
    weighted = {layer.id for layer in layers if layer.weights}
    assert plan.weights_every > 1 and _weight_bytes(layers, weighted) <= 1.5 * 4 * 2**20
    assert all(plan.weights_due(i, last=True) == weighted for i in range(plan.weights_every))
    assert any("all of them at the last step" in note for note in plan.notes)
    # 20 x 590 kB: 11.5 MB do not fit 6 MB; the last step holds its own turn's group and the next ones that do.
    layers = _conv_net(depth=20, width=128)
    plan = plan_lib.make_plan(layers, probe_size=512, classes=10, budget_bytes=4 * 2**20)
    for i in range(plan.weights_every):
        last = plan.weights_due(i, last=True)
        assert plan.weights_due(i) < last < {layer.id for layer in layers if layer.weights}
        assert _weight_bytes(layers, last) <= plan_lib.FINAL_WEIGHT_BUDGETS * 4 * 2**20
    assert any("of the %d groups at the last step" % plan.weights_every in note for note in plan.notes)


def test_pins_are_kept_in_full_and_unknown_pins_refused():
    plan = plan_lib.make_plan(_conv_net(), 512, 10, budget_bytes=8 * 2**20, full_layers=["conv_5"])
    assert plan.layers["conv_5"] == plan_lib.LayerPlan(FULL, False, True)
    with pytest.raises(ValueError, match="conv_99"):
        plan_lib.make_plan(_conv_net(), 512, 10, full_layers=["conv_99"])


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(
    depth=st.integers(1, 30),
    width=st.integers(1, 256),
    side=st.integers(1, 64),
    probe=st.integers(1, 1024),
    classes=st.integers(0, 20),
    budget_mb=st.integers(1, 128),
)
def test_plans_are_deterministic_and_respect_the_budget(depth, width, side, probe, classes, budget_mb):
    layers = _conv_net(depth, width, side)
    budget = budget_mb * 2**20
    first = plan_lib.make_plan(layers, probe, classes, budget_bytes=budget, subset=tuple(range(min(16, probe))))
    second = plan_lib.make_plan(layers, probe, classes, budget_bytes=budget, subset=tuple(range(min(16, probe))))
    assert first == second and first.to_json() == second.to_json()
    if first.reduced:
        assert first.planned_bytes <= budget


def test_layer_shapes_read_roles_from_an_architecture():
    arch = {
        "layers": [
            {"id": "in", "output_shapes": [[None, 8, 8, 3]], "variables": []},
            {
                "id": "conv",
                "output_shapes": [[None, 8, 8, 16]],
                "variables": [{"name": "kernel", "shape": [3, 3, 3, 16]}],
            },
            {"id": "skip", "output_shapes": [[None, 8, 8, 16]], "variables": []},
            {"id": "add", "output_shapes": [[None, 8, 8, 16]], "variables": []},
            {"id": "z", "output_shapes": [[None, 2]], "variables": [{"name": "kernel", "shape": [1024, 2]}]},
            {"id": "out", "output_shapes": [[None, 10]], "variables": []},
        ],
        "edges": [
            {"from": "in", "to": "conv"},
            {"from": "in", "to": "skip"},
            {"from": "conv", "to": "add"},
            {"from": "skip", "to": "add"},
            {"from": "add", "to": "z"},
            {"from": "z", "to": "out"},
        ],
        "outputs": [{"layer": "out", "output_index": 0}],
    }
    shapes = {layer.id: layer for layer in plan_lib.layer_shapes(arch)}
    assert shapes["conv"].outputs == ((8, 8, 16),) and shapes["conv"].weight_size == 432
    assert shapes["out"].is_output and shapes["z"].feeds_output and shapes["z"].bottleneck
    assert shapes["add"].junction and shapes["in"].junction and not shapes["conv"].junction
    assert shapes["conv"].spatial and not shapes["z"].spatial


def test_weights_bigger_than_their_share_keep_statistics_only():
    layers = _conv_net(depth=3, width=8) + [LayerShape("embedding", ((10,),), weights=(("embeddings", 2**20),))]
    plan = plan_lib.make_plan(layers, 64, 10, budget_bytes=2 * 2**20)
    assert "embedding" not in plan.weight_groups and plan.planned_bytes <= 2 * 2**20
    assert any("embedding" in note and "statistics only" in note for note in plan.notes)
