"""The board's inputs, read into :class:`.model.Result` s: summary CSVs (the summary row of :mod:`.columns`) and
submission folders (the issue-23 layout: ``submission.json``, ``systems/<system>.json``,
``results/<system>/<benchmark>/run_<k>/{result.json,mllog.txt,train.log,recipe.yaml}``).

A summary CSV gives the rows alone: its results' pages say that no logs were provided. A submission folder is
read and scored by the summarizer (:mod:`submissions.summary`, the one reader of submission folders): it gives the
row, each run's ``to_target`` figures, the system description, the recipe and the logs the site links to. A
summary row whose ``submission`` is also given as a folder is shown from the folder. Every mistake in an input is
a :class:`submissions.errors.SubmissionError` (:class:`.errors.BoardError` for the board's own) naming the file,
the column or key and the value (exit 2); every file is read within a bound of :mod:`recipes.limits`.
"""
from __future__ import annotations

import csv
import math
import os
from typing import Any, Dict, List, Optional, Sequence

from recipes.limits import limit, over_limit_message

from .. import summary
from .columns import COLUMNS, NUMERIC, REQUIRED
from .errors import BoardError
from .model import Result
from .paths import assign

#: number columns that count runs, shown as integers
COUNTS = ("runs", "scored_runs", "reached_runs")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


def load_inputs(paths: Sequence[str]) -> List[Result]:
    """Every result of ``paths`` (summary CSVs and submission folders), each with its unique ``page_id``.

    Raises:
        BoardError: no input, an input that is neither, or one that cannot be read (named, with the reason).
    """
    if not paths:
        raise BoardError("no input: give summary CSVs (robustperf summarize) or submission folders")
    results: List[Result] = []
    folders = set()
    for path in paths:
        if os.path.isdir(path):
            results.append(read_submission(path))
            folders.add(os.path.realpath(path))
        elif os.path.isfile(path):
            results.extend(read_summary(path))
        elif not os.path.lexists(path):
            raise BoardError("no such file or folder", path=path)
        else:
            raise BoardError("neither a summary CSV nor a submission folder", path=path)
        if len(results) > limit("board_results"):
            raise BoardError(over_limit_message("board_results", "the number of results", len(results)), path=path)
    results = [r for r in results if r.from_folder or not r.row.get("submission")
               or os.path.realpath(str(r.row["submission"])) not in folders]
    assign(results)
    return results


# ---------------------------------------------------------------------------------------------- summary CSVs

def read_summary(path: str) -> List[Result]:
    """The rows of one summary CSV (``robustperf summarize``'s output).

    Raises:
        BoardError: the file is too large, not UTF-8, not CSV, empty, lacks a required column (all named), or a
            cell of a number column is not a number.
    """
    size = os.path.getsize(path)
    if size > limit("summary_bytes"):
        raise BoardError(over_limit_message("summary_bytes", "the file's size in bytes", size), path=path)
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames
            if not header:
                raise BoardError("empty file: expected a summary CSV (robustperf summarize) with a header row",
                                 path=path)
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise BoardError(f"not a summary CSV: missing column{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} (robustperf summarize writes them)", path=path)
            out = []
            for raw in reader:
                if len(out) >= limit("board_results"):
                    raise BoardError(over_limit_message("board_results", "the number of rows", len(out) + 1),
                                     path=path)
                out.append(Result(row=_parse_row(raw, path, reader.line_num), source=f"{path}:{reader.line_num}"))
    except UnicodeDecodeError as err:
        raise BoardError(f"unreadable: not UTF-8 text ({err.reason} at byte {err.start})", path=path) from None
    except csv.Error as err:
        line = reader.line_num if reader is not None else 0
        raise BoardError(f"unreadable CSV at line {line}: {err}", path=path) from None
    except OSError as err:
        raise BoardError(f"cannot read: {err.strerror or err}", path=path) from None
    if not out:
        raise BoardError("no results: the summary has a header but no rows", path=path)
    return out


def _parse_row(raw: Dict[Optional[str], Any], path: str, line: int) -> Dict[str, Any]:
    row: Dict[str, Any] = {}
    for column in COLUMNS:
        text = raw.get(column)
        text = "" if text is None else str(text).strip()
        where = f"line {line}, column {column}"
        if column == "confirmed":
            if text.lower() not in _TRUE + _FALSE:
                raise BoardError(f"{where}: {text!r} is not true or false", path=path)
            row[column] = text.lower() in _TRUE
        elif column in NUMERIC:
            value = _float(text, path, where)
            row[column] = int(value) if column in COUNTS and value is not None and value.is_integer() else value
        else:
            row[column] = text or None
    if not row["benchmark"]:
        raise BoardError(f"line {line}, column benchmark: empty (every result names its benchmark)", path=path)
    return row


def _float(text: str, path: str, where: str) -> Optional[float]:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise BoardError(f"{where}: {text[:80]!r} is not a number", path=path) from None
    if not math.isfinite(value):
        return None  # nan: not measured; an infinite figure has no score to show
    return value


# ---------------------------------------------------------------------------------------------- submission folders

def read_submission(folder: str) -> Result:
    """One result from a submission folder, read and scored by the summarizer
    (:func:`submissions.summary.read_submission`), with run_0's recipe text for its page.

    Raises:
        SubmissionError: the folder's mistakes, named by file and key (see the summarizer).
    """
    sub = summary.read_submission(folder)
    recipe_path = sub.runs[0].files.get("recipe.yaml")
    recipe = summary.read_text(recipe_path, "recipe_bytes") if recipe_path else None
    return Result(row=sub.row, source=folder, runs=sub.runs, submission=sub.meta, system=sub.system, recipe=recipe,
                  note=sub.score.reason)
