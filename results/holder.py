"""Who holds a lock file of :mod:`results.lock`, and whether that holder is still there (the stale rule).

A lock file is a small JSON object ``{host, boot, pidns, pid, start, token, created}``: the holder's host name,
the kernel's boot id (``/proc/sys/kernel/random/boot_id``), its pid namespace (``/proc/self/ns/pid``), its pid
and start time (field 22 of ``/proc/<pid>/stat``, clock ticks since boot), a random token and the creation
time. :func:`lock_holder` reads one without ever blocking or following a link (a FIFO, a device, a directory or a
symbolic link is not a lock), at most :data:`MAX_LOCK_BYTES`; anything that is not such an object, with a host
name and a pid in range, is *unreadable* (an empty or torn file, garbage, a lock of another program).

:func:`lock_verdict` applies the stale rule:

* the holder runs on this machine (same host name, boot id and pid namespace; a field an older lock lacks counts
  as the same): it is stale when the process is gone, a zombie (killed, not yet reaped: it still answers
  ``kill(pid, 0)``), or another process (its start time differs: the pid was reused). When the process cannot
  be identified (the lock has no start time, or ``/proc`` does not show the process), the heartbeat decides, as
  for another host;
* another host, boot or pid namespace (its processes cannot be checked from here): stale once its heartbeat
  (the file's mtime) is older than ``stale_after`` seconds, or lies more than that in the future (a clock that
  moved, or an mtime set by hand);
* an unreadable lock is stale unless its file is younger than ``grace`` seconds (the heartbeat period): a
  writer that is not atomic (another tool, an older robustperf) may still be writing it.

Ages are measured against ``now`` when the caller knows the file system's clock (the mtime of a file it has just
written there, as :class:`results.lock.RunLock` does), so a shared file system's clock and this host's may differ.
"""
from __future__ import annotations

import errno
import json
import os
import platform
import socket
import stat
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

__all__ = ["MAX_LOCK_BYTES", "PID_MAX", "Verdict", "lock_holder", "lock_verdict", "machine", "process_start",
           "shown"]

#: a lock file is a few hundred bytes; a larger file is not a lock, and only this much of it is ever read
MAX_LOCK_BYTES = 4096
#: Linux's PID_MAX_LIMIT: no process has a larger pid (nor 0, nor a negative one: kill() would signal a group)
PID_MAX = 4_194_304
_OPTIONAL_TEXT = ("start", "boot", "pidns", "token", "created")
#: keys :func:`lock_holder` adds; a file's own keys of these names are dropped
_DERIVED = ("heartbeat_age", "size", "unreadable", "transient")


def cpu_model() -> Optional[str]:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``); None if unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read(256).decode("ascii", "replace").strip() or None
    except OSError:
        return None


def _pidns() -> Optional[str]:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def machine() -> Dict[str, Optional[str]]:
    """This process's machine as a lock records it: ``host``, ``boot`` (boot id) and ``pidns``."""
    return {"host": socket.gethostname(), "boot": _read_text("/proc/sys/kernel/random/boot_id"), "pidns": _pidns()}


def _proc_stat(pid: int) -> Optional[Tuple[str, str]]:
    """``(state, start)`` of a process from ``/proc/<pid>/stat`` (Linux), or None when it shows no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read(4096).decode("ascii", "replace")
        fields = text[text.rindex(")") + 2:].split()
        return fields[0], fields[19]  # field 3 (state) and field 22 (start time, clock ticks since boot)
    except (OSError, ValueError, IndexError):
        return None


def process_start(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart; None elsewhere."""
    found = _proc_stat(pid)
    return found[1] if found else None


@dataclass(frozen=True)
class Verdict:
    """Whether a lock is stale, and why, in words for a message (``"process 12 is a zombie (...)"``)."""

    stale: bool
    why: str


def lock_holder(path: str, now: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """The lock's content plus ``heartbeat_age`` (seconds since its mtime, by ``now``, default this host's clock)
    and ``size``; None when there is no lock. A file that is not a lock has ``unreadable`` (why, in words)
    instead of its content, and ``transient`` when reading it failed (an I/O error, worth another try)."""
    fd = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0))
        info = os.fstat(fd)
        raw = os.read(fd, MAX_LOCK_BYTES + 1) if stat.S_ISREG(info.st_mode) else b""
    except FileNotFoundError:
        return None
    except OSError as err:
        return _unreadable_entry(path, now, err)
    finally:
        if fd is not None:
            os.close(fd)
    out: Dict[str, Any] = {"heartbeat_age": (time.time() if now is None else now) - info.st_mtime,
                           "size": info.st_size}
    if not stat.S_ISREG(info.st_mode):
        out["unreadable"] = "not a regular file"
    elif len(raw) > MAX_LOCK_BYTES or info.st_size > MAX_LOCK_BYTES:
        out["unreadable"] = f"{info.st_size:,} bytes, larger than any lock"
    else:
        body, problem = _parse(raw)
        if problem:
            out["unreadable"] = f"{len(raw)} bytes" + ("" if not raw else f", {problem}")
        else:
            out = {**{k: v for k, v in body.items() if k not in _DERIVED}, **out}
    return out


