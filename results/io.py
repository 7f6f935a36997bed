"""Atomic file writes: a temporary file in the same folder, fsync, then rename over the target.

A reader (or a run killed mid-write) sees either the old file or the new one, never half of one.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable, IO


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: str, write: Callable[[IO[bytes]], None], durable: bool = True) -> None:
    """Write ``path`` atomically; ``write`` receives the open binary temp file.

    ``durable=False`` skips the two fsyncs (file and folder): readers still see the old file or the new one,
    never half of one, but a power cut may lose the write. Only for derived files that a command rewrites in
    bulk and can write again (the leaderboard's thousands of pages); records and logs stay durable.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            # mkstemp creates 0600; results on a cluster are shared with the group, as plain writes would be.
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(folder)


def atomic_write_bytes(path: str, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
