"""The one exception every room raises for a user mistake, shared without an import cycle.

Every room (recipes, results, benchmarks, launchers, scaling) raises a subclass of :class:`UserError` for
something the user can fix (a bad recipe, a missing dataset, a broken record, a scheduler refusing a script).
The CLI prints it without a traceback and exits with :attr:`UserError.exit_code` (2). Programming errors stay
ordinary exceptions and keep their traceback. This module is top level and imports nothing of the suite, so
``results`` and ``scaling`` need not depend on ``recipes`` for it (``recipes.errors`` re-exports both names).
"""
from __future__ import annotations

import difflib
from typing import Iterable, Optional

__all__ = ["UserError", "nearest"]


class UserError(Exception):
    """A mistake the user can fix; the CLI prints ``str(err)`` and exits 2."""

    exit_code = 2


def nearest(word: str, options: Iterable[str]) -> Optional[str]:
    """The closest valid spelling of ``word`` among ``options``, or None."""
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.5)
    return match[0] if match else None
