"""The leaderboard's user mistakes: a :class:`robustperf_errors.UserError` (one line, exit 2) that names the
input file or folder, and the column, key or value at fault."""
from __future__ import annotations

from typing import Optional

from robustperf_errors import UserError


class BoardError(UserError):
    """An input the board cannot use, or a site folder it must not write into.

    Args:
        message: what is wrong and what was expected.
        path: the input file or folder (or the site folder) at fault; it starts the message.
    """

    def __init__(self, message: str, *, path: Optional[str] = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
