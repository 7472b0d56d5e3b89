"""Attribution maps fitted into a time budget (capture/time_budget.py): pure and deterministic."""

import hypothesis
import pytest
from hypothesis import strategies as st

from innspector_tb.capture import time_budget

ALL = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "grad_cam")
EXTENDED = ALL + ("lrp_epsilon", "lrp_epsilon_plus_flat", "guided_backprop", "guided_grad_cam", "occlusion")
DEFAULTS = {"smoothgrad_samples": 16, "ig_steps": 32}


def test_a_cheap_model_keeps_what_was_asked():
    schedule = time_budget.fit(1.0, 1e-6, 32, 2, ALL, DEFAULTS)
    assert (schedule.size, schedule.methods, schedule.every, schedule.notes) == (32, ALL, 1, ())
    assert schedule.options == DEFAULTS


def test_reductions_come_in_order_and_are_said():
    rows = time_budget.rows(32, 2, ALL, DEFAULTS)  # 32 * 2 * (1 + 16 + 32)
    assert rows == 3136
    # Half the cost: coarser integration first, nothing else.
    half = time_budget.fit(rows / 2, 1.0, 32, 2, ALL, DEFAULTS)
    assert half.size == 32 and half.every == 1 and half.methods == ALL
    assert half.options["ig_steps"] < 32 and any("integrated-gradients steps" in n for n in half.notes)
    # Far less: fewer samples and a slower cadence too, every method kept while possible.
    tight = time_budget.fit(rows / 200, 1.0, 32, 2, ALL, DEFAULTS)
    assert tight.size == time_budget.MIN_SIZE and tight.every > 1 and tight.methods == ALL
    assert any("samples instead of 32" in n for n in tight.notes) and any("every" in n for n in tight.notes)
    # Almost nothing: methods are left out, integrated gradients first.
    tiny = time_budget.fit(rows / 3000, 1.0, 32, 2, ALL, DEFAULTS)
    assert tiny is None or "integrated_gradients" not in tiny.methods


def test_occlusion_goes_first_and_the_relevance_methods_are_counted():
    # Per pair: the base row (+ Guided Grad-CAM's Grad-CAM), 16 + 32, one each for the two LRP methods and
    # Guided Backprop (which Guided Grad-CAM reuses); occlusion: 49 positions + the sample, half a row each.
    rows = time_budget.rows(32, 2, EXTENDED, DEFAULTS, occlusion_positions=49)
    assert rows == 32 * 2 * (1 + 16 + 32 + 3) + 32 * 50 * time_budget.FORWARD_ROW
    assert time_budget.rows(32, 2, EXTENDED, DEFAULTS) < rows
    fitted = time_budget.fit(rows - 1, 1.0, 32, 2, EXTENDED, DEFAULTS, occlusion_positions=49)
    assert fitted.methods == tuple(m for m in EXTENDED if m != "occlusion") and fitted.options == DEFAULTS
    assert fitted.notes == ("left out: occlusion",) and fitted.size == 32
    # Far less: the LRP methods and Guided Grad-CAM are left out before the plain gradients.
    tiny = time_budget.fit(rows / 5000, 1.0, 32, 2, EXTENDED, DEFAULTS, occlusion_positions=49)
    assert tiny is None or not {"lrp_epsilon", "occlusion", "guided_grad_cam"} & set(tiny.methods)


def test_a_budget_nothing_fits_turns_attributions_off():
    assert time_budget.fit(1e-9, 1.0, 32, 2, ALL, DEFAULTS) is None


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    budget=st.floats(1e-6, 1e3),
    per_row=st.floats(1e-6, 1.0),
    size=st.integers(1, 128),
    targets=st.integers(1, 2),
    ig=st.integers(1, 64),
    sg=st.integers(1, 32),
    methods=st.sampled_from([ALL, EXTENDED]),
    positions=st.integers(0, 200),
)
def test_a_fitted_schedule_is_within_budget_and_never_asks_for_more(
    budget, per_row, size, targets, ig, sg, methods, positions
):
    options = {"smoothgrad_samples": sg, "ig_steps": ig}
    schedule = time_budget.fit(budget, per_row, size, targets, methods, options, occlusion_positions=positions)
    if schedule is None:
        return
    rows = time_budget.rows(schedule.size, targets, schedule.methods, schedule.options, positions)
    assert rows * per_row / schedule.every <= budget * (1 + 1e-9)
    assert schedule.size <= size and set(schedule.methods) <= set(methods)
    assert schedule.options["ig_steps"] <= ig and schedule.options["smoothgrad_samples"] <= sg
    assert schedule == time_budget.fit(budget, per_row, size, targets, methods, options, occlusion_positions=positions)


def test_step_zero_has_an_allowance_and_later_steps_a_fraction_of_the_epoch():
    assert time_budget.budget_for(None, 0.05) == time_budget.STEP_ZERO_SECONDS
    assert time_budget.budget_for(100.0, 0.05) == 5.0
    assert time_budget.budget_for(1.0, 0.05) == time_budget.MIN_SECONDS


def _train_tiny(tmp_path, **callback_args):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tests.support import trained_models as tm

    return tm.train(str(tmp_path), "skip_model", tm.functional_skip(), epochs=2, **callback_args)


@pytest.mark.slow
def test_a_small_classifier_keeps_every_attribution_map(tmp_path):
    from innspector_tb.capture import step_pacing

    callback = _train_tiny(tmp_path, time_budget=step_pacing.DEFAULT_SHARE)["callback"]
    assert callback._schedule is not None and callback._schedule.notes == ()
    assert callback._schedule.size == 32 and callback._schedule.every == 1


@pytest.mark.slow
def test_a_tight_time_budget_reduces_the_maps_and_says_so(tmp_path, monkeypatch, capsys):
    from innspector_tb.format import step_files

    monkeypatch.setattr(time_budget, "STEP_ZERO_SECONDS", 1e-7)
    monkeypatch.setattr(time_budget, "MIN_SECONDS", 1e-7)
    callback = _train_tiny(tmp_path, time_budget=1e-6)["callback"]
    printed = capsys.readouterr().out
    assert "attribution maps fitted to the time budget" in printed
    schedule = callback._schedule
    assert schedule.notes and (not schedule.methods or schedule.size < 32 or schedule.every > 1)
    run = tmp_path / "skip_model"
    steps = step_files.list_step_files(str(run))
    with_maps = 0
    for relpath in steps.values():
        with step_files.open_file(str(run / relpath)) as f:
            with_maps += "attributions/sample" in f
    assert with_maps < len(steps)  # some logged step went without maps
