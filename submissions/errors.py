"""The submissions room's user mistakes: a :class:`robustperf_errors.UserError` (one line, exit 2) that names the
file or folder at fault and the key, column or value in it."""
from __future__ import annotations

from typing import Optional

from robustperf_errors import UserError


class SubmissionError(UserError):
    """A submission folder, summary or output file that the summarizer (or the board) cannot use.

    Args:
        message: what is wrong and what was expected.
        path: the file or folder at fault; it starts the message.
    """

    def __init__(self, message: str, *, path: Optional[str] = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)
