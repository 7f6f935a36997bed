"""The submissions room's user mistakes (submit, check, summarize, board): a :class:`robustperf_errors.UserError`
(one line, exit 2) naming the file or folder, and the key and value at fault."""
from __future__ import annotations

from typing import Any, Optional

from robustperf_errors import UserError

_MISSING = object()


class SubmissionError(UserError):
    """An input that cannot be packaged or checked, or an output folder that must not be written.

    Args:
        message: what is wrong and what was expected.
        path: the file or folder at fault; it starts the message.
        key: the key (``hardware.gpu_count``, ``config.model.depth``) at fault, if any.
        value: its value, if any (shown with ``repr``, cut at 80 characters).
    """

    def __init__(self, message: str, *, path: Optional[str] = None, key: Optional[str] = None,
                 value: Any = _MISSING):
        self.path, self.key, self.value = path, key, value
        where = f"{path}: " if path else ""
        what = f"key {key if key.isprintable() else _short(key)}" if key else ""
        if value is not _MISSING:
            what += f"{' = ' if key else 'value '}{_short(value)}"
        super().__init__(f"{where}{what}{': ' if what else ''}{message}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
