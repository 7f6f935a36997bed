"""Validation of a record of this version: its structure and types, never its exact key set.

Groups are objects and numbers are numbers; a field this version does not know (a newer writer's or a
plug-in's) is allowed and kept, so adding a field never invalidates an existing record. A reader fills in
missing known fields with their null defaults first (:func:`results.versions.upgrade`).
"""
from __future__ import annotations

import re
from typing import Any, List, Optional

from .groups import GROUPS, TOP_TYPES, base_type, hints, optional
from .keys import (EVALUATION_SETTINGS, EVALUATIONS, FAILED, FAILURE_REASON, RUN_ID, SCHEMA_VERSION,
                   SCHEMA_VERSION_KEY, STATUS, STATUSES)

#: Deepest nesting a record may have (its own groups are 2-4 levels; the run config adds a few).
MAX_DEPTH = 32
#: What a run id may be: it names the run's folder, so one path component of letters, digits, ``.``, ``_`` and
#: ``-`` that starts with a letter or digit (robustperf writes 12 hex digits; older and hand-made ids fit too).
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def run_id_problem(run_id: Any) -> Optional[str]:
    """Why ``run_id`` cannot be a run id (it becomes a folder name: never a path), or None."""
    if not isinstance(run_id, str) or not run_id:
        return "must be a non-empty string"
    if not RUN_ID_PATTERN.fullmatch(run_id):
        return (f"{run_id[:80]!r} is not a run id (at most 128 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit: it names the run's folder)")
    return None


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests dicts/lists deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is Any or value is None and optional(tp):
        return True
    base = base_type(tp)
    if base is Any:
        return True
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


def _type_name(tp: Any) -> str:
    base = base_type(tp)
    names = {float: "a number", int: "an integer", str: "a string", list: "a list", dict: "an object"}
    return names.get(base, getattr(base, "__name__", str(base))) + (" or null" if optional(tp) else "")


def validate(record: Any) -> List[str]:
    """Schema problems of a record (of this version), empty when it is valid.

    Checks structure and types of the fields this version knows; fields it does not know are allowed (and
    kept by every reader and writer). A known field that is missing is a problem here; readers fill it in
    with its null default first (:func:`results.versions.upgrade`).
    """
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    if too_deep(record):
        return [f"nested deeper than {MAX_DEPTH} levels (corrupt or hostile)"]
    problems = []
    if record.get(SCHEMA_VERSION_KEY) != SCHEMA_VERSION:
        problems.append(f"schema_version is {record.get(SCHEMA_VERSION_KEY)!r}, expected {SCHEMA_VERSION!r}")
    for key, tp in TOP_TYPES.items():
        if key not in record:
            problems.append(f"missing field '{key}'")
        elif not _type_ok(record[key], tp):
            problems.append(f"field '{key}' must be {_type_name(tp)}, got {record[key]!r:.60}")
    for key, group in GROUPS.items():
        if key not in record:
            problems.append(f"missing field '{key}'")
            continue
        values = record[key]
        if not isinstance(values, dict):
            problems.append(f"field '{key}' must be an object")
            continue
        for sub, tp in hints(group).items():
            if sub not in values:
                problems.append(f"missing field '{key}.{sub}'")
            elif not _type_ok(values[sub], tp):
                problems.append(f"field '{key}.{sub}' must be {_type_name(tp)}, got {values[sub]!r:.60}")
    if isinstance(record.get(EVALUATIONS), dict):
        for name, entry in record[EVALUATIONS].items():
            if not isinstance(entry, dict) or not isinstance(entry.get(EVALUATION_SETTINGS), dict):
                problems.append(f"evaluations.{name} must be an object with its settings")
    why = run_id_problem(record.get(RUN_ID))
    if why:
        problems.append(f"run_id {why}")
    if record.get(STATUS) not in STATUSES:
        problems.append(f"status {record.get(STATUS)!r} is not one of {', '.join(STATUSES)}")
    if record.get(STATUS) == FAILED and not record.get(FAILURE_REASON):
        problems.append("a failed record needs failure_reason")
    return problems
