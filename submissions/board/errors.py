"""The leaderboard's user mistakes: a :class:`submissions.errors.SubmissionError` (one line, exit 2) that names the
input file or folder, and the column, key or value at fault."""
from __future__ import annotations

from ..errors import SubmissionError


class BoardError(SubmissionError):
    """An input the board cannot use, or a site folder it must not write into.

    Args:
        message: what is wrong and what was expected.
        path: the input file or folder (or the site folder) at fault; it starts the message.
    """
