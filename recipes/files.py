"""User-given paths read and written safely: regular files only, read with a bound, outputs that are folders or files.

``open(path)`` on a FIFO blocks until a writer appears (forever, for a hostile or mistaken path), and reading a
character device such as ``/dev/zero`` or ``/dev/urandom`` never ends. Every file the suite reads from a path the
user gave (recipes, mappings, tables, records, checkpoints, state files) goes through :func:`open_regular`: the
path is opened with ``O_NONBLOCK`` (a FIFO opens at once instead of waiting for a writer) and ``fstat`` decides
on the open descriptor, so a symlink to a device is judged by what it points to and nothing can be swapped in
between the check and the read. :func:`read_regular` then reads at most ``limit + 1`` bytes, so a file larger
than its bound is refused without being read whole. Libraries that take a path (pandas, torch, PIL) get the open
file object instead, or :func:`check_regular` first where they must have the path.

Outputs (``-o``, ``--results``, ``--out``) are checked by :func:`check_output_folder` and
:func:`check_output_file`: an existing FIFO, device or socket is refused, and so is a folder where a file is
wanted and a file where a folder is wanted. Every refusal is a :class:`UserError` (exit 2) naming the path.
"""
from __future__ import annotations

import os
import stat
from typing import IO, Callable, Optional

from .errors import UserError

__all__ = ["FileKindError", "open_regular", "read_regular", "check_regular", "check_output_folder",
           "check_output_file", "kind_of"]

ErrorFactory = Callable[[str], Exception]


class FileKindError(UserError):
    """A path that is not the kind of file the command needs (a FIFO, a device, a folder for a file, ...)."""


def kind_of(mode: int) -> str:
    """``"a FIFO"``, ``"a character device"``, ... for a ``st_mode`` (the words of the refusals)."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def _error(path: str, reason: str, error: Optional[ErrorFactory]) -> Exception:
    return error(reason) if error is not None else FileKindError(f"{path}: {reason}")


def _refuse(path: str, what: str, mode: int, error: Optional[ErrorFactory]) -> Exception:
    why = "" if stat.S_ISDIR(mode) else "; reading it could block or never end"
    return _error(path, f"the {what} is {kind_of(mode)}, not a regular file{why}", error)


def open_regular(path: str, what: str = "file", *, error: Optional[ErrorFactory] = None) -> IO[bytes]:
    """Open ``path`` for binary reading if it is a regular file (symlinks followed), without blocking.

    Args:
        path: the file.
        what: what the file is, for the message (``recipe``, ``record``, ``mapping``, ...).
        error: builds the exception of a refusal from its reason (the path is not in it; default:
            :class:`FileKindError` of ``"<path>: <reason>"``); the room's own error class keeps its callers'
            ``except`` clauses working.
    Raises:
        OSError: the file cannot be opened (missing, permissions): the caller words those.
        FileKindError (or ``error(...)``): a FIFO, device, socket or folder.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise _refuse(path, what, stat.S_IFDIR, error) from None
    except OSError as err:  # a socket cannot be opened at all (ENXIO): say what it is
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if stat.S_ISREG(mode):
            raise
        raise _refuse(path, what, mode, error) from err
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(path, what, mode, error)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: Optional[int] = None, what: str = "file", *,
                 error: Optional[ErrorFactory] = None, too_big: Optional[Callable[[int], str]] = None) -> bytes:
    """The bytes of the regular file ``path``, reading at most ``limit + 1`` of them.

    Args:
        limit: the largest size accepted, in bytes (None: no bound).
        too_big: ``too_big(limit)`` words the reason of refusing a larger file (default: names the size bound).
    Raises:
        as :func:`open_regular`; and the same error when the file holds more than ``limit`` bytes.
    """
    with open_regular(path, what, error=error) as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise _error(path, too_big(limit) if too_big is not None else
                     f"the {what} is larger than {limit:,} bytes; refused without reading the rest", error)
    return data


def check_regular(path: str, what: str = "file", *, error: Optional[ErrorFactory] = None) -> None:
    """Refuse an existing ``path`` that is not a regular file (for libraries that open the path themselves).

    A missing path passes: the caller's own open reports it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise _refuse(path, what, mode, error)


def check_output_folder(path: str, what: str = "output folder", *, error: Optional[ErrorFactory] = None) -> None:
    """Refuse an output folder path that exists and is not a folder (a file, FIFO, device), or lies under one.

    A missing folder passes (the command creates it)."""
    probe = os.path.abspath(path)
    while True:
        try:
            mode = os.stat(probe).st_mode
            break
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(probe)
            if parent == probe:
                return
            probe = parent
        except OSError:
            return  # permissions and the like: the command's own write reports them with the path
    if not stat.S_ISDIR(mode):
        inside = "" if probe == os.path.abspath(path) else f" lies inside {probe}, which"
        raise _error(path, f"the {what}{inside} is {kind_of(mode)}, not a directory", error)


def check_output_file(path: str, what: str = "output file", *, error: Optional[ErrorFactory] = None) -> None:
    """Refuse an output file path that exists and is not a regular file (a folder, FIFO, device, socket), or
    whose folder is not a folder. A missing file passes."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        check_output_folder(os.path.dirname(os.path.abspath(path)), f"folder of the {what}", error=error)
        return
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise _error(path, f"the {what} is {kind_of(mode)}, not a regular file; writing it could block or be lost",
                     error)
