"""One result record per run, ``DIR/<run_id>/result.json``: a new record, its one writer and its readers.

Unknown values are ``null``, never 0. The writer validates before it writes (atomically, never through a
symbolic link: :mod:`results.io`); readers upgrade an older record (:mod:`results.versions`) and validate it
(:mod:`results.validation`, which checks the run id's form: it names a folder, never a path), and report a record
they cannot read with its reason (:class:`RecordError`). Reads are bounded: a record file larger than the
``record_bytes`` limit (:mod:`recipes.limits`, ``ROBUSTPERF_MAX_RECORD_BYTES``) is refused from its size before a
byte is read, one that is not a regular file (a FIFO, a device) is refused without waiting on it, and nesting
deeper than :data:`results.validation.MAX_DEPTH` is refused; a command that lists many records (``status``,
``collect``, ``migrate``) reports such a record as unreadable with that reason and goes on.

A run lives only in the folder named by its run id. :func:`load_record` and :func:`read_run_record` refuse a
record whose folder has another name (a copy, or a renamed folder), and the writers write only into the folder
they were given (:func:`write_run_record`) or the one its id names under the results folder (:func:`write_record`):
no command finds "its" run elsewhere, or writes to a path a record names.
"""
from __future__ import annotations

import copy
import json
import os
import stat
from typing import Any, Dict, Iterator, Optional, Tuple

from recipes.limits import LIMITS, limit
from recipes.files import kind_of
from robustperf_errors import UserError

from .groups import TEMPLATE
from .io import atomic_write_text
from .keys import CONFIG, CREATED, NAME, RECIPE, RECORD_FILE, RUN_ID, SEED, UPDATED, now
from .validation import MAX_DEPTH, run_id_problem, too_deep, validate
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


def misplaced_reason(folder: str, run_id: Any) -> str:
    """Why a record of ``run_id`` found in a folder named ``folder`` is not that run's record."""
    return (f"the folder is named {folder!r} but holds run {run_id!r}: a copy or a renamed folder, not counted "
            f"and never written (a run lives only in the folder named by its run_id: rename the folder to "
            f"{run_id!r} or remove the copy)")


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
    atomic_write_text(path, record_text(record), root=results_dir)
    return path


def write_run_record(run_dir: str, record: Dict[str, Any]) -> str:
    """Validate and atomically write ``record`` to ``run_dir/result.json``, the folder a command was given, and
    to no other: the folder must be named by the record's run id (:func:`read_run_record` checked it)."""
    folder = os.path.basename(os.path.abspath(run_dir))
    if record.get(RUN_ID) != folder:
        raise RecordError(os.path.join(run_dir, RECORD_FILE), misplaced_reason(folder, record.get(RUN_ID)))
    record[UPDATED] = now()
    problems = validate(record)
    if problems:
        raise ValueError("refusing to write an invalid record: " + "; ".join(problems))
    path = os.path.join(run_dir, RECORD_FILE)
    atomic_write_text(path, record_text(record), root=run_dir)
    return path


def read_json(path: str) -> Any:
    """The JSON value of the record file ``path``, read with bounded time and memory.

    Raises RecordError with the reason: no such file, not a regular file, larger than the ``record_bytes`` limit
    (checked from its size before reading), unreadable, not UTF-8, not JSON, or nested too deeply.
    """
    try:
        # O_NONBLOCK: opening a FIFO planted as a record must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise RecordError(path, "no such record") from None
    except OSError as err:
        raise RecordError(path, f"unreadable: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RecordError(path, "not a regular file (a FIFO, device or folder stands where a record belongs)")
        bound = limit("record_bytes")
        if info.st_size > bound:
            raise RecordError(path, _too_large(info.st_size, bound))
        try:
            data = fh.read(bound + 1)
        except OSError as err:
            raise RecordError(path, f"unreadable: {err.strerror or err}") from None
    if len(data) > bound:  # it grew after the size check
        raise RecordError(path, _too_large(len(data), bound))
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RecordError(path, f"unreadable: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise RecordError(path, f"corrupt JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise RecordError(path, f"JSON nested too deeply to read (a record is at most {MAX_DEPTH} levels deep; "
                                f"this one is corrupt or hostile)") from None
    except MemoryError:
        raise RecordError(path, f"too large to hold in memory ({len(data):,} bytes of JSON)") from None


def _too_large(size: int, bound: int) -> str:
    # short enough for a line of `robustperf status` (120 characters) to keep the variable's name
    var, _ = LIMITS["record_bytes"]
    return f"too large to read: {size:,} bytes, above the limit of {bound:,} ({var} raises it)"


def read_record(path: str) -> Dict[str, Any]:
    """Read (bounded, :func:`read_json`), upgrade (older versions, missing new fields) and validate one record.

    Raises RecordError with the reason (unreadable, too large, not JSON, unknown version, invalid).
    """
    record = read_json(path)
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


def read_run_record(run_dir: str) -> Dict[str, Any]:
    """The record in ``run_dir/result.json`` (:func:`read_record`), which must be the record of the run the folder
    is named after.

    Raises:
        RecordError: unreadable or invalid, or the record of another run (a copy under another name).
    """
    path = os.path.join(run_dir, RECORD_FILE)
    record = read_record(path)
    folder = os.path.basename(os.path.abspath(run_dir))
    if record[RUN_ID] != folder:
        raise RecordError(path, misplaced_reason(folder, record[RUN_ID]))
    return record


def _kind(path: str) -> str:
    try:
        return kind_of(os.stat(path).st_mode)
    except OSError:
        return "a broken link"


def load_record(results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    """The record of ``run_id`` under ``results_dir``, or None when the run has none yet.

    Raises:
        RecordError: ``run_id`` is not a run id, or the record is unreadable or another run's.
    """
    why = run_id_problem(run_id)
    if why:
        raise RecordError(os.path.join(results_dir, str(run_id)), f"run_id {why}")
    path = record_path(results_dir, run_id)
    if not os.path.lexists(path):
        return None
    return read_run_record(os.path.dirname(path))


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
