"""The background writer: bounded, ordered, survives a failing job."""

import threading
import time

from innspector_tb.capture.background import BackgroundWorker


def test_jobs_run_in_order_and_failures_do_not_stop_the_worker():
    worker = BackgroundWorker(max_pending=2)
    done = []
    worker.submit(done.append, 1)
    worker.submit(lambda: 1 / 0)
    worker.submit(done.append, 2)
    worker.flush()
    assert done == [1, 2]
    assert len(worker.errors) == 1 and "ZeroDivisionError" in worker.errors[0]
    worker.close()


def test_submit_blocks_when_the_queue_is_full():
    worker = BackgroundWorker(max_pending=1)
    gate = threading.Event()
    worker.submit(gate.wait)  # running
    worker.submit(lambda: None)  # waiting in the queue (full)
    submitted = threading.Event()
    threading.Thread(target=lambda: (worker.submit(lambda: None), submitted.set()), daemon=True).start()
    time.sleep(0.3)
    assert not submitted.is_set()  # training would wait rather than memory grow
    gate.set()
    assert submitted.wait(5)
    worker.flush()
    worker.close()


def _burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_worker_counts_the_cpu_seconds_of_its_jobs_not_their_waits():
    worker = BackgroundWorker(max_pending=2)
    worker.submit(_burn, 0.2)
    worker.submit(time.sleep, 0.5)  # waiting costs no CPU: a writer blocked on a slow disk does not slow training
    worker.flush()
    assert 0.19 <= worker.busy_seconds < 0.45, worker.busy_seconds
    worker.close()
