"""Pacing logged steps into the time budget (capture/step_pacing.py), alone and in a real training."""

import threading
import time

import pytest

from innspector_tb.capture import step_pacing


def _logged(pacer, due_steps):
    return [i for i in range(due_steps) if pacer.due()]


def _train(pacer, epochs, epoch_seconds, step_seconds):
    """Due steps at every epoch's end; a logged one costs step_seconds(epoch). Returns the logged epochs."""
    logged, since = [], 0.0
    for epoch in range(1, epochs + 1):
        since += epoch_seconds
        if pacer.due():
            pacer.observe(step_seconds(epoch), since)
            logged.append(epoch)
            since = 0.0
    return logged


def test_a_cheap_step_is_logged_every_time():
    pacer = step_pacing.Pacer(0.1)
    assert _train(pacer, 5, 2.0, lambda epoch: 0.15) == [1, 2, 3, 4, 5]  # 7.5% of an epoch, 10% allowed
    assert pacer.every == 1 and pacer.note is None


def test_an_expensive_step_slows_the_cadence_to_fit_the_share_and_says_so():
    pacer = step_pacing.Pacer(0.1)
    assert pacer.due()
    note = pacer.observe(3.0, 10.0)  # 30% of a 10 s epoch, 10% allowed: every 3rd epoch
    assert pacer.every == 3
    assert note.startswith("iNNspector: logged every 3rd epoch") and "30%" in note and "10%" in note
    assert "3rd epoch" in pacer.note and pacer.to_json() == {"every": 3, "note": pacer.note}
    assert _logged(pacer, 7) == [2, 5]  # due steps 1..7 after the logged step 0: every 3rd


def test_the_interval_of_a_paced_step_covers_the_due_steps_since_the_last_one():
    pacer = step_pacing.Pacer(0.1)
    # 3 s steps on 10 s epochs: every 3rd epoch from the first logged one on, and it stays so.
    assert _train(pacer, 10, 10.0, lambda epoch: 3.0) == [1, 4, 7, 10] and pacer.every == 3
    # The step got more expensive: slower still (5 s against 1 s allowed per epoch).
    assert _train(pacer, 10, 10.0, lambda epoch: 5.0)[:1] and pacer.every == 5


def test_a_cadence_changed_midway_counts_from_the_last_logged_step():
    pacer = step_pacing.Pacer(0.1)
    # 1.5 s at epoch 1: every 2nd epoch; 3.5 s at epoch 3: every 4th, counted from epoch 3 (not epoch 5,
    # as a cadence counted from the first due step would give), and the 40 s it covers keep it there.
    logged = _train(pacer, 11, 10.0, lambda epoch: 1.5 if epoch == 1 else 3.5)
    assert logged == [1, 3, 7, 11] and pacer.every == 4


def test_the_cadence_relaxes_only_with_a_margin_and_is_capped():
    pacer = step_pacing.Pacer(0.1)
    assert _train(pacer, 4, 10.0, lambda epoch: 3.0) == [1, 4] and pacer.every == 3
    # 2.6 s over three epochs: every 2nd would be 13%, over the share: no change.
    assert pacer.due() is False and pacer.due() is False and pacer.due() is True
    assert pacer.observe(2.6, 30.0) is None and pacer.every == 3
    for _ in range(2):
        pacer.due()
    assert pacer.due() and pacer.observe(1.5, 30.0) is not None and pacer.every == 2  # 7.5% at every 2nd
    pacer.due()
    assert pacer.due() and pacer.observe(0.5, 20.0) is not None and pacer.every == 1 and pacer.note is None
    capped = step_pacing.Pacer(0.01)
    capped.due()
    capped.observe(100.0, 10.0)
    assert capped.every == step_pacing.MAX_EVERY


def test_no_budget_and_nonsense_measurements_change_nothing():
    for pacer, args in (
        (step_pacing.Pacer(None), (100.0, 1.0)),
        (step_pacing.Pacer(0.1), (100.0, 0.0)),
        (step_pacing.Pacer(0.1), (float("nan"), 10.0)),
        (step_pacing.Pacer(0.1), (float("inf"), 10.0)),
        (step_pacing.Pacer(0.1), (1.0, float("inf"))),
    ):
        assert pacer.observe(*args) is None and pacer.every == 1


