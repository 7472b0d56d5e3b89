"""Logging under faults (issue 12, items 8 and 9): resumed runs, two writers, Ctrl-C, a full disk.

The training processes are real (`tests/support/fault_training.py`, a tiny model, a few steps); a slow
disk is simulated by `tests/support/slow_disk/sitecustomize.py`, a full disk by an OSError(ENOSPC) raised
where the step writer stores a dataset, after the temporary file exists.
"""

import errno
import gc
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import weakref

import h5py
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader

import innspector_tb
from innspector_tb.capture import error_log, log_jobs, run_lock, step_writer, writer_process
from innspector_tb.capture.callback import InnspectorCallback
from innspector_tb.format import metadata, step_files
from tests.support import trained_models as tm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW_DISK = os.path.join(REPO, "tests", "support", "slow_disk")


# Reading what a run holds, straight from its files.


def event_steps(run):
    """{tag: [step, ...]} of every summary in the run's event files, in the order written."""
    steps: dict[str, list[int]] = {}
    for path in sorted(glob.glob(os.path.join(run, "events.out.tfevents.*"))):
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(int(event.step))
    return steps


def step_sessions(run):
    """{step: the session attribute of its file}."""
    result = {}
    for step, relpath in step_files.list_step_files(run).items():
        with step_files.open_file(os.path.join(run, relpath)) as f:
            result[step] = f.attrs[step_files.SESSION_ATTR]
            assert f["layers/out/weights/kernel"][()].shape == (16, tm.CLASSES)  # readable, whole
    return result


def leftovers(run):
    """Temporary files and the lock file left in the run's innspector/ directory."""
    directory = os.path.join(run, step_files.STEP_FILES_DIR)
    names = os.listdir(directory) if os.path.isdir(directory) else []
    return [n for n in names if step_files.TEMP_MARK in n or n == os.path.basename(step_files.LOCK_FILE)]


