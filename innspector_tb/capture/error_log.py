"""Failed log jobs, recorded within a fixed size: the first few as text, and how many there were.

A disk that is full stays full: every later step fails the same way. Keeping each exception would keep
its traceback, whose frames hold the failed job's arrays (a whole step's weights and activations), so
memory would grow with every failure. Only formatted text is kept, of the first `keep` failures.
"""

import logging
import threading
import traceback

logger = logging.getLogger("innspector_tb")

KEEP = 10  # failures kept (and logged with their traceback); later ones are only counted


def describe(error: BaseException, limit: int = 5) -> str:
    """An exception as text: type, message and the innermost frames of its traceback."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=limit)).rstrip()


class ErrorLog:
    """The failures of one writer: `len()` counts them all, indexing and iteration give the first `keep`."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.count = 0
        self.first: list[str] = []
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        """Records one failure; logs the first `keep` in full and says once that later ones are only counted."""
        with self._lock:
            self.count += 1
            count = self.count
            if count <= self.keep:
                self.first.append(text)
        if count <= self.keep:
            logger.warning("iNNspector: writing logs failed: %s", text)
        if count == self.keep:
            logger.warning("iNNspector: %d log writes failed; further failures are counted, not logged", count)

    def report(self) -> None:
        """Says how many jobs failed in all, when some were not logged one by one."""
        if self.count > self.keep:
            logger.warning(
                "iNNspector: %d log writes failed in all (the first %d were logged); first: %s",
                self.count,
                self.keep,
                self.first[0].splitlines()[-1] if self.first else "",
            )

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __getitem__(self, index: int) -> str:
        return self.first[index]

    def __iter__(self):
        return iter(list(self.first))
