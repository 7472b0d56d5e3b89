"""Process-wide interpreter settings that keep light requests fast while heavy ones compute.

TensorBoard serves every request from threads of one Python process; a light request's latency is
mostly waiting for the interpreter lock. Two things hold it long, both measured with bench/load.py
on the demo logs (50 clients):

- a thread in Python code keeps the lock for the switch interval (5 ms by default) before offering
  it, once per socket read or write of the waiting request: light p95 276 ms at 1 ms against 334 ms
  at 5 ms;
- a full garbage collection walks every tracked object. TensorBoard's process has imported
  TensorFlow and Keras (and JAX, when installed) before any plugin loads: about 410,000 objects that
  live as long as the process, so under load a full collection ran every ~1.5 s and held the lock
  350 ms (p50) each time. Freezing them once (gc.freeze) leaves collections only the objects made
  after: see freeze_startup_heap. INNSPECTOR_GC_FREEZE=0 in TensorBoard's environment leaves the
  collector as it is.
"""

import gc
import os
import sys
import threading

# How often a thread holding the interpreter lock offers it to others (Python's default is 5 ms).
SWITCH_INTERVAL_SECONDS = 0.001

GC_FREEZE_ENV = "INNSPECTOR_GC_FREEZE"

_freeze_lock = threading.Lock()


def shorten_switch_interval(seconds=SWITCH_INTERVAL_SECONDS):
    """Sets Python's thread switch interval to `seconds` unless it is shorter already; returns it."""
    if sys.getswitchinterval() > seconds:
        sys.setswitchinterval(seconds)
    return sys.getswitchinterval()


def freeze_startup_heap():
    """Moves every object alive now out of the garbage collector's view, once per process.

    A collection first, so no garbage cycle made so far is frozen with them (frozen objects are still
    freed by reference counting; only cycles among them would stay). Objects made later, the loaded
    runs and the caches among them, are collected as usual. Returns how many objects are frozen.
    """
    if os.environ.get(GC_FREEZE_ENV, "1").strip() == "0":
        return gc.get_freeze_count()
    with _freeze_lock:
        if gc.get_freeze_count() == 0:
            gc.collect()
            gc.freeze()
        return gc.get_freeze_count()
