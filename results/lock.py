"""One process per run: an exclusive lock file in the run's folder that works on a shared file system.

``robustperf run`` takes :class:`RunLock` on ``DIR/<run_id>/run.lock`` before it touches the record, the
checkpoints or the MLPerf log (``evaluate`` and ``infer`` take it too; ``tune`` takes one on its study,
``_tune/<name>/driver.lock``). A second process on the same run (a launch a second after another, a requeued job
racing its predecessor, a user retrying by hand) finds the lock held, prints who holds it and exits
:data:`EXIT_IN_FLIGHT` (75, ``EX_TEMPFAIL`` of sysexits.h: "try again later") at once, having changed nothing.
Launchers count that exit as "in flight", not as a failure.

The lock file is written whole, then published: its JSON (:mod:`results.holder`: host, boot id, pid namespace,
pid, start time, token, creation time) goes to a temporary file of the taker's own, which is fsynced and then
hard-linked to ``run.lock``. ``link`` fails when the name exists (atomic on local file systems and on NFS, where
a retried LINK whose reply was lost is recognised by the link count, Lustre and GPFS), so a lock is never seen
half written, and a write that fails (a full disk) leaves no lock behind. On a file system without hard links
the lock is created with ``O_CREAT | O_EXCL`` and written in place, and removed again when the write fails.

The holder refreshes the file's mtime every ``heartbeat`` seconds from a daemon thread that no single failure
ends (a read that fails, as NFS may for a moment, is tried again at the next beat; only a lock that is gone or
another's stops it, recorded in :attr:`RunLock.lost`); the lock goes when the holder releases it (any exit path,
signals included, as the run's ``finally`` releases it; never from a forked child). A lock left by a process that
died without releasing it (SIGKILL, a crashed node) is *stale* by the rule of :func:`results.holder.lock_verdict`:
on this machine its process is gone, a zombie or another process; elsewhere, no heartbeat for ``stale_after``
seconds (default 300 s, ten missed heartbeats at the default 30 s); an unreadable lock (empty, torn, garbage)
once it is older than the heartbeat period.

A stale lock is broken under a short-lived break lock (``run.lock.break``, taken and judged the same way),
re-checked there and moved aside to ``run.lock.stale-<time>`` for the record (and given back when what was moved
turns out to be another's new lock), so two processes that both see a stale lock cannot both take it.
"""
from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from typing import Any, Dict, Optional, Tuple

from robustperf_errors import UserError

from . import held
from .held import EXIT_IN_FLIGHT, LockLost
from .holder import Verdict, lock_holder, lock_verdict, machine, process_start, shown

__all__ = ["EXIT_IN_FLIGHT", "HEARTBEAT_SECONDS", "LOCK_FILE", "STALE_AFTER_SECONDS", "LockLost", "RunLock",
           "RunLocked",
           "lock_holder", "lock_is_stale", "lock_verdict", "shown"]

