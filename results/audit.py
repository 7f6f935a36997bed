"""Values no run can produce: checked wherever records become a table or a status (collect, status).

:func:`value_problems` checks one record's numeric fields (numbers, finite, not negative; accuracies at most
100 %): a hand edit, a bad merge or a hostile file must not reach a fit as NaN, a string or a negative energy.
:func:`audit` adds what a record's place shows: a folder whose name is not its record's ``run_id`` (a run copied
under another name, or a renamed folder) is reported and not counted; a run counts once, from its own folder.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .flatten import get
from .groups import FIELDS, GROUPS, PERCENT, TOP_TYPES, UNIT, base_type, hints
from .keys import RUN_ID
from .record import misplaced_reason

__all__ = ["NUMERIC_FIELDS", "PERCENT_FIELDS", "Finding", "audit", "value_problems"]


def _type(path: str) -> Any:
    group, _, name = path.partition(".")
    return hints(GROUPS[group])[name] if name else TOP_TYPES[path]


#: Record fields that, when set, are non-negative finite numbers: every field typed int or float (top-level or
#: in a group), in record order.
NUMERIC_FIELDS: Tuple[str, ...] = tuple(path for path in FIELDS if base_type(_type(path)) in (int, float))
#: Percentages: at most 100 (the group fields declared with ``results.groups.percent()``).
PERCENT_FIELDS: Tuple[str, ...] = tuple(group.path(f.name) for group in GROUPS.values()
                                        for f in dataclasses.fields(group) if f.metadata.get(UNIT) == PERCENT)


def value_problems(record: Dict[str, Any]) -> List[str]:
    """What is wrong with the values of one (schema-valid) record: ``field: value (why)`` each."""
    problems = []
    for field in NUMERIC_FIELDS:
        value = get(record, field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{field}: {value!r} is not a number")
        elif not math.isfinite(value):
            problems.append(f"{field}: {value!r} is not finite")
        elif value < 0:
            problems.append(f"{field}: {value!r} is negative")
        elif field in PERCENT_FIELDS and value > 100:
            problems.append(f"{field}: {value!r} is above 100 %")
    return problems


class Finding:
    """What :func:`audit` found about one record file: its problems and whether its row must be left out."""

    def __init__(self) -> None:
        self.problems: List[str] = []
        self.exclude = False
        self.misplaced = False  # the folder is not named by the record's run_id (a copy or a renamed folder)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __str__(self) -> str:
        return "; ".join(self.problems)


def audit(entries: Iterable[Tuple[str, Optional[Dict[str, Any]]]]) -> Dict[str, Finding]:
    """Findings per record path of ``(path, record)`` pairs (records that could be read; None are skipped).

    Bad values and records in a folder not named by their ``run_id`` (a copy of a run under another name, or a
    renamed folder) are to be left out of tables and counts: a run is counted once, from its own folder.
    """
    entries = [(path, record) for path, record in entries if record is not None]
    findings: Dict[str, Finding] = {}
    home: Dict[str, str] = {}  # run_id -> the path of its record in the folder named by it
    for path, record in entries:
        if record.get(RUN_ID) == _folder(path):
            home[record[RUN_ID]] = path
    for path, record in entries:
        finding = findings.setdefault(path, Finding())
        run_id = record.get(RUN_ID)
        folder = _folder(path)
        if folder != run_id:
            finding.misplaced = finding.exclude = True
            finding.problems.append(misplaced_reason(folder, run_id)
                                    + (f"; run {run_id!r} itself is in {home[run_id]}" if run_id in home else ""))
        values = value_problems(record)
        if values:
            finding.problems.extend(values)
            finding.exclude = True
    return {path: f for path, f in findings.items() if f}


def _folder(path: str) -> str:
    return os.path.basename(os.path.dirname(os.path.abspath(path)))
