"""Distributed training (issue 13, item 5): only the chief logs, replicas share one probe pass.

Real processes (`tests/support/multi_worker_training.py`, a small dense classifier, 2 epochs): two
workers on localhost ports under MultiWorkerMirroredStrategy beside a single-worker reference run, and
MirroredStrategy over two logical CPUs in one process.
"""

import glob
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader

from innspector_tb.capture import distribution
from innspector_tb.format import step_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 2


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(run, strategy, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    env.pop("TF_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.multi_worker_training", run, "--strategy", strategy]
        + ["--epochs", str(EPOCHS), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process, timeout=240):
    """{key: value} of the lines the training printed, once it has exited 0."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError("training did not end within %d s:\n%s" % (timeout, err[-3000:])) from None
    assert process.returncode == 0, err[-3000:]
    said = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert "DONE" in out
    return said


def _files(run):
    return sorted(
        os.path.relpath(p, run) for p in glob.glob(os.path.join(run, "**"), recursive=True) if os.path.isfile(p)
    )


def _structure(run):
    """What a run holds, values aside: {step: {dataset: (shape, dtype)}} and {tag: [steps]}."""
    datasets = {}
    for step, relpath in step_files.list_step_files(run).items():
        with step_files.open_file(os.path.join(run, relpath)) as f:
            datasets[step] = {
                name: (tuple(d["shape"]), d["dtype"]) for name, d in step_files.describe_datasets(f).items()
            }
    tags: dict[str, list[int]] = {}
    for path in glob.glob(os.path.join(run, "events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(int(event.step))
    return datasets, {tag: sorted(steps) for tag, steps in tags.items()}


def _array(run, step, name):
    with step_files.open_file(os.path.join(run, step_files.step_file(step))) as f:
        return step_files.read_array(f, name)


def test_the_chief_is_the_chief_task_or_worker_0_without_one():
    def config(kind, index, cluster):
        import json

        return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})}

    workers = {"worker": ["a:1", "b:2"]}
    with_chief = {"chief": ["c:3"], "worker": ["a:1", "b:2"]}
    assert distribution.is_chief({})  # not distributed
    assert distribution.is_chief(config("worker", 0, workers))
    assert not distribution.is_chief(config("worker", 1, workers))
    assert distribution.is_chief(config("chief", 0, with_chief))
    assert not distribution.is_chief(config("worker", 0, with_chief))
    assert not distribution.is_chief(config("evaluator", 0, dict(with_chief, evaluator=["e:4"])))
    assert not distribution.is_chief(config("ps", 0, dict(workers, ps=["p:5"])))
    assert distribution.role(config("worker", 1, workers)) == "worker 1"


@pytest.mark.slow
def test_two_workers_log_one_run_from_the_chief_only(tmp_path):
    run, reference = str(tmp_path / "logs" / "distributed"), str(tmp_path / "reference" / "distributed")
    ports = "%d,%d" % (_free_port(), _free_port())
    workers = [_start(run, "multi_worker", "--ports", ports, "--index", str(i)) for i in (0, 1)]
    single = _start(reference, "none")
    chief, other = (_finish(w) for w in workers)
    alone = _finish(single)

    assert (chief["CHIEF"], other["CHIEF"]) == ("1", "0")
    # The non-chief ran no probe pass; the chief one per logged step (0 and one per epoch), as alone.
    assert other["PROBE_CALLS"] == "0"
    assert chief["PROBE_CALLS"] == alone["PROBE_CALLS"] == str(EPOCHS + 1)
    assert chief["WEIGHTS"] == other["WEIGHTS"]  # the workers trained one model

    # One run, written by the chief alone: one event file (named after its writer's pid), no lock left.
    files = _files(run)
    events = [f for f in files if f.startswith("events.out.tfevents.")]
    assert len(events) == 1 and ".%d." % workers[0].pid in events[0], files
    assert os.listdir(str(tmp_path / "logs")) == ["distributed"]
    assert not any(step_files.TEMP_MARK in f or f == step_files.LOCK_FILE for f in files), files
    assert set(step_files.list_step_files(run)) == set(range(EPOCHS + 1))

    # The same structure as the single-worker run: every step, dataset, shape, dtype and summary tag.
    datasets, tags = _structure(run)
    reference_datasets, reference_tags = _structure(reference)
    assert datasets == reference_datasets
    assert tags == reference_tags
    assert datasets[0]["layers/hidden/activations"][0] == (48, 6)  # the probe once, not once per worker
    # Both start from the same seeded initial weights: step 0 is the same model.
    np.testing.assert_array_equal(
        _array(run, 0, "layers/hidden/weights/kernel"), _array(reference, 0, "layers/hidden/weights/kernel")
    )


@pytest.mark.slow
def test_mirrored_replicas_share_one_probe_pass(tmp_path):
    run = str(tmp_path / "distributed")
    said = _finish(_start(run, "mirrored"))
    assert said["CHIEF"] == "1"
    assert said["PROBE_CALLS"] == str(EPOCHS + 1)  # one per logged step, not one per replica
    assert set(step_files.list_step_files(run)) == set(range(EPOCHS + 1))
    datasets, _ = _structure(run)
    assert datasets[EPOCHS]["layers/out/activations"][0] == (48, 3)
    assert np.isfinite(_array(run, EPOCHS, "layers/out/activations")).all()
