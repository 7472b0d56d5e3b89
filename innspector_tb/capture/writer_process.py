"""Where the callback's log jobs run: a background thread (`ThreadSink`, the default: the callback's
`writer="thread"`) or a writer process (`ProcessSink`, `writer="process"`).

CPython threads share one interpreter lock: statistics, HDF5 and summary
writing on a thread still hold it now and then and slow the training loop
down. A separate, low-priority writer process does not, at the cost of starting
a Python process that imports TensorFlow. The training thread copies a step's
arrays into one shared-memory block and sends a one-line message; the process
writes and acknowledges. Either way at most `max_pending` steps are in flight,
so memory stays bounded and a slow disk makes training wait rather than grow.

The process is started with `python -m innspector_tb.capture.writer_process`, not
multiprocessing, so a training script without a `__main__` guard is never
re-run. If it cannot start, the callback falls back to the thread. It runs in
its own session (process group) and ignores SIGINT: Ctrl-C in the terminal
interrupts training, not the writer, which writes what it was sent, then
exits when the training process closes its end of the pipe.
"""

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from innspector_tb import errors
from innspector_tb.capture import error_log

logger = logging.getLogger("innspector_tb")

_META_KEY = "__meta__"
_ALIGN = 64


class WriterError(errors.LoggingError):
    """The writer process is gone or failed a job."""


class ThreadSink:
    """Runs log jobs on a bounded background thread of this process."""

    def __init__(
        self,
        run_dir,
        dtype="float32",
        histogram_bins=30,
        max_pending=2,
        labels=None,
        precision="rounded",
        session=None,
    ):
        from innspector_tb.capture import background, log_jobs

        self._log = log_jobs.RunLog(
            run_dir, dtype=dtype, histogram_bins=histogram_bins, precision=precision, session=session
        )
        self._log.labels = labels
        self._worker = background.BackgroundWorker(max_pending=max_pending)

    @property
    def errors(self):
        return self._worker.errors

    @property
    def busy_seconds(self):
        """CPU seconds the writer thread spent on jobs so far."""
        return self._worker.busy_seconds

    def submit(self, job):
        self._worker.submit(self._log.execute, *job)

    def flush(self):
        self._worker.flush()

    def close(self):
        self._worker.flush()
        self._worker.close()
        self._log.close()
        self.errors.report()


