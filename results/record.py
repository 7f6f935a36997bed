"""One result record per run, ``DIR/<run_id>/result.json``: a new record, its one writer and its readers.

Unknown values are ``null``, never 0. The writer validates before it writes (atomically); readers upgrade an
older record (:mod:`results.versions`) and validate it (:mod:`results.validation`), and report a record they
cannot read with its reason (:class:`RecordError`).
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, Iterator, Optional, Tuple

from recipes.files import kind_of, open_regular
from robustperf_errors import UserError

from .groups import TEMPLATE
from .io import atomic_write_text
from .keys import CONFIG, CREATED, NAME, RECIPE, RECORD_FILE, RUN_ID, SEED, UPDATED, now
from .validation import MAX_DEPTH, too_deep, validate
from .versions import upgrade


class RecordError(UserError):
    """A result record that cannot be read or does not follow the schema."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def new_record(run_id: str, name: str, config: Dict[str, Any], recipe: Optional[str] = None) -> Dict[str, Any]:
    """A fresh record for a run that is starting: status running, every measurement null."""
    record = copy.deepcopy(TEMPLATE)
    record.update({RUN_ID: run_id, NAME: name, RECIPE: recipe, CONFIG: config, SEED: config.get("seed"),
                   CREATED: now()})
    return record


def record_path(results_dir: str, run_id: str) -> str:
    return os.path.join(results_dir, run_id, RECORD_FILE)


def record_text(record: Dict[str, Any]) -> str:
    """The file text of a record: indented JSON in the record's own key order, no NaN, a final newline."""
    return json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_record(results_dir: str, record: Dict[str, Any]) -> str:
    """Validate and atomically write ``record`` to ``results_dir/<run_id>/result.json``; return the path."""
    record[UPDATED] = now()
    problems = validate(record)
    if problems:
        raise ValueError("refusing to write an invalid record: " + "; ".join(problems))
    path = record_path(results_dir, record[RUN_ID])
    atomic_write_text(path, record_text(record))
    return path


def read_record(path: str) -> Dict[str, Any]:
    """Read, upgrade (older versions, missing new fields) and validate one record.

    Raises RecordError with the reason (unreadable, not JSON, unknown version, invalid).
    """
    try:  # a regular file only: a FIFO or device would block or never end (recipes/files.py)
        with open_regular(path, "record", error=lambda reason: RecordError(path, reason)) as fh:
            record = json.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        raise RecordError(path, "no such record") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(path, f"unreadable: {err}") from None
    except json.JSONDecodeError as err:
        raise RecordError(path, f"corrupt JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise RecordError(path, f"JSON nested too deeply to read (a record is at most {MAX_DEPTH} levels deep; "
                                f"this one is corrupt or hostile)") from None
    if too_deep(record):
        raise RecordError(path, f"nested deeper than {MAX_DEPTH} levels (corrupt or hostile)")
    try:
        record = upgrade(record)
    except ValueError as err:
        raise RecordError(path, str(err)) from None
    problems = validate(record)
    if problems:
        raise RecordError(path, "; ".join(problems))
    return record


def _kind(path: str) -> str:
    try:
        return kind_of(os.stat(path).st_mode)
    except OSError:
        return "a broken link"


def load_record(results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    """The record of ``run_id`` under ``results_dir``, or None when the run has none yet."""
    path = record_path(results_dir, run_id)
    if not os.path.exists(path):
        return None
    return read_record(path)


def iter_records(results_dir: str) -> Iterator[Tuple[str, Optional[Dict[str, Any]], Optional[str]]]:
    """Yield ``(path, record, None)`` for each readable record and ``(path, None, reason)`` for broken ones."""
    if not os.path.isdir(results_dir):
        raise RecordError(results_dir, "results directory does not exist")
    for entry in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, entry, RECORD_FILE)
        if not os.path.isfile(path):
            if os.path.lexists(path) and os.path.isdir(os.path.join(results_dir, entry)):
                yield path, None, f"the record is {_kind(path)}, not a regular file (never opened: it could block)"
            continue
        try:
            yield path, read_record(path), None
        except RecordError as err:
            yield path, None, err.reason
