"""The board's inputs, read into :class:`.model.Result` s: summary CSVs (the summary row of :mod:`.columns`) and
submission folders (the issue-23 layout: ``submission.json``, ``systems/<system>.json``,
``results/<system>/<benchmark>/run_<k>/{result.json,mllog.txt,train.log,recipe.yaml}``).

A summary CSV gives the rows alone: its results' pages say that no logs were provided. A submission folder gives
the row (scored here, see :func:`read_submission`), each run's ``to_target`` figures, the system description, the
recipe and the logs the site links to. A summary row whose ``submission`` is also given as a folder is shown from
the folder. Every mistake in an input is a :class:`.errors.BoardError` naming the file, the column or key and the
value (exit 2); every file is read within a bound of :mod:`recipes.limits`.
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence

from recipes.limits import limit, over_limit_message

from .columns import COLUMNS, NUMERIC, REQUIRED
from .errors import BoardError
from .model import RUN_FILES, Result, Run
from .paths import assign, slug

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
# PROVISIONAL (integrator): until ``submissions.summary`` lands, the board reads a submission folder itself, here
# and only here: read_submission() (with _read_run and _score). Replace its body by the summarizer's row for the
# folder and its runs (keep the Result it returns: row, runs with their scored flags and files, submission,
# system, recipe); the olympic scoring below is a stand-in for ``submissions.score``.

#: figures of a run read from its record's ``to_target`` group (confirmation's accuracies included)
_TO_TARGET = ("epoch", "seconds", "train_flops", "kwh", "usd", "co2_kg")


def read_submission(folder: str) -> Result:
    """One result from a submission folder: its summary row (olympic-scored here), runs, system and recipe.

    Raises:
        BoardError: no or a broken ``submission.json``, no run folder, or a run whose ``result.json`` is missing,
            not JSON, too large or has no ``to_target`` group (named by file and key).
    """
    meta_path = os.path.join(folder, "submission.json")
    if not os.path.isfile(meta_path):
        raise BoardError("not a submission folder: no submission.json (robustperf submit writes one)", path=folder)
    meta = _read_json(meta_path)
    for key in ("benchmark", "division", "submitter", "system"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise BoardError(f"key {key}: {meta.get(key)!r} is not a name", path=meta_path)
    for key in ("system", "benchmark"):
        if slug(meta[key]) != meta[key]:
            raise BoardError(f"key {key}: {meta[key]!r} is not a folder name of the layout ([A-Za-z0-9._-])",
                             path=meta_path)
    system_path = os.path.join(folder, "systems", f"{meta['system']}.json")
    system = _read_json(system_path) if os.path.isfile(system_path) and not os.path.islink(system_path) else None
    runs_dir = os.path.join(folder, "results", meta["system"], meta["benchmark"])
    names = _run_folders(runs_dir)
    runs = [_read_run(int(name[len("run_"):]), os.path.join(runs_dir, name)) for name in names]
    recipe = _read_text(runs[0].files["recipe.yaml"], limit("recipe_bytes")) if "recipe.yaml" in runs[0].files \
        else None
    row: Dict[str, Any] = {column: None for column in COLUMNS}
    row.update({key: meta[key] for key in ("benchmark", "division", "submitter", "system")})
    row.update(_score(runs))
    sources = sorted({str(r.figures["energy_source"]) for r in runs if r.figures.get("energy_source")})
    row.update(runs=len(runs), reached_runs=sum(r.figures["reached"] is True for r in runs),
               energy_source=", ".join(sources) or None, submission=folder)
    return Result(row=row, source=folder, runs=runs, submission=meta, system=system, recipe=recipe)


def _run_folders(runs_dir: str) -> List[str]:
    try:
        names = [e.name for e in os.scandir(runs_dir) if e.name.startswith("run_") and e.name[4:].isdigit()
                 and e.is_dir(follow_symlinks=False)]
    except OSError as err:
        raise BoardError(f"no run folders: {err.strerror or err}", path=runs_dir) from None
    if not names:
        raise BoardError("no run folders (run_0, run_1, ...)", path=runs_dir)
    if len(names) > limit("runs"):
        raise BoardError(over_limit_message("runs", "the number of run folders", len(names)), path=runs_dir)
    return sorted(names, key=lambda n: int(n[4:]))


def _read_run(k: int, run_dir: str) -> Run:
    files = {}
    problems = []
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.islink(path):
            problems.append(f"{name} is a symbolic link: not copied")
        elif os.path.isfile(path):
            files[name] = path
    record_path = os.path.join(run_dir, "result.json")
    if "result.json" not in files:
        raise BoardError("missing (or not a regular file): every run folder holds its record", path=record_path)
    record = _read_json(record_path)
    group = record.get("to_target")
    if not isinstance(group, dict):
        raise BoardError("key to_target: missing (the run's recipe must name a benchmark)", path=record_path)
    figures: Dict[str, Any] = {key: _number(group.get(key), record_path, f"to_target.{key}") for key in _TO_TARGET}
    confirmation = group.get("confirmation") or {}
    if not isinstance(confirmation, dict):
        raise BoardError(f"key to_target.confirmation: {type(confirmation).__name__} is not a mapping",
                         path=record_path)
    for key in ("robust_accuracy", "clean_accuracy"):
        figures[key] = _number(confirmation.get(key), record_path, f"to_target.confirmation.{key}")
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    seed = record.get("seed", config.get("seed"))
    figures.update(seed=seed, reached=group.get("reached") is True, confirmed=confirmation.get("confirmed"),
                   attack=confirmation.get("attack"), energy_source=group.get("energy_source"))
    return Run(k=k, figures=figures, files=files, problems=problems)


def _score(runs: List[Run]) -> Dict[str, Any]:
    """Olympic scoring (stand-in for ``submissions.score``): order the runs by time to target, a missed run
    slowest; drop the fastest and the slowest (with 3 runs or more); the result has a score only when no missed
    run remains; each figure is the mean of the scored runs (min and max beside it)."""
    order = sorted(range(len(runs)), key=lambda i: (not runs[i].figures["reached"],
                                                    runs[i].figures["seconds"] if runs[i].figures["seconds"]
                                                    is not None else math.inf, i))
    kept = order[1:-1] if len(runs) >= 3 else order
    scored = [runs[i] for i in kept]
    out: Dict[str, Any] = {"scored_runs": None, "confirmed": False}
    if not scored or any(not r.figures["reached"] for r in scored):
        return out  # no score: runs keep scored=None
    for i, run in enumerate(runs):
        run.scored = i in kept
    names = {"epochs_to_target": "epoch", "time_to_target_s": "seconds", "kwh_to_target": "kwh",
             "usd_to_target": "usd", "co2_kg_to_target": "co2_kg", "train_flops_to_target": "train_flops",
             "robust_accuracy": "robust_accuracy", "clean_accuracy": "clean_accuracy"}
    for column, key in names.items():
        values = [r.figures[key] for r in scored]
        if all(v is not None for v in values):
            out[column] = sum(values) / len(values)
            out[f"{column}_min"], out[f"{column}_max"] = min(values), max(values)
    out["scored_runs"] = len(scored)
    out["confirmed"] = all(r.figures["confirmed"] is True for r in scored)
    return out


def _number(value: Any, path: str, key: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BoardError(f"key {key}: {str(value)[:80]!r} is not a finite number", path=path)
    return value


def _read_json(path: str) -> Dict[str, Any]:
    text = _read_text(path, limit("json_bytes"), "json_bytes")
    try:
        data = json.loads(text)
    except ValueError as err:
        raise BoardError(f"not JSON: {err}", path=path) from None
    if not isinstance(data, dict):
        raise BoardError(f"expected a JSON object, found {type(data).__name__}", path=path)
    return data


def _read_text(path: str, bound: int, name: str = "recipe_bytes") -> str:
    try:
        size = os.path.getsize(path)
        if size > bound:
            raise BoardError(over_limit_message(name, "the file's size in bytes", size), path=path)
        with open(path, encoding="utf-8") as fh:
            return fh.read(bound + 1)
    except UnicodeDecodeError as err:
        raise BoardError(f"unreadable: not UTF-8 text ({err.reason} at byte {err.start})", path=path) from None
    except OSError as err:
        raise BoardError(f"cannot read: {err.strerror or err}", path=path) from None
