"""Values no run can produce: checked wherever records become a table or a status (collect, status).

:func:`value_problems` checks one record's numeric fields (numbers, finite, not negative; accuracies at most
100 %): a hand edit, a bad merge or a hostile file must not reach a fit as NaN, a string or a negative energy.
:func:`audit` adds what only the set of records shows: a folder whose name is not its record's ``run_id`` and a
``run_id`` found in more than one folder (a copied run; counted once).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .flatten import get
from .groups import FIELDS, GROUPS, PERCENT, TOP_TYPES, UNIT, base_type, hints
from .keys import RUN_ID

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

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __str__(self) -> str:
        return "; ".join(self.problems)


def audit(entries: Iterable[Tuple[str, Optional[Dict[str, Any]]]]) -> Dict[str, Finding]:
    """Findings per record path of ``(path, record)`` pairs (records that could be read; None are skipped).

    Bad values and the second and later copies of a ``run_id`` are to be left out of tables; a folder named
    otherwise than its run is reported only.
    """
    findings: Dict[str, Finding] = {}
    first: Dict[str, str] = {}
    for path, record in entries:
        if record is None:
            continue
        finding = findings.setdefault(path, Finding())
        run_id = record.get(RUN_ID)
        folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if isinstance(run_id, str) and folder != run_id:
            finding.problems.append(f"the folder is named {folder!r} but holds run {run_id!r} (rename it to its "
                                    f"run_id)")
        if run_id in first:
            finding.problems.append(f"duplicate: run {run_id!r} is also in {first[run_id]} (counted once, from "
                                    f"there)")
            finding.exclude = True
        else:
            first[run_id] = path
        values = value_problems(record)
        if values:
            finding.problems.extend(values)
            finding.exclude = True
    return {path: f for path, f in findings.items() if f}