def _unreadable_entry(path: str, now: Optional[float], err: OSError) -> Optional[Dict[str, Any]]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        info = None
    age = (time.time() if now is None else now) - info.st_mtime if info else 0.0
    if info is not None and stat.S_ISLNK(info.st_mode):
        return {"heartbeat_age": age, "size": info.st_size, "unreadable": "a symbolic link"}
    transient = err.errno not in (errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENXIO, errno.EISDIR)
    return {"heartbeat_age": age, "size": info.st_size if info else 0, "transient": transient,
            "unreadable": f"cannot be read: {err.strerror or err}"}


def _parse(raw: bytes) -> Tuple[Dict[str, Any], Optional[str]]:
    if not raw.strip():
        return {}, "empty"
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}, "torn or not JSON"
    if not isinstance(body, dict):
        return {}, "not a lock (not a JSON object)"
    host, pid = body.get("host"), body.get("pid")
    if not isinstance(host, str) or not host or len(host) > 255:
        return {}, "not a lock (no host name)"
    if type(pid) is not int or not 0 < pid <= PID_MAX:  # noqa: E721 - True is an int, but no pid
        return {}, "not a lock (no process id)"
    for key in _OPTIONAL_TEXT:
        if key in body and body[key] is not None and not isinstance(body[key], str):
            return {}, f"not a lock ({key} is not text)"
    return body, None


def shown(value: Any, width: int = 80) -> str:
    """A lock file's field for a one-line message: printable, at most ``width`` characters."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= width else text[:width - 3] + "..."


def _fresh(age: float, window: float) -> bool:
    return -window <= age <= window


def _heartbeat(holder: Dict[str, Any], stale_after: float, where: str) -> Verdict:
    age = float(holder.get("heartbeat_age", 0.0))
    if age < -stale_after:
        return Verdict(True, f"{where}: its heartbeat lies {-age:.0f} s in the future (a clock that moved, or an "
                             f"mtime set by hand)")
    if age > stale_after:
        return Verdict(True, f"{where}: no heartbeat for {age:.0f} s (stale after {stale_after:.0f} s)")
    return Verdict(False, f"{where}, judged by its heartbeat: {max(age, 0.0):.0f} s ago, stale after "
                          f"{stale_after:.0f} s without one")


def _differs(holder: Dict[str, Any], here: Dict[str, Optional[str]], key: str) -> bool:
    return holder.get(key) is not None and here.get(key) is not None and holder[key] != here[key]


def lock_verdict(holder: Dict[str, Any], stale_after: float, grace: float,
                 here: Optional[Dict[str, Optional[str]]] = None) -> Verdict:
    """The stale rule (see the module doc) for a ``holder`` read by :func:`lock_holder`.

    Args:
        holder: the lock as :func:`lock_holder` read it.
        stale_after: seconds without a heartbeat after which a holder that cannot be checked is gone.
        grace: seconds an unreadable lock is given (its writer may still be writing it): the heartbeat period.
        here: this machine (:func:`machine`); tests may pass another.
    """
    age = float(holder.get("heartbeat_age", 0.0))
    if "unreadable" in holder:
        what = f"unreadable ({holder['unreadable']}, written {max(age, 0.0):.0f} s ago)"
        if _fresh(age, grace):
            return Verdict(False, f"{what}: treated as in flight for {grace - max(age, 0.0):.0f} s more, then "
                                  "as stale")
        return Verdict(True, f"{what}: stale")
    here = machine() if here is None else here
    pid, host = holder["pid"], holder["host"]
    if host != here["host"]:
        return _heartbeat(holder, stale_after, "another host")
    for key, what in (("boot", "another boot of this host name (or another machine of that name)"),
                      ("pidns", "another pid namespace (a container)")):
        if _differs(holder, here, key):
            return _heartbeat(holder, stale_after, what)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Verdict(True, f"process {pid} is gone")
    except PermissionError:
        pass  # alive, another user's: its /proc entry says which process it is
    except (OverflowError, ValueError, OSError):
        return Verdict(True, f"process {pid} is gone")
    found = _proc_stat(pid)
    if found is not None and found[0] in ("Z", "X"):
        return Verdict(True, f"process {pid} is a zombie (killed, not yet reaped by its parent)")
    start = holder.get("start")
    if found is None or start is None:
        return _heartbeat(holder, stale_after, f"process {pid} cannot be identified here (no start time)")
    if found[1] != start:
        return Verdict(True, f"pid {pid} now belongs to another process (its start time differs)")
    return Verdict(False, f"process {pid} is alive")