def training(run, *args, slow_disk=0.0):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", INNSPECTOR_TEST_SLOW_DISK=str(slow_disk))
    env["PYTHONPATH"] = os.pathsep.join([SLOW_DISK, REPO, env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.fault_training", run, *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a script started in a terminal
    )


def running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


# Ctrl-C.


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["thread", "process"])
def test_ctrl_c_writes_every_step_handed_over(tmp_path, writer):
    run = str(tmp_path / writer)
    # A slow disk: each step file takes 0.3 s more, so steps are queued when Ctrl-C comes.
    process = training(run, "--writer", writer, "--epochs", 40, "--freq-unit", "batch", slow_disk=0.3)
    writer_pid, announced = None, -1
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("WRITER_PID"):
                writer_pid = int(line.split()[1])
            if line.startswith("LOGGED"):
                announced = int(line.split()[1])
                if announced >= 4:
                    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole group
                    break
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stderr = process.stderr.read() if process.stderr else ""
    assert announced >= 4, stderr
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr  # training was interrupted
    assert "DONE" not in (process.stdout.read() if process.stdout else "")
    # Every step handed to the writer before Ctrl-C is on disk, whole, and announced in the event file
    # (the final flush happened): none was lost with the writer.
    sessions = step_sessions(run)
    assert set(range(announced + 1)) <= set(sessions), (sorted(sessions), announced, stderr)
    manifests = event_steps(run)[metadata.CHECKPOINT_TAG]
    assert set(sessions) == set(manifests)
    assert leftovers(run) == []  # no temporary file; the lock given back at exit
    if writer == "process":
        assert writer_pid is not None
        deadline = time.monotonic() + 30
        while running(writer_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not running(writer_pid)  # it wrote what it was sent and exited


# Resumed runs.


@pytest.mark.slow
def test_resumed_run_continues_after_the_steps_already_logged(tmp_path):
    run = str(tmp_path / "resumed")
    first = tm.train(str(tmp_path), "resumed", tm.sequential(), epochs=3, attributions=False)
    assert sorted(step_files.list_step_files(run)) == [0, 1, 2, 3]
    # A new process, as after loading a checkpoint: fit(initial_epoch=3, epochs=5).
    process = training(run, "--epochs", 5, "--initial-epoch", 3)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    sessions = step_sessions(run)
    assert sorted(sessions) == [0, 1, 2, 3, 4, 5]
    # Steps 0-3 are the first session's files, untouched; 4 and 5 the second's: no file mixes two.
    assert {sessions[s] for s in (0, 1, 2, 3)} == {first["callback"].session}
    assert len({sessions[4], sessions[5]}) == 1 and sessions[4] != first["callback"].session
    steps = event_steps(run)
    assert sorted(steps[metadata.CHECKPOINT_TAG]) == [0, 1, 2, 3, 4, 5]  # each step announced once
    assert sorted(steps["metrics/loss"]) == [1, 2, 3, 4, 5]
    # The header and architecture are written again at the second session's first step (readers take
    # the last); the probe samples stay the first session's.
    assert steps[metadata.HEADER_TAG] == [0, 3]
    assert steps[metadata.SAMPLES_TAG] == [0]

    # initial_epoch past the last step: the baseline is logged at its step.
    x, y = tm.images()
    model = first["model"]
    callback = InnspectorCallback(run, innspector_tb.header("resumed"), probe=(x, y), probe_size=48, attributions=False)
    model.fit(x, y, epochs=10, initial_epoch=9, batch_size=16, verbose=0, callbacks=[callback])
    assert sorted(step_files.list_step_files(run)) == [0, 1, 2, 3, 4, 5, 9, 10]
    assert leftovers(run) == []


@pytest.mark.slow
def test_resuming_with_another_probe_is_refused(tmp_path):
    tm.train(str(tmp_path), "probe", tm.sequential(), epochs=1, attributions=False)
    x, y = tm.images(seed=1)
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = InnspectorCallback(str(tmp_path / "probe"), probe=(x, y), probe_size=24)
    with pytest.raises(innspector_tb.errors.ConfigurationError, match="differ from this probe"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert sorted(step_files.list_step_files(str(tmp_path / "probe"))) == [0, 1]
    assert leftovers(str(tmp_path / "probe")) == []


def test_a_step_file_of_another_session_is_never_merged_into(tmp_path):
    first = step_writer.StepFileWriter(str(tmp_path), session="a" * 32)
    second = step_writer.StepFileWriter(str(tmp_path), session="b" * 32)
    path = step_files.step_file(1)
    first.write(path, {"layers/d/weights/kernel": np.ones((4, 2), np.float32)})
    first.write(path, {"layers/d/weights/bias": np.zeros(2, np.float32)})  # the same session adds to it
    with pytest.raises(step_files.StepFileError, match="not merged"):
        second.write(path, {"layers/d/weights/kernel": np.full((4, 2), 7, np.float32)})
    with h5py.File(tmp_path / path, "r") as f:
        assert f.attrs[step_files.SESSION_ATTR] == "a" * 32
        assert sorted(f["layers/d/weights"]) == ["bias", "kernel"]
        assert f["layers/d/weights/kernel"][()].max() == 1
    assert leftovers(str(tmp_path)) == []


# Two writers.


@pytest.mark.slow
def test_a_second_writer_on_the_run_is_refused_until_the_first_is_done(tmp_path):
    run = str(tmp_path / "busy")
    # Another process holds the run: a real lock taken by a real process, held until its stdin closes.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from innspector_tb.capture import run_lock; "
            "lock = run_lock.RunLock(sys.argv[1], 'other'); lock.acquire(); print('LOCKED', flush=True); "
            "sys.stdin.read(); lock.release()",
            run,
        ],
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "LOCKED"
        x, y = tm.images()
        model = tm.sequential()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        before = [w.copy() for w in model.get_weights()]
        callback = InnspectorCallback(run, probe=(x, y), probe_size=24, attributions=False)
        with pytest.raises(run_lock.RunLockedError, match="process %d on host" % holder.pid):
            model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))  # not trained
        assert step_files.list_step_files(run) == {}
    finally:
        holder.communicate(timeout=60)
    assert holder.returncode == 0
    # The first writer is done: the run is free.
    callback = InnspectorCallback(run, probe=(x, y), probe_size=24, attributions=False)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    assert sorted(step_files.list_step_files(run)) == [0, 1]
    assert leftovers(run) == []


