"""A bounded cache for the answers of the run store: an LRU bounded by estimated bytes."""

import collections
import threading

import numpy as np


class ByteBudgetCache:
    """An LRU cache bounded by the (estimated) bytes of its values; thread-safe."""

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._items = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        return None

    def put(self, key, value):
        size = _estimate_bytes(value)
        if size > self.max_bytes // 4:
            return value  # too big to keep: it would evict everything else
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, (_, old_size) = self._items.popitem(last=False)
                self._bytes -= old_size
        return value


def _estimate_bytes(value, depth=0):
    if isinstance(value, np.ndarray):
        return value.nbytes + 100
    if depth > 4:
        return 100
    if isinstance(value, dict):
        return 100 + sum(_estimate_bytes(k, depth + 1) + _estimate_bytes(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 60 + sum(_estimate_bytes(v, depth + 1) for v in value)
    if isinstance(value, str):
        return 50 + len(value)
    return 32
