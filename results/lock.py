"""One process per run: an exclusive lock file in the run's folder that works on a shared file system.

``robustperf run`` takes :class:`RunLock` on ``DIR/<run_id>/run.lock`` before it touches the record, the
checkpoints or the MLPerf log. A second process on the same run (a launch a second after another, a requeued job
racing its predecessor, a user retrying by hand) finds the lock held, prints who holds it and exits
:data:`EXIT_IN_FLIGHT` (75, ``EX_TEMPFAIL`` of sysexits.h: "try again later") at once, having changed nothing.
Launchers count that exit as "in flight", not as a failure.

The lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local file systems and on NFSv3+, Lustre and
GPFS), holding JSON ``{host, pid, start, token, created}``. The holder refreshes the file's mtime every
``heartbeat`` seconds from a daemon thread; the lock goes when the holder releases it (any exit path, signals
included, as the run's ``finally`` releases it). A lock left by a process that died without releasing it (SIGKILL,
a crashed node) is *stale*:

* same host: the pid is not alive, or it is alive but is another process (its start time differs: pid reuse);
* another host (its pids cannot be checked): the heartbeat is older than ``stale_after`` seconds
  (default 300 s, ten missed heartbeats at the default 30 s).

A stale lock is broken under a short-lived break lock (``run.lock.break``, itself ``O_EXCL``), re-checked there and
moved aside to ``run.lock.stale-<time>`` for the record, so two processes that both see a stale lock cannot both
take it. A lock file that cannot be parsed (torn by a crash between create and write) counts as stale once its
mtime is older than ``stale_after``.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from typing import Any, Dict, Optional

from recipes.files import open_regular
from robustperf_errors import UserError

__all__ = ["EXIT_IN_FLIGHT", "LOCK_FILE", "RunLock", "RunLocked", "lock_holder", "lock_is_stale"]

#: Exit code of ``robustperf run`` when another process holds the run's lock (sysexits.h EX_TEMPFAIL).
EXIT_IN_FLIGHT = 75
LOCK_FILE = "run.lock"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 300.0
#: a break lock older than this belongs to a breaker that died mid-break
_BREAK_STALE_SECONDS = 60.0


class RunLocked(UserError):
    """Another live process holds the run's lock; nothing was changed. Exit :data:`EXIT_IN_FLIGHT`."""

    exit_code = EXIT_IN_FLIGHT

    def __init__(self, path: str, holder: Dict[str, Any]):
        self.path = path
        self.holder = holder
        age = holder.get("heartbeat_age")
        beat = f", heartbeat {age:.0f} s ago" if isinstance(age, (int, float)) else ""
        super().__init__(
            f"{os.path.dirname(path)} is in flight: process {holder.get('pid', '?')} on {holder.get('host', '?')} "
            f"holds {path} (since {holder.get('created', '?')}{beat}); not starting a second copy (exit "
            f"{EXIT_IN_FLIGHT}). If that process is gone, the lock is taken over automatically once it is stale "
            f"(same host: the process is dead; another host: no heartbeat for {STALE_AFTER_SECONDS:.0f} s), or "
            f"remove {path} by hand when you are sure")


def _process_start(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except (OverflowError, ValueError):
        return False
    if start is not None:
        now = _process_start(pid)
        if now is not None and now != start:
            return False  # the pid was reused by another process
    return True


def lock_holder(path: str) -> Optional[Dict[str, Any]]:
    """The lock's content plus ``heartbeat_age`` (s), or None when there is no lock. A torn file gives ``{}``."""
    try:  # a FIFO or device is read as a torn lock, never waited on (recipes/files.py)
        with open_regular(path, "lock", error=OSError) as fh:
            raw = fh.read(4096)
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        holder = json.loads(raw.decode("utf-8"))
        if not isinstance(holder, dict):
            holder = {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        holder = {}
    holder["heartbeat_age"] = age
    return holder


def lock_is_stale(holder: Dict[str, Any], stale_after: float = STALE_AFTER_SECONDS,
                  host: Optional[str] = None) -> bool:
    """Whether the lock ``holder`` (:func:`lock_holder`) was left by a process that is gone: on ``host`` (default
    this one) its pid is dead or reused; elsewhere, or torn, no heartbeat for ``stale_after`` seconds."""
    age = holder.get("heartbeat_age", 0.0)
    pid, holder_host = holder.get("pid"), holder.get("host")
    if not isinstance(pid, int) or not isinstance(holder_host, str):
        return age > stale_after  # torn or foreign: give its writer time to finish
    if holder_host == (socket.gethostname() if host is None else host):
        return not _alive(pid, holder.get("start"))
    return age > stale_after


class RunLock:
    """The exclusive lock of one run folder (a context manager).

    Args:
        run_dir: the run's folder; the lock is ``run_dir/run.lock``.
        heartbeat: seconds between mtime refreshes by the holder.
        stale_after: a lock on another host without a heartbeat for this long is stale.

    Raises (from :meth:`acquire`):
        RunLocked: a live process holds the lock.
    """

    def __init__(self, run_dir: str, heartbeat: float = HEARTBEAT_SECONDS, stale_after: float = STALE_AFTER_SECONDS):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, LOCK_FILE)
        self.heartbeat = float(heartbeat)
        self.stale_after = float(stale_after)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.token = uuid.uuid4().hex
        self.broken: Optional[str] = None  # where a stale lock taken over was moved
        self._held = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ acquire / release

    def acquire(self) -> "RunLock":
        os.makedirs(self.run_dir, exist_ok=True)
        for _ in range(5):
            if self._create():
                self._held = True
                self._start_heartbeat()
                return self
            holder = lock_holder(self.path)
            if holder is None:
                continue  # released between our create and read: try again
            if not self._is_stale(holder):
                raise RunLocked(self.path, holder)
            self._break(holder)
        holder = lock_holder(self.path) or {}
        raise RunLocked(self.path, holder)

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._owns():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    # ------------------------------------------------------------------ internals

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        body = {"host": self.host, "pid": self.pid, "start": _process_start(self.pid), "token": self.token,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            os.write(fd, json.dumps(body).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _owns(self) -> bool:
        holder = lock_holder(self.path)
        return bool(holder) and holder.get("token") == self.token

    def _is_stale(self, holder: Dict[str, Any]) -> bool:
        return lock_is_stale(holder, self.stale_after, self.host)

    def _break(self, seen: Dict[str, Any]) -> None:
        """Move a stale lock aside, under the break lock so that only one process does it."""
        guard = self.path + ".break"
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - os.stat(guard).st_mtime > _BREAK_STALE_SECONDS:
                    os.unlink(guard)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
            return
        os.close(fd)
        try:
            holder = lock_holder(self.path)  # re-check under the guard: the same stale lock, still stale?
            if holder is None or holder.get("token") != seen.get("token") or not self._is_stale(holder):
                return
            aside = f"{self.path}.stale-{time.strftime('%Y%m%dT%H%M%S')}-{self.token[:8]}"
            try:
                os.rename(self.path, aside)
                self.broken = aside
            except FileNotFoundError:
                pass
        finally:
            try:
                os.unlink(guard)
            except FileNotFoundError:
                pass

    def _start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.heartbeat):
                if not self._owns():
                    return  # taken over (we were frozen past stale_after): never touch another's lock
                try:
                    os.utime(self.path)
                except OSError:
                    pass

        self._thread = threading.Thread(target=beat, name="robustperf-run-lock", daemon=True)
        self._thread.start()
