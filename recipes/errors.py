"""Exceptions for mistakes in a recipe.

:class:`UserError` (exit 2) and :func:`nearest` live in the top-level ``robustperf_errors`` module, shared by
every room; they are re-exported here, so ``from recipes.errors import UserError`` keeps working.
"""
from __future__ import annotations

import reprlib
from typing import Any, Iterable, Optional

from robustperf_errors import UserError, nearest

__all__ = ["RecipeError", "UserError", "nearest", "short_repr"]

#: values in messages: three levels of nesting, six items per container, strings cut at 60 characters
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 6
#: the longest value shown in a message, in characters
MAX_VALUE_CHARS = 160


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to fit one line: nesting, long containers and long strings shortened with ``...``.

    Never recurses deeper than three levels, so a value nested a thousand levels deep (a hostile recipe)
    prints as ``[[[...]]]`` instead of raising RecursionError; and never spans lines."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value whose own __repr__ fails is still shown as something
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 3] + "..."


class RecipeError(UserError):
    """A recipe (or ``--set`` override) that cannot be used.

    Args:
        message: what is wrong, in words.
        file: the recipe file, or ``<--set>`` for a command-line override.
        key: dotted key path, e.g. ``training.loss``.
        value: the offending value (shown with ``repr``).
        allowed: valid values or keys, listed in the message.
        line: 1-based YAML line, where known.
    """

    _MISSING = object()

    def __init__(self, message: str, *, file: Optional[str] = None, key: Optional[str] = None,
                 value: Any = _MISSING, allowed: Optional[Iterable[Any]] = None, line: Optional[int] = None):
        self.message = message
        self.file = file
        self.key = key
        self.value = value
        self.allowed = list(allowed) if allowed is not None else None
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.file or "<recipe>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.key:
            parts.append(f"key '{self.key}'")
        text = ": ".join(parts) + f": {self.message}"
        if self.value is not RecipeError._MISSING:
            text += f" (got {short_repr(self.value)})"
        if self.allowed is not None:
            text += "; allowed: " + ", ".join(str(a) for a in self.allowed)
        return text

    def located(self, *, file: Optional[str] = None, line: Optional[int] = None) -> "RecipeError":
        """Return a copy with the file and line filled in where they were unknown."""
        return RecipeError(self.message, file=self.file or file, key=self.key, value=self.value,
                           allowed=self.allowed, line=self.line if self.line is not None else line)
