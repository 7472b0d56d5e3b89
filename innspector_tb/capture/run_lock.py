"""One writer per run directory: the lock file `<run>/innspector/writer.lock`.

Two training processes logging into one run would interleave their steps in the same files. The
callback takes the lock at train begin and gives it back at train end (and at interpreter exit, for a
training interrupted before `on_train_end`). The file holds JSON: `pid`, `host`, `started` (Unix time)
and `session`, so a refusal can say who holds the run.

A lock whose process is gone is stale and taken over with a warning: same host and `pid` not running,
or `pid` now running a process started after the lock was written (the pid was reused). A lock held
by another host cannot be checked: it is refused, and the message says to delete the file if that
process is gone.

Local run directories are locked atomically (`O_CREAT | O_EXCL`; a stale lock is renamed away first,
so of two processes taking it over one wins). Remote ones (s3://, gs://, ...) go through `fs`, which
has no exclusive create: the lock is written after checking that none exists, so two writers starting
within the same moment can both get it; it still refuses a writer that starts while another runs.
"""

import atexit
import json
import logging
import os
import socket
import time
import uuid
import weakref

from innspector_tb import errors, fs
from innspector_tb.format import step_files

logger = logging.getLogger("innspector_tb")

# A lock file that cannot be parsed is being written right now, unless it is older than this.
_UNREADABLE_GRACE_SECONDS = 10.0

# The locks this process holds, by path: a second callback of this process on the same run is refused
# only while the first one's lock object is alive.
_held: "weakref.WeakValueDictionary[str, RunLock]" = weakref.WeakValueDictionary()


class RunLockedError(errors.ConfigurationError):
    """Another process (or another callback of this process) is logging into the run directory."""


class RunLock:
    """The writer lock of one run directory, for one logging session."""

    def __init__(self, run_dir: str, session: str) -> None:
        self.run_dir = run_dir
        self.session = session
        self.path = fs.join(run_dir, step_files.LOCK_FILE)
        self.held = False

    def acquire(self) -> None:
        """Takes the lock, or raises RunLockedError saying who holds it. Taking it twice is a no-op."""
        if self.held:
            return
        fs.makedirs(fs.join(self.run_dir, step_files.STEP_FILES_DIR))
        record = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "session": self.session}
        )
        for _ in range(5):  # a lost race for a stale lock starts over
            if self._try_create(record):
                self.held = True
                _held[self.path] = self
                atexit.register(self.release)
                return
            holder = self._read()
            if holder is not None and holder.get("session") == self.session:
                self.held = True  # written by this session (an earlier acquire that lost track)
                _held[self.path] = self
                atexit.register(self.release)
                return
            reason = self._stale_reason(holder)
            if reason is None:
                raise RunLockedError(self._refusal(holder))
            logger.warning("iNNspector: taking over the lock of %s: %s", self.run_dir, reason)
            self._remove_stale()
        raise RunLockedError("cannot take the lock %s: other processes keep taking it" % self.path)

    def release(self) -> None:
        """Gives the lock back (removes the file if it is still this session's)."""
        if not self.held:
            return
        self.held = False
        atexit.unregister(self.release)
        if _held.get(self.path) is self:
            del _held[self.path]
        holder = self._read()
        if holder is not None and holder.get("session") == self.session:
            try:
                fs.remove(self.path)
            except OSError as e:
                logger.warning("iNNspector: cannot remove the lock %s: %s", self.path, e)

    # The file.

    def _try_create(self, record: str) -> bool:
        if fs.is_local(self.path):
            try:
                fd = os.open(fs.local_path(self.path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(record)
            return True
        if fs.exists(self.path):
            return False
        fs.write_bytes(self.path, record.encode("utf-8"))
        return True

    def _read(self) -> dict | None:
        """The holder's record; None if the file is gone or not a lock record."""
        try:
            with fs.open_read(self.path) as f:
                holder = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def _remove_stale(self) -> None:
        if fs.is_local(self.path):
            # Renamed before removal: of two processes taking over, only one rename succeeds.
            aside = fs.local_path(self.path) + step_files.TEMP_MARK + uuid.uuid4().hex[:8]
            try:
                os.rename(fs.local_path(self.path), aside)
            except FileNotFoundError:
                return
            os.remove(aside)
            return
        try:
            fs.remove(self.path)
        except OSError:
            pass

    # Who holds it.

    def _stale_reason(self, holder: dict | None) -> str | None:
        """Why the lock held by `holder` may be taken over, or None if its writer may still run."""
        if holder is None:
            age = _age_seconds(self.path)
            if age is None:
                return "the lock file disappeared"
            if age > _UNREADABLE_GRACE_SECONDS:
                return "the lock file is not a lock record"
            return None
        pid, host = holder.get("pid"), holder.get("host")
        if host != socket.gethostname() or not isinstance(pid, int):
            return None  # another machine's process cannot be checked from here
        if pid == os.getpid():
            other = _held.get(self.path)
            if other is not None and other.held and other is not self:
                return None
            return "it was left by an earlier logging session of this process"
        if not _running(pid):
            return "process %d (started %s) is not running" % (pid, _when(holder.get("started")))
        started = _process_start_time(pid)
        lock_time = holder.get("started")
        if started is not None and isinstance(lock_time, (int, float)) and started > lock_time + 1.0:
            return "process %d is not the one that wrote it (its pid was reused)" % pid
        return None

    def _refusal(self, holder: dict | None) -> str:
        if holder is None:
            who = "a process that is writing the lock file now"
        elif holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            who = (
                "another InnspectorCallback of this process (call its close(), or let its fit() end, "
                "before logging into the same run again)"
            )
        else:
            who = "process %s on host %s, since %s" % (
                holder.get("pid"),
                holder.get("host"),
                _when(holder.get("started")),
            )
        return (
            "iNNspector: the run directory %s is being logged by %s. Two writers would mix their steps; "
            "log this training into another run directory. If that process is gone, delete %s."
            % (self.run_dir, who, self.path)
        )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _process_start_time(pid: int) -> float | None:
    """When a process started (Unix time), from /proc (Linux); None where that cannot be read."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat(5): start time in clock ticks after boot
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _age_seconds(path: str) -> float | None:
    if not fs.is_local(path):
        return _UNREADABLE_GRACE_SECONDS + 1 if fs.exists(path) else None
    try:
        return time.time() - os.stat(fs.local_path(path)).st_mtime
    except OSError:
        return None


def _when(started) -> str:
    if not isinstance(started, (int, float)):
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
