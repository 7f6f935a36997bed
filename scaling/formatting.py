"""Formatting of numbers, intervals and tables for report.md, shared by the report and every section."""
from __future__ import annotations

from typing import Any, List


def num(value: Any, fmt: str = ".4g") -> str:
    """A number for report.md: ``–`` for missing, yes/no for booleans."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value)


def ci_text(pair: Any, fmt: str = ".4g") -> str:
    """An interval ``[lo, hi]`` for report.md (``∞`` for an unbounded upper end)."""
    if not pair:
        return "–"
    lo, hi = pair
    return f"[{num(lo, fmt)}, {'∞' if hi is None else num(hi, fmt)}]"


def md_table(header: List[str], rows: List[List[str]]) -> List[str]:
    """Lines of a Markdown table, with a blank line after it."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]
