"""Safe file writes: atomic, never through a symbolic link, only inside the folder they were given.

* :func:`atomic_write` (and ``_bytes``/``_text``): a temporary file in the same folder, fsync, then rename over
  the target. A reader (or a run killed mid-write) sees either the old file or the new one, never half of one.
* :func:`open_append`: a log opened for appending (``train.log``, ``mllog.txt``, a launch's task logs).
* :func:`make_folder`: a folder created (as needed) below a root.

No write follows a symbolic link: a destination that is one (or a FIFO, a device) is refused with
:class:`UnsafePathError` naming it (exit 2), and so is every folder between ``root`` (the results folder, the run
folder, the study folder: what the command was given, followed once as the user named it) and the file. The
folders are walked one by one with ``O_NOFOLLOW`` from an open descriptor of the root, so a link swapped in during
the walk is refused too. A write the file system refuses (disk full, read-only) raises an ``OSError`` that names
the file, so the one line the CLI prints says where.
"""
from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import secrets
import stat
import sys
from typing import IO, Callable, Iterable, List, Optional

from robustperf_errors import UserError

from .held import check_held

__all__ = ["UnsafePathError", "atomic_write", "atomic_write_bytes", "atomic_write_text", "open_append",
           "AppendHandler", "make_folder", "links_in", "refuse_links"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_FOLDER_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
#: why a symbolic link is refused, and what to do about it
LINK_HINT = ("robustperf never writes through a symbolic link: replace the link by the file or folder itself (or "
             "remove it) and run again")


class UnsafePathError(UserError):
    """A write refused because its path is a symbolic link, not a regular file, or outside its folder."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _named(err: OSError, path: str) -> OSError:
    """``err`` with ``path`` as its file name when the system gave none (``os.write``, ``fsync``, ``close``)."""
    if err.filename is not None:
        return err
    named = OSError(err.errno, err.strerror or os.strerror(err.errno or 0), path)
    named.__cause__ = err
    return named


def _link_error(path: str, kind: str = "a symbolic link") -> UnsafePathError:
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return UnsafePathError(path, f"is {kind}{target}; {LINK_HINT}")


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _open_folder(folder: str, root: Optional[str]) -> int:
    """A descriptor of ``folder``, created as needed; every folder below ``root`` is entered without following
    a link (``root`` itself, default ``folder``, is followed: the command was given it)."""
    folder = os.path.abspath(folder)
    root = folder if root is None else os.path.abspath(root)
    rel = os.path.relpath(folder, root)
    if rel == os.curdir:
        parts: List[str] = []
    elif rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise UnsafePathError(folder, f"is outside {root}, the folder this command writes in")
    else:
        parts = rel.split(os.sep)
    try:
        os.makedirs(root, exist_ok=True)
        fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError as err:
        raise _named(err, root) from None
    here = root
    for part in parts:
        here = os.path.join(here, part)
        try:
            try:
                sub = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                sub = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
        except OSError as err:
            link = err.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(part, fd)
            os.close(fd)
            if link:
                raise _link_error(here) from None
            raise OSError(err.errno, err.strerror, here) from None
        os.close(fd)
        fd = sub
    return fd


def make_folder(folder: str, root: Optional[str] = None) -> str:
    """Create ``folder`` (and its parents below ``root``) unless it exists; refuse a link on the way."""
    os.close(_open_folder(folder, root))
    return folder


def atomic_write(path: str, write: Callable[[IO[bytes]], None], *, root: Optional[str] = None,
                 mode: Optional[int] = None, durable: bool = True) -> None:
    """Write ``path`` atomically; ``write`` receives the open binary temp file.

    Args:
        path: the file; a symbolic link (or a folder) there is refused, never written through or replaced.
        write: fills the temp file.
        root: the folder the command was given (results, run or output folder); the folders between it and
            ``path`` must be real folders (default: the file's own folder, as given).
        mode: permission bits (default ``0o666`` less the umask: results are shared as plain writes would be).
        durable: ``False`` skips the two fsyncs (file and folder): readers still see the old file or the new
            one, never half of one, but a power cut may lose the write. Only for derived files that a command
            rewrites in bulk and can write again (the leaderboard's pages); records and logs stay durable.

    Raises:
        UnsafePathError: a symbolic link or a non-file at ``path`` or on the way from ``root``.
        LockLost: ``path`` is in a run folder whose lock this process held and lost (:mod:`results.held`).
        OSError: the file system refuses (naming ``path``).
    """
    path = os.path.abspath(path)
    check_held(path, fresh=True)  # a run folder whose lock this process lost is another's now
    folder, name = os.path.split(path)
    dfd = _open_folder(folder, root)
    tmp = None
    try:
        try:
            st = os.lstat(name, dir_fd=dfd)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise _link_error(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        tmp = f".tmp-{secrets.token_hex(4)}-{name[-200:]}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fchmod(fh.fileno(), (0o666 & ~_UMASK) if mode is None else mode)
                if durable:
                    os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            tmp = None
        except OSError as err:
            raise _named(err, path) from None
        if durable:
            try:
                os.fsync(dfd)  # the rename is durable only once the directory entry is on disk
            except OSError:
                pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
        os.close(dfd)


def atomic_write_bytes(path: str, data: bytes, *, root: Optional[str] = None, mode: Optional[int] = None) -> None:
    atomic_write(path, lambda fh: fh.write(data), root=root, mode=mode)


def atomic_write_text(path: str, text: str, *, root: Optional[str] = None, mode: Optional[int] = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), root=root, mode=mode)


class _AppendFile(io.FileIO):
    """An append-only file whose write errors name its path (``os.write`` gives none)."""

    def __init__(self, fd: int, path: str):
        super().__init__(fd, "ab", closefd=True)
        self.path = path

    def write(self, data) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as err:
            raise _named(err, self.path) from None


def open_append(path: str, *, root: Optional[str] = None, encoding: Optional[str] = None):
    """``path`` opened for appending (created as needed): a binary file, or text with ``encoding``.

    Raises:
        UnsafePathError: ``path`` is a symbolic link, a FIFO or a device, or a folder on the way from ``root``
            is a link.
        LockLost: ``path`` is in a run folder whose lock this process lost (as the heartbeat last saw).
        OSError: the file system refuses (naming ``path``).
    """
    path = os.path.abspath(path)
    check_held(path, fresh=False)
    folder, name = os.path.split(path)
    dfd = _open_folder(folder, root)
    try:
        # O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of blocking the run forever
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK, 0o666,
                     dir_fd=dfd)
    except OSError as err:
        if err.errno == errno.ELOOP or _is_link(name, dfd):
            raise _link_error(path) from None
        if err.errno == errno.ENXIO:
            raise UnsafePathError(path, "is a FIFO or a device, not a file; robustperf appends only to "
                                        "regular files: remove it and run again") from None
        raise OSError(err.errno, err.strerror, path) from None
    finally:
        os.close(dfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(path, "is not a regular file (a FIFO or a device); robustperf appends only to "
                                    "regular files: remove it and run again")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    raw = _AppendFile(fd, path)
    if encoding is None:
        return raw
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding)


class AppendHandler(logging.FileHandler):
    """A logging handler appending to its file with :func:`open_append` (a link there is refused when it opens).

    A record that cannot be written (disk full) is reported in one line naming the file, once, instead of
    logging's traceback on every line; the run's own writes (record, checkpoints) fail and say so."""

    _reported = False

    def _open(self):
        return open_append(self.baseFilename, encoding=self.encoding or "utf-8")

    def handleError(self, record) -> None:
        err = sys.exc_info()[1]
        if not isinstance(err, OSError):
            super().handleError(record)
        elif not self._reported:
            self._reported = True
            print(f"robustperf: could not write {self.baseFilename}: {err.strerror or err} (its later lines are "
                  "lost)", file=sys.stderr, flush=True)


def links_in(folder: str, skip: Iterable[str] = (), limit: int = 100_000) -> List[str]:
    """The symbolic links in ``folder`` and its sub-folders (links are not followed; ``skip``: names of
    top-level entries left out, such as W&B's own folder; at most ``limit`` entries are looked at)."""
    found: List[str] = []
    skip = set(skip)
    seen = 0
    stack = [folder]
    while stack and seen < limit:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            seen += 1
            if here == folder and entry.name in skip:
                continue
            if entry.is_symlink():
                found.append(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return sorted(found)


def refuse_links(folder: str, skip: Iterable[str] = (), what: str = "folder") -> None:
    """Raise :class:`UnsafePathError` naming the first symbolic link that is ``folder`` or lies in it.

    Called before a command changes anything in a run's folder: a link to a file elsewhere would be written
    through (appended to, or its target taken for the run's own file)."""
    if os.path.islink(folder):
        raise _link_error(folder, f"a symbolic link, not a {what}")
    links = links_in(folder, skip)
    if links:
        more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
        err = _link_error(links[0])
        raise UnsafePathError(err.path, err.reason + more)