class ProcessSink:
    """Runs log jobs in a separate, low-priority writer process."""

    def __init__(self, run_dir, dtype="float32", histogram_bins=30, max_pending=2, precision="rounded", session=None):
        config = json.dumps(
            {
                "run_dir": run_dir,
                "dtype": str(dtype),
                "histogram_bins": int(histogram_bins),
                "precision": precision,
                "session": session,
            }
        )
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["CUDA_VISIBLE_DEVICES"] = ""  # the writer never computes on an accelerator
        self._process = subprocess.Popen(
            [sys.executable, "-m", "innspector_tb.capture.writer_process", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # Its own process group: the terminal's SIGINT (Ctrl-C) goes to training only.
            start_new_session=True,
        )
        if self._process.stdin is None or self._process.stdout is None:  # never: both are PIPE above
            raise WriterError("the iNNspector writer process has no pipes")
        self._jobs, self._replies = self._process.stdin, self._process.stdout  # job messages down, replies up
        self._slots = threading.Semaphore(max(1, int(max_pending)))
        self._lock = threading.Condition()
        self._in_flight = {}
        self._next_id = 0
        self.errors = error_log.ErrorLog()  # bounded: a full disk fails every job
        self.busy_seconds = 0.0  # CPU seconds the writer process spent on jobs so far (from its replies)
        self._reader = threading.Thread(target=self._read_replies, name="innspector-writer-replies", daemon=True)
        self._reader.start()

    def submit(self, job):
        kind, meta, arrays = job
        # Only jobs carrying arrays count against max_pending: a metrics job is a
        # few numbers and must not wait behind a step.
        bounded = bool(arrays)
        if bounded:
            self._slots.acquire()
        try:
            if self._process.poll() is not None:
                raise WriterError("the iNNspector writer process exited with code %s" % self._process.returncode)
            block, layout = _pack(meta, arrays)
            with self._lock:
                job_id = self._next_id
                self._next_id += 1
                self._in_flight[job_id] = (block, bounded)
            message = json.dumps({"id": job_id, "kind": kind, "shm": block.name, "layout": layout})
            try:
                self._jobs.write(message.encode("utf-8") + b"\n")
                self._jobs.flush()
            except OSError as e:  # the process died after the check above
                with self._lock:
                    self._in_flight.pop(job_id, None)
                _release(block)
                raise WriterError("the iNNspector writer process is gone: %s" % e) from e
        except Exception:
            if bounded:
                self._slots.release()
            raise

    def _read_replies(self):
        for line in self._replies:
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                entry = self._in_flight.pop(reply.get("id"), None)
                if not reply.get("ok"):
                    self.errors.add(str(reply.get("error")))
                cpu = reply.get("cpu")
                if isinstance(cpu, (int, float)) and math.isfinite(cpu) and cpu >= 0:
                    self.busy_seconds += cpu
                self._lock.notify_all()
            if entry is not None:
                self._done(*entry)
        # The process is gone: free what it will never acknowledge.
        with self._lock:
            for entry in self._in_flight.values():
                self._done(*entry)
            self._in_flight.clear()
            self._lock.notify_all()

    def _done(self, block, bounded):
        _release(block)
        if bounded:
            self._slots.release()

    def flush(self):
        """Waits until the writer has written every job submitted so far."""
        with self._lock:
            # The reader ends when the process exits; until then replies may come.
            while self._in_flight and self._reader.is_alive():
                self._lock.wait(timeout=1.0)
        if self._process.poll() is not None and self._process.returncode not in (0, None):
            raise WriterError("the iNNspector writer process exited with code %s" % self._process.returncode)

    def close(self):
        try:
            self.flush()
        finally:
            if not self._jobs.closed:
                self._jobs.close()  # EOF: the writer closes its files and exits
            self._process.wait(timeout=300)
            self._reader.join(timeout=10)
            self.errors.report()


def _pack(meta, arrays):
    """Copies meta (as JSON) and arrays into one shared-memory block; returns (block, layout)."""
    items = [(_META_KEY, np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))]
    items += [(key, np.asarray(value, order="C")) for key, value in arrays.items()]
    layout, offset = [], 0
    for key, value in items:
        layout.append([key, value.dtype.str, list(value.shape), offset])
        offset += -(-value.nbytes // _ALIGN) * _ALIGN
    block = shared_memory.SharedMemory(create=True, size=max(offset, _ALIGN))
    for (_, value), (_, _, _, start) in zip(items, layout, strict=True):
        target = np.ndarray(value.shape, dtype=value.dtype, buffer=block.buf, offset=start)
        target[...] = value
    return block, layout


def _release(block):
    try:
        block.close()
        block.unlink()
    except (FileNotFoundError, BufferError):
        pass


def _unpack(name, layout, owned_elsewhere=True):
    block = shared_memory.SharedMemory(name=name)
    if owned_elsewhere:
        # The parent owns the block and unlinks it; this process only reads, so
        # its resource tracker must not unlink it again at exit.
        try:
            from multiprocessing import resource_tracker

            # the private name ("/psm_...") is the one the tracker registered
            resource_tracker.unregister(block._name, "shared_memory")  # type: ignore[attr-defined]
        except Exception:
            pass
    try:
        arrays = {}
        for key, dtype, shape, offset in layout:
            array = np.ndarray(tuple(shape), dtype=np.dtype(dtype), buffer=block.buf, offset=offset)
            arrays[key] = array.copy()
        return arrays
    finally:
        block.close()


def _lowest_priority():
    """Lowest nice value: training gets the CPU first. (SCHED_IDLE starved the
    writer while TensorFlow kept both cores busy, and training then waited on it.)"""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    except (AttributeError, OSError):
        pass


def main(argv=None):
    """The writer process: reads job messages on stdin, writes, replies on stdout."""
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(argv[0])
    # Ctrl-C is for training: this process writes what it was sent and exits on end of input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lowest_priority()
    replies = sys.stdout
    sys.stdout = sys.stderr  # anything else printed must not corrupt the reply channel
    from innspector_tb.capture import log_jobs  # imports TensorFlow: after the priority is lowered

    log = log_jobs.RunLog(
        config["run_dir"],
        dtype=config["dtype"],
        histogram_bins=config["histogram_bins"],
        precision=config.get("precision", "rounded"),
        session=config.get("session"),
    )
    replying = True
    for line in sys.stdin:
        reply: dict[str, Any] = {"ok": True}
        started = time.process_time()
        try:
            message = json.loads(line)
            reply["id"] = message["id"]
            arrays = _unpack(message["shm"], message["layout"])
            meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
            log.execute(message["kind"], meta, arrays)
        except Exception as e:
            reply.update(ok=False, error="%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=5)))
        reply["cpu"] = time.process_time() - started
        if replying:
            try:
                replies.write(json.dumps(reply) + "\n")
                replies.flush()
            except OSError:  # training is gone: still write what was sent, then close the files
                replying = False
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
