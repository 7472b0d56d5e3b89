"""A bounded background worker, so serialising and writing logs never stalls training.

The training thread hands over copies of the arrays; the worker computes
statistics, compresses and writes. The queue is bounded: if the disk is slower
than training, the training thread waits rather than memory growing.
"""

import logging
import os
import queue
import threading
import time

from innspector_tb.capture import error_log

logger = logging.getLogger("innspector_tb")

_STOP = object()


class BackgroundWorker:
    def __init__(self, max_pending=2, name="innspector-writer"):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(max_pending)))
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.errors = error_log.ErrorLog()  # bounded: a full disk fails every job
        # CPU seconds the jobs took: the callback counts them in a logged step's cost (step_pacing.py).
        self.busy_seconds = 0.0

    def submit(self, fn, *args, **kwargs):
        """Queues fn(*args, **kwargs); blocks while max_pending jobs wait."""
        if not self._thread.is_alive():
            raise RuntimeError("background writer is closed")
        self._queue.put((fn, args, kwargs))

    def _run(self):
        _lower_priority()
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                fn, args, kwargs = job
                started = time.thread_time()
                try:
                    fn(*args, **kwargs)
                except Exception as e:  # keep training alive; record the failure as text only
                    self.errors.add(error_log.describe(e))
                self.busy_seconds += time.thread_time() - started
            finally:
                # Nothing of a done job stays referenced while the worker waits for the next one.
                job = fn = args = kwargs = None
                self._queue.task_done()

    def flush(self):
        """Waits until every queued job is done."""
        self._queue.join()

    def close(self):
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()


def _lower_priority(increment=19):
    """Makes this thread yield the CPU to training threads (Linux: per-thread nice value)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (AttributeError, OSError):
        pass  # not Linux, or not permitted: run at normal priority