@pytest.mark.slow
def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    run = str(tmp_path / "stale")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    os.makedirs(os.path.join(run, step_files.STEP_FILES_DIR))
    lock = {"pid": dead.pid, "host": socket.gethostname(), "started": time.time() - 60, "session": "gone"}
    with open(os.path.join(run, step_files.LOCK_FILE), "w") as f:
        json.dump(lock, f)
    x, y = tm.images()
    model = tm.sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callback = InnspectorCallback(run, probe=(x, y), probe_size=24, attributions=False)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    assert "process %d" % dead.pid in caplog.text and "not running" in caplog.text
    assert sorted(step_files.list_step_files(run)) == [0, 1]
    assert leftovers(run) == []  # released at train end


def test_locks_of_this_process_and_of_other_hosts(tmp_path):
    run = str(tmp_path)
    first = run_lock.RunLock(run, "first")
    first.acquire()
    first.acquire()  # twice is once
    with pytest.raises(run_lock.RunLockedError, match="another InnspectorCallback of this process"):
        run_lock.RunLock(run, "second").acquire()
    first.release()
    assert leftovers(run) == []
    second = run_lock.RunLock(run, "second")
    second.acquire()
    second.release()
    # Another machine's process cannot be checked from here: refused, with what to do if it is gone.
    with open(os.path.join(run, step_files.LOCK_FILE), "w") as f:
        json.dump({"pid": 1, "host": "elsewhere.example", "started": time.time(), "session": "x"}, f)
    with pytest.raises(run_lock.RunLockedError, match="host elsewhere.example.*delete"):
        run_lock.RunLock(run, "third").acquire()


# A full disk.


def test_repeated_write_failures_keep_bounded_text_and_free_the_arrays(tmp_path, monkeypatch):
    def full_disk(self, out, name, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(step_writer.StepFileWriter, "_dataset", full_disk)
    sink = writer_process.ThreadSink(str(tmp_path), max_pending=2)
    arrays = []
    for step in range(3 * error_log.KEEP):
        kernel = np.random.rand(64, 32).astype(np.float32)
        arrays.append(weakref.ref(kernel))
        sink.submit(log_jobs.step_job(step, weights={("dense", "kernel"): kernel}))
        del kernel
    sink.close()
    gc.collect()
    assert [ref for ref in arrays if ref() is not None] == []  # no failed job's arrays kept alive
    assert len(sink.errors) == 3 * error_log.KEEP  # every failure counted
    assert len(list(sink.errors)) == error_log.KEEP and all("No space left" in e for e in sink.errors)
    assert step_files.list_step_files(str(tmp_path)) == {}
    assert metadata.CHECKPOINT_TAG not in event_steps(str(tmp_path))  # no step announced without its file
    assert leftovers(str(tmp_path)) == []


@pytest.mark.slow
def test_a_full_disk_leaves_no_temporary_file_and_no_half_listed_step(tmp_path, monkeypatch):
    run = str(tmp_path / "full")
    store = step_writer.StepFileWriter._dataset
    full_after = {"step_000000002.h5"}  # the disk fills up while step 2 is written, and stays full
    seen = []

    def filling_disk(self, out, name, *args):
        if os.path.basename(out.filename).split(step_files.TEMP_MARK)[0] in full_after or seen:
            seen.append(out.filename)
            assert os.path.exists(out.filename)  # the temporary file is there when the disk fills
            raise OSError(errno.ENOSPC, "No space left on device")
        return store(self, out, name, *args)

    monkeypatch.setattr(step_writer.StepFileWriter, "_dataset", filling_disk)
    tm.train(str(tmp_path), "full", tm.sequential(), epochs=4, attributions=False)
    assert sorted(step_files.list_step_files(run)) == [0, 1]
    steps = event_steps(run)
    assert sorted(steps[metadata.CHECKPOINT_TAG]) == [0, 1]  # no manifest for the steps that failed
    assert sorted(steps["metrics/loss"]) == [1, 2, 3, 4]  # training and the small summaries went on
    assert seen and leftovers(run) == []