LOCK_FILE = "run.lock"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 300.0
#: a break lock whose holder cannot be checked is stale after this long (a breaker that died mid-break)
_BREAK_STALE_SECONDS = 60.0
#: errors of ``link`` that mean "this file system has no hard links": create the lock in place instead
_NO_HARD_LINKS = {errno.EPERM, errno.ENOSYS, errno.EXDEV, errno.EMLINK, errno.EOPNOTSUPP,
                  getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


class RunLocked(UserError):
    """Another live process holds the lock (or may be writing it); nothing was changed. Exit :data:`EXIT_IN_FLIGHT`."""

    exit_code = EXIT_IN_FLIGHT

    def __init__(self, path: str, holder: Dict[str, Any], why: Optional[str] = None, subject: Optional[str] = None,
                 second: str = "a second copy"):
        self.path = path
        self.holder = holder
        self.why = why
        subject = subject or os.path.dirname(path)
        if "unreadable" in holder:
            super().__init__(
                f"{subject} may be in flight: {path} is {why or 'unreadable'}; not starting {second} (exit "
                f"{EXIT_IN_FLIGHT}): run the same command again then, or remove {path} by hand when you are sure "
                "that no process is starting")
            return
        age = holder.get("heartbeat_age")
        beat = f", heartbeat {max(age, 0):.0f} s ago" if isinstance(age, (int, float)) else ""
        if why and "heartbeat" in why:  # a holder judged by its heartbeat: say why it cannot be checked from here
            beat = f"; {why}"
        super().__init__(
            f"{subject} is in flight: process {shown(holder.get('pid', '?'))} on {shown(holder.get('host', '?'))} "
            f"holds {path} (since {shown(holder.get('created', '?'))}{beat}); not starting {second} (exit "
            f"{EXIT_IN_FLIGHT}). If that process is gone, the lock is taken over automatically once it is stale "
            f"(same host: the process is dead or a zombie; another host: no heartbeat for {STALE_AFTER_SECONDS:.0f} "
            f"s), or remove {path} by hand when you are sure")


def lock_is_stale(holder: Dict[str, Any], stale_after: float = STALE_AFTER_SECONDS,
                  grace: float = HEARTBEAT_SECONDS, here: Optional[Dict[str, Optional[str]]] = None) -> bool:
    """Whether the lock ``holder`` (:func:`lock_holder`) was left by a process that is gone (the rule of
    :func:`results.holder.lock_verdict`: on this machine its process is dead, a zombie or another process;
    elsewhere no heartbeat for ``stale_after`` seconds; unreadable and older than ``grace`` seconds)."""
    return lock_verdict(holder, stale_after, grace, here).stale


class RunLock:
    """The exclusive lock of one run folder (a context manager).

    Args:
        run_dir: the run's folder; the lock is ``run_dir/run.lock``.
        heartbeat: seconds between mtime refreshes by the holder (also how long an unreadable lock is given).
        stale_after: a lock on another host without a heartbeat for this long is stale.
        name: the lock file's name in ``run_dir`` (``tune`` locks its study with ``driver.lock``).
        subject: what the lock guards, for the message (default ``run_dir``).
        second: what a refused process is, for the message (default "a second copy").

    Raises (from :meth:`acquire`):
        RunLocked: a live process holds the lock.
        OSError: the lock cannot be written (a full disk); its ``filename`` is the lock, and nothing is left behind.
    """

    def __init__(self, run_dir: str, heartbeat: float = HEARTBEAT_SECONDS, stale_after: float = STALE_AFTER_SECONDS,
                 *, name: str = LOCK_FILE, subject: Optional[str] = None, second: str = "a second copy"):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, name)
        self.subject = subject
        self.second = second
        self.heartbeat = float(heartbeat)
        self.stale_after = float(stale_after)
        self.here = machine()
        self.host = self.here["host"]
        self.pid = os.getpid()
        self.token = uuid.uuid4().hex
        self.broken: Optional[str] = None  # where a stale lock taken over was moved
        self.lost: Optional[str] = None  # set by the heartbeat when the lock was taken over or removed while held
        self._held = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ acquire / release

    def acquire(self) -> "RunLock":
        os.makedirs(self.run_dir, exist_ok=True)
        holder: Dict[str, Any] = {}
        verdict: Optional[Verdict] = None
        for _ in range(5):
            created, fs_now = self._create(self.path)
            if created:
                self._held = True
                held.hold(self.run_dir, self)  # a write into the folder after the lock is lost stops (LockLost)
                self._start_heartbeat()
                return self
            holder = lock_holder(self.path, now=fs_now) or {}
            if not holder:
                continue  # released between our create and read: try again
            verdict = self._verdict(holder)
            if not verdict.stale:
                raise RunLocked(self.path, holder, verdict.why, self.subject, self.second)
            self._break(holder, fs_now)
        raise RunLocked(self.path, holder, verdict.why if verdict else None, self.subject, self.second)

    def release(self) -> None:
        if not self._held or os.getpid() != self.pid:
            return  # not taken, or a forked child's copy: only the taker releases
        self._held = False
        held.release(self.run_dir, self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._ownership():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def verify(self) -> Optional[str]:
        """Why this process no longer holds the lock (taken over or removed), looking at the file now; None while
        it holds it (or the file cannot be read just now)."""
        if self.lost is None and self._held and self._ownership() is False:
            self.lost = f"{self.path} was taken over or removed while this process held it"
        return self.lost

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    # ------------------------------------------------------------------ internals

    def _body(self) -> bytes:
        body = {**self.here, "pid": self.pid, "start": process_start(self.pid), "token": self.token,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        return json.dumps(body).encode("utf-8")

    def _create(self, path: str) -> Tuple[bool, float]:
        """Publish a complete lock file at ``path``: whether we now hold it, and the file system's clock."""
        body = self._body()
        tmp = f"{path}.new-{self.token[:12]}"
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                _write_all(fd, body)
                os.fsync(fd)
                fs_now = os.fstat(fd).st_mtime
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
                return True, fs_now
            except FileExistsError:
                # NFS: a LINK retried after its reply was lost reports EEXIST though it succeeded
                return (os.stat(tmp).st_nlink > 1
                        and (lock_holder(path, fs_now) or {}).get("token") == self.token), fs_now
            except OSError as err:
                if err.errno not in _NO_HARD_LINKS:
                    raise
            return self._create_in_place(path, body), fs_now
        except OSError as err:
            if err.filename == path:
                raise
            raise OSError(err.errno, f"cannot write the lock: {err.strerror}", path) from None
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    @staticmethod
    def _create_in_place(path: str, body: bytes) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            return False
        try:
            try:
                _write_all(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            os.unlink(path)  # never leave a torn lock behind (a full disk)
            if err.filename is None:  # os.write names no file: a full disk must say where
                raise OSError(err.errno, err.strerror, path) from None
            raise
        return True

    def _ownership(self) -> Optional[bool]:
        """True: the lock is ours; False: it is gone or another's; None: it cannot be read just now."""
        holder = lock_holder(self.path)
        if holder is None:
            return False
        if holder.get("transient"):
            return None
        return holder.get("token") == self.token

    def _verdict(self, holder: Dict[str, Any]) -> Verdict:
        return lock_verdict(holder, self.stale_after, self.heartbeat, self.here)

    def _break(self, seen: Dict[str, Any], fs_now: float) -> None:
        """Move a stale lock aside, under the break lock so that only one process does it."""
        guard = self.path + ".break"
        taken, fs_now = self._create(guard)
        if not taken:
            holder = lock_holder(guard, now=fs_now)
            if holder is not None and lock_verdict(holder, _BREAK_STALE_SECONDS, self.heartbeat, self.here).stale:
                aside = f"{guard}.stale-{self.token[:8]}"
                if _move_aside(guard, holder, aside):
                    _unlink(aside)  # its breaker died mid-break: the break lock is dropped
            time.sleep(0.05)
            return
        try:
            holder = lock_holder(self.path, now=fs_now)  # re-check under the guard: the same stale lock, still stale?
            if holder is None or holder.get("token") != seen.get("token") or not self._verdict(holder).stale:
                return
            aside = f"{self.path}.stale-{time.strftime('%Y%m%dT%H%M%S')}-{self.token[:8]}"
            if _move_aside(self.path, holder, aside):
                self.broken = aside
        finally:
            _unlink(guard)

    def _start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.heartbeat):
                try:
                    owned = self._ownership()
                    if owned is False:
                        # taken over (we were frozen past stale_after) or removed: never touch another's lock
                        self.lost = f"{self.path} was taken over or removed while this process held it"
                        return
                    if owned:
                        os.utime(self.path)
                except Exception:  # noqa: BLE001 - one failed beat (NFS, EIO) must not end the heartbeat
                    continue

        self._thread = threading.Thread(target=beat, name="robustperf-run-lock", daemon=True)
        self._thread.start()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _move_aside(path: str, seen: Dict[str, Any], aside: str) -> bool:
    """Rename the lock ``seen`` at ``path`` to ``aside``; when what moved is another lock (taken between our read
    and the rename), give it back. Whether the lock ``seen`` was moved."""
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    moved = lock_holder(aside) or {}
    if moved.get("token") == seen.get("token") and ("unreadable" in moved) == ("unreadable" in seen):
        return True
    try:
        os.link(aside, path)  # fails when a third process took the name meanwhile: that one holds it then
        os.unlink(aside)
    except OSError:
        pass
    return False
