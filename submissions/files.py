"""Bounded, link-refusing reads of the files a submission packages or checks (records, logs, JSON, YAML).

Every read opens with ``O_NOFOLLOW`` (a symbolic link is refused, never followed) and checks the size against a
bound of :mod:`recipes.limits` before reading, so a huge or hostile file fails fast with a
:class:`.errors.SubmissionError` naming it and the bound.
"""
from __future__ import annotations

import json
import os
import stat
from typing import Any, Dict

from recipes.limits import limit, over_limit_message

from .errors import SubmissionError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_bytes(path: str, bound: str) -> bytes:
    """The bytes of the regular file ``path``, at most the bound ``bound`` (a name of :data:`LIMITS`).

    Raises:
        SubmissionError: missing, a symbolic link or not a regular file, over the bound, or unreadable.
    """
    if os.path.islink(path):
        raise SubmissionError("is a symbolic link: robustperf never follows one (copy the file itself)", path=path)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SubmissionError("missing", path=path) from None
    except OSError as err:
        raise SubmissionError(f"cannot read: {err.strerror or err}", path=path) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError("not a regular file", path=path)
        if st.st_size > limit(bound):
            raise SubmissionError(over_limit_message(bound, "the file's size in bytes", st.st_size), path=path)
        data = fh.read(limit(bound) + 1)
    if len(data) > limit(bound):
        raise SubmissionError(over_limit_message(bound, "the file's size in bytes", len(data)), path=path)
    return data


def read_text(path: str, bound: str) -> str:
    try:
        return read_bytes(path, bound).decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=path) from None


def read_json(path: str, bound: str = "json_bytes") -> Dict[str, Any]:
    """A JSON object (bounded read).

    Raises:
        SubmissionError: as :func:`read_bytes`, or not JSON, or not an object.
    """
    text = read_text(path, bound)
    try:
        data = json.loads(text)
    except ValueError as err:
        raise SubmissionError(f"not JSON: {err}", path=path) from None
    if not isinstance(data, dict):
        raise SubmissionError(f"expected a JSON object, found {type(data).__name__}", path=path)
    return data
