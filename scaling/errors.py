"""Errors of the scaling analysis, all :class:`robustperf_errors.UserError` subclasses (the CLI exits 2).

Compare ``lifelines/exceptions.py``: a fit that does not converge says what to try, as a checklist.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from robustperf_errors import UserError, nearest


class ScalingError(UserError):
    """Base class of every scaling-analysis error."""


class SurvivalError(ScalingError):
    """A survival table or mapping the AFT models cannot use."""


class TableError(ScalingError):
    """A results table that lacks a needed column, or cannot be read.

    Args:
        message: what is wrong.
        column: the missing or bad column (or column expression).
        present: the columns the table does have, listed in the message.
        hint: what to pass instead (e.g. ``--flops-col``).
    """

    def __init__(self, message: str, *, column: Optional[str] = None, present: Optional[Iterable[str]] = None,
                 hint: Optional[str] = None):
        self.message = message
        self.column = column
        self.present = list(present) if present is not None else None
        self.hint = hint
        text = message
        if column is not None and self.present is not None:
            close = nearest(column, self.present)
            if close:
                text += f" (did you mean '{close}'?)"
        if hint:
            text += f"; {hint}"
        if self.present is not None:
            text += "; columns present: " + ", ".join(str(c) for c in self.present)
        super().__init__(text)


class SurvivalValuesError(TableError, SurvivalError):
    """Durations or events a survival model cannot use (negative or missing durations, events other than 0/1):
    the table is refused, naming the column and how many rows, never fitted with those rows dropped."""


class InvalidValuesError(ScalingError):
    """Values a fit cannot use (non-positive FLOPs on a log axis), with how many and which rows."""

    def __init__(self, what: str, rows: Sequence[str], total: int, hint: Optional[str] = None):
        self.what = what
        self.rows = list(rows)
        self.total = total
        shown = ", ".join(self.rows[:20]) + (f", ... {len(self.rows) - 20} more" if len(self.rows) > 20 else "")
        text = f"{len(self.rows)} of {total} rows have {what}: {shown}"
        if hint:
            text += f"; {hint}"
        super().__init__(text)


class InsufficientDataError(ScalingError):
    """Fewer usable points than a fit needs."""

    def __init__(self, fit: str, needed: int, got: int, detail: str = ""):
        self.fit = fit
        self.needed = needed
        self.got = got
        text = f"{fit}: needs at least {needed} usable points, got {got}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)


class ConvergenceError(ScalingError):
    """A fit that did not converge; the message is a checklist of what to try (as lifelines does)."""

    CHECKLIST = (
        "are there enough distinct FLOP values? (the envelope needs >= 3 non-empty bins)",
        "are accuracies in percent (0-100) and FLOPs positive? (check --acc-col / --flops-col)",
        "is the collapse threshold (--collapse) dropping most runs?",
        "try fewer bins (--bins) or --bin-scale linear",
        "look at the data: plot accuracy against FLOPs; a flat or decreasing cloud has no power law",
    )

    def __init__(self, fit: str, reason: str, checklist: Optional[Sequence[str]] = None):
        self.fit = fit
        self.reason = reason
        self.checklist = tuple(checklist) if checklist is not None else self.CHECKLIST
        text = f"{fit} did not converge: {reason}\nthings to check:\n" + "\n".join(
            f"  {i}. {item}" for i, item in enumerate(self.checklist, 1))
        super().__init__(text)


class NotFittedError(ValueError, AttributeError):
    """A fitted attribute read before ``fit()``: a programming error, not a user one (as in scikit-learn)."""