def test_ordinals():
    assert [step_pacing._ordinal(n) for n in (2, 3, 4, 11, 12, 13, 21, 22)] == [
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
    ]


@pytest.mark.slow
def test_the_first_epoch_is_timed_at_its_steady_pace():
    # 10 batches: the first took 20 s (tracing), the other 9 one second each.
    assert step_pacing.steady_epoch_seconds(100.0, 120.0, 129.0, 10) == pytest.approx(10.0)
    # No batch clock, or a single batch: the whole epoch.
    assert step_pacing.steady_epoch_seconds(100.0, None, 129.0, 10) == 29.0
    assert step_pacing.steady_epoch_seconds(100.0, 120.0, 120.0, 1) == 20.0
    # Never more than the whole epoch (a first batch quicker than the rest).
    assert step_pacing.steady_epoch_seconds(100.0, 100.1, 110.0, 2) == 10.0


def test_without_a_time_budget_every_due_step_is_logged(tmp_path):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from innspector_tb.format import step_files
    from tests.support import trained_models as tm

    result = tm.train(str(tmp_path), "small", tm.functional_skip(), epochs=4, time_budget=None, attributions=False)
    assert result["callback"]._pacer.every == 1
    assert sorted(step_files.list_step_files(str(tmp_path / "small"))) == [0, 1, 2, 3, 4]


def test_the_writers_cpu_seconds_count_in_a_logged_steps_cost(tmp_path, monkeypatch):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from innspector_tb.capture import background
    from tests.support import trained_models as tm

    # Every job of the writer thread costs a minute of CPU (its clock is made to say so): the costs the
    # pacer is given must hold them, beyond the training thread's few tens of milliseconds.
    clock = {"now": 0.0}
    real_thread_time = time.thread_time

    def thread_time():
        if threading.current_thread().name == "innspector-writer":
            clock["now"] += 30.0  # read twice per job: before and after it
            return clock["now"]
        return real_thread_time()

    monkeypatch.setattr(background.time, "thread_time", thread_time)
    costs = []
    observe = step_pacing.Pacer.observe
    monkeypatch.setattr(
        step_pacing.Pacer,
        "observe",
        lambda self, cost, interval, unit="epoch": costs.append(cost) or observe(self, cost, interval, unit),
    )
    # No budget: epochs 1, 2 and 3 are all logged and observed. A writer job counts once it is done; by the
    # third step's hand-over (a queue of 2) some are, whatever the machine's speed.
    tm.train(str(tmp_path), "busy", tm.functional_skip(), epochs=3, time_budget=None, attributions=False)
    assert len(costs) == 3 and sum(costs) >= 30.0, costs


@pytest.mark.slow
def test_a_training_whose_steps_cost_too_much_is_paced_and_keeps_its_last_step(tmp_path, monkeypatch, capsys):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from innspector_tb.format import step_files
    from tests.support import backend_app
    from tests.support import trained_models as tm

    # Any logged step is expensive against a share of 1e-6: a small model that fits the byte budget is
    # paced too (what a logged step costs, not the size of its data, decides).
    monkeypatch.setattr(step_pacing, "MAX_EVERY", 3)
    result = tm.train(
        str(tmp_path),
        "paced",
        tm.functional_skip(),
        epochs=7,
        time_budget=1e-6,
        attributions=False,
    )
    assert not result["callback"].plan.reduced
    printed = capsys.readouterr().out
    assert "logged every 3rd epoch" in printed and "the last epoch is always logged" in printed
    run = tmp_path / "paced"
    steps = sorted(step_files.list_step_files(str(run)))
    # Step 0, epoch 1 (measured: every 3rd from then on), epoch 4, epoch 7 (also the last).
    assert steps == [0, 1, 4, 7], steps
    assert result["callback"]._pacer.every == 3
    # The tab says so: the run's plan (stored with every step) carries the cadence and its note.
    status, models = backend_app.Client(str(tmp_path)).get("/models")
    assert status == 200
    (entry,) = [m for m in models["models"] if m["run"] == "paced"]
    assert entry["plan"]["log_every"] == 3
    assert any("logged every 3rd epoch" in note for note in entry["plan"]["notes"])
