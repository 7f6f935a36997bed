"""Exceptions for user mistakes.

Every room raises a subclass of :class:`UserError` for something the user can fix (a bad recipe, a missing
dataset, a scheduler refusing a script). The CLI prints it without a traceback and exits with
:attr:`UserError.exit_code` (2). Programming errors stay ordinary exceptions and keep their traceback.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Optional


class UserError(Exception):
    """A mistake the user can fix; the CLI prints ``str(err)`` and exits 2."""

    exit_code = 2


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
            text += f" (got {self.value!r})"
        if self.allowed is not None:
            text += "; allowed: " + ", ".join(str(a) for a in self.allowed)
        return text

    def located(self, *, file: Optional[str] = None, line: Optional[int] = None) -> "RecipeError":
        """Return a copy with the file and line filled in where they were unknown."""
        return RecipeError(self.message, file=self.file or file, key=self.key, value=self.value,
                           allowed=self.allowed, line=self.line if self.line is not None else line)


def nearest(word: str, options: Iterable[str]) -> Optional[str]:
    """The closest valid spelling of ``word`` among ``options``, or None."""
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.5)
    return match[0] if match else None
