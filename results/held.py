"""The run folders whose lock this process holds, so that no write goes into one after the lock was lost.

A holder frozen for longer than the lock's stale period (a stopped job, a suspended VM, a hung file system) can
wake to find its lock taken over by a new process running the same run. From then on the folder is the new
holder's: :func:`check_held` (called by every atomic write and append of :mod:`results.io`) stops the old holder
at its next write with :class:`LockLost` (exit :data:`EXIT_IN_FLIGHT`), instead of letting two processes write
one run's record, checkpoints and logs. An atomic write (records, checkpoints: rare) re-reads the lock first; an
append (a log line: frequent) trusts the heartbeat's last look.
"""
from __future__ import annotations

import os
import threading
from typing import Dict, Optional, Protocol

from robustperf_errors import UserError

#: Exit code of ``robustperf run`` when another process holds the run's lock (sysexits.h EX_TEMPFAIL).
EXIT_IN_FLIGHT = 75


class _Held(Protocol):
    lost: Optional[str]

    def verify(self) -> Optional[str]: ...


class LockLost(UserError):
    """This process held a run folder's lock and lost it (taken over or removed): it writes nothing more there."""

    exit_code = EXIT_IN_FLIGHT

    def __init__(self, path: str, why: str):
        self.path = path
        super().__init__(f"{path}: not written: {why}; this process stops (exit {EXIT_IN_FLIGHT}) and leaves the "
                         f"run to the process that holds its lock now")


_HELD: Dict[str, _Held] = {}
_GUARD = threading.Lock()


def hold(folder: str, lock: _Held) -> None:
    with _GUARD:
        _HELD[os.path.abspath(folder)] = lock


def release(folder: str, lock: _Held) -> None:
    with _GUARD:
        if _HELD.get(os.path.abspath(folder)) is lock:
            del _HELD[os.path.abspath(folder)]


def check_held(path: str, fresh: bool) -> None:
    """Raise :class:`LockLost` when ``path`` lies in a folder whose lock this process held and has lost.

    ``fresh``: look at the lock file now (one small read), not only at what the heartbeat last saw."""
    if not _HELD:
        return
    path = os.path.abspath(path)
    with _GUARD:
        held = [(folder, lock) for folder, lock in _HELD.items() if path.startswith(folder + os.sep)]
    for _, lock in held:
        why = lock.verify() if fresh else lock.lost
        if why:
            raise LockLost(path, why)
