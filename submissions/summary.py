"""The results summarizer (``robustperf summarize``), and the one reader of submission folders.

A submission folder (issue-23 design: ``submission.json``, ``systems/<system>.json``,
``results/<system>/<benchmark>/run_<k>/{result.json,mllog.txt,train.log,recipe.yaml}``) becomes a
:class:`Submission`: its runs' ``to_target`` figures, olympic-scored under its benchmark's rules
(:mod:`submissions.score`), and its summary row (:data:`COLUMNS`, in the design's order). :func:`write_summary`
writes the rows as a CSV, as the results summarizer of MLPerf's logging package does (one row per result), with
every number in full precision. The leaderboard reads submission folders through :func:`read_submission` too.

Every mistake in an input is a :class:`submissions.errors.SubmissionError` naming the file and the key (exit 2);
every file is read within a bound of :mod:`recipes.limits`; a file that is a symbolic link is never read.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from recipes.benchmark import get_benchmark
from recipes.limits import limit, over_limit_message

from .errors import SubmissionError
from .files import read_json, read_text
from .score import FIGURES, SCORED, Rules, Score, score
from .slugs import slug, unique

#: every column of a summary row, in order (issue-23 design, "Summary row")
COLUMNS: Tuple[str, ...] = (
    ("benchmark", "division", "submitter", "system", "runs", "scored_runs") + SCORED + ("confirmed",)
    + tuple(f"{f}_{end}" for f in SCORED for end in ("min", "max"))
    + ("reached_runs", "energy_source", "submission", "result_id"))
#: the files of a run folder, in the order they are listed (the board copies them and links to them)
RUN_FILES = ("mllog.txt", "result.json", "train.log", "recipe.yaml")
#: the keys of submission.json that name the result (and, for the last two, folders of the layout)
NAMES = ("benchmark", "division", "submitter", "system")


@dataclasses.dataclass
class Run:
    """One run of a result (one seed), from its ``result.json``'s ``to_target`` group."""

    #: k of ``run_<k>``
    k: int
    #: seed, reached, epoch, seconds, kwh, usd, co2_kg, train_flops, robust_accuracy, clean_accuracy, confirmed,
    #: attack, energy_source (None where the record does not say)
    figures: Dict[str, Any]
    #: True: counted in the score; False: dropped (fastest or slowest); None: the result has no score
    scored: Optional[bool] = None
    #: file name (:data:`RUN_FILES`) -> its path in the submission folder, for the regular files present
    files: Dict[str, str] = dataclasses.field(default_factory=dict)
    #: what could not be used (a log that is a symbolic link), shown on the board
    problems: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Submission:
    """One submission folder: one result of N runs, scored, as one summary row."""

    #: the folder, as given
    folder: str
    #: submission.json
    meta: Dict[str, Any]
    #: systems/<system>.json (None when the folder has none)
    system: Optional[Dict[str, Any]]
    runs: List[Run]
    score: Score
    #: column (:data:`COLUMNS`) -> value: float or int for the numbers, bool for ``confirmed``, str or None
    row: Dict[str, Any]


def read_submission(folder: str) -> Submission:
    """One result from a submission folder: its runs, scored under its benchmark's rules, and its summary row
    (``result_id`` is the folder's own slug; :func:`summarize` makes it unique among several).

    Raises:
        SubmissionError: no or a broken ``submission.json``, no run folder, or a run whose ``result.json`` is
            missing, not JSON, too large or has no (or a malformed) ``to_target`` group (named by file and key).
        RecipeError: the benchmark submission.json names is not in the catalog (naming the file and key).
    """
    meta_path = os.path.join(folder, "submission.json")
    if not os.path.isfile(meta_path) or os.path.islink(meta_path):
        raise SubmissionError("not a submission folder: no submission.json (robustperf submit writes one)",
                              path=folder)
    meta = read_json(meta_path)
    for key in NAMES:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise SubmissionError(f"key {key}: {meta.get(key)!r} is not a name", path=meta_path)
    for key in ("system", "benchmark"):
        if slug(meta[key]) != meta[key]:
            raise SubmissionError(f"key {key}: {meta[key]!r} is not a folder name of the layout ([A-Za-z0-9._-])",
                                  path=meta_path)
    rules = Rules.of(get_benchmark(meta["benchmark"], file=meta_path, key="benchmark"))
    system_path = os.path.join(folder, "systems", f"{meta['system']}.json")
    system = read_json(system_path) if os.path.isfile(system_path) and not os.path.islink(system_path) else None
    runs_dir = os.path.join(folder, "results", meta["system"], meta["benchmark"])
    runs = [_read_run(int(name[len("run_"):]), os.path.join(runs_dir, name)) for name in _run_folders(runs_dir)]
    result = score([run.figures for run in runs], rules)
    if result.reason is None:
        for i, run in enumerate(runs):
            run.scored = i in result.scored
    row: Dict[str, Any] = {column: None for column in COLUMNS}
    row.update({key: meta[key] for key in NAMES})
    row.update(result.row())
    sources = sorted({str(r.figures["energy_source"]) for r in runs if r.figures.get("energy_source")})
    row.update(runs=len(runs), reached_runs=sum(r.figures["reached"] is True for r in runs),
               energy_source=", ".join(sources) or None, submission=folder,
               result_id="/".join(slug(meta[key]) for key in NAMES))
    return Submission(folder=folder, meta=meta, system=system, runs=runs, score=result, row=row)


def summarize(folders: Sequence[str]) -> List[Submission]:
    """Every submission of ``folders``, in their order, each with a unique ``result_id``: its slug
    ``<benchmark>/<division>/<submitter>/<system>``, and ``-2``, ``-3``... for the second and later of the same
    name, in the order of their folders' paths (so an id does not depend on the order the folders were given).

    Raises:
        SubmissionError: no folder, a folder given twice, or any mistake :func:`read_submission` names.
    """
    if not folders:
        raise SubmissionError("no input: give submission folders (robustperf submit writes them)")
    seen: Dict[str, str] = {}
    for folder in folders:
        real = os.path.realpath(folder)
        if real in seen:
            raise SubmissionError(f"given twice (also as {seen[real]}): each result is summarized once", path=folder)
        seen[real] = folder
    subs = [read_submission(folder) for folder in folders]
    taken: set = set()
    for sub in sorted(subs, key=lambda s: (s.row["result_id"].lower(), s.folder)):
        sub.row["result_id"] = unique(sub.row["result_id"], taken)
    return subs


def cell(value: Any, true: str = "true", false: str = "false") -> str:
    """A summary cell: a number in full precision (``repr``, read back exactly), ``true``/``false``, or empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return true if value else false
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value)


def summary_csv(rows: Sequence[Dict[str, Any]]) -> str:
    """The summary CSV's text: the header :data:`COLUMNS`, then one line per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([cell(row.get(column)) for column in COLUMNS] for row in rows)
    return out.getvalue()


def write_summary(path: str, subs: Sequence[Submission]) -> None:
    """Write the summary CSV of ``subs`` atomically (a temporary file, then a rename; never through a link)."""
    from results.io import atomic_write_text

    atomic_write_text(path, summary_csv([sub.row for sub in subs]))


# ---------------------------------------------------------------------------------------------- run folders

#: per-run figures read from a record's ``to_target`` group (the confirmation's accuracies come beside them)
_TO_TARGET = tuple(k for k in FIGURES.values() if k not in ("robust_accuracy", "clean_accuracy"))


def _run_folders(runs_dir: str) -> List[str]:
    try:
        names = [e.name for e in os.scandir(runs_dir) if e.name.startswith("run_") and e.name[4:].isdigit()
                 and e.is_dir(follow_symlinks=False)]
    except OSError as err:
        raise SubmissionError(f"no run folders: {err.strerror or err}", path=runs_dir) from None
    if not names:
        raise SubmissionError("no run folders (run_0, run_1, ...)", path=runs_dir)
    if len(names) > limit("runs"):
        raise SubmissionError(over_limit_message("runs", "the number of run folders", len(names)), path=runs_dir)
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
        raise SubmissionError("missing (or not a regular file): every run folder holds its record",
                              path=record_path)
    record = read_json(record_path)
    group = record.get("to_target")
    if not isinstance(group, dict):
        raise SubmissionError("key to_target: missing (the run's recipe must name a benchmark)", path=record_path)
    figures: Dict[str, Any] = {key: _number(group.get(key), record_path, f"to_target.{key}") for key in _TO_TARGET}
    confirmation = group.get("confirmation") or {}
    if not isinstance(confirmation, dict):
        raise SubmissionError(f"key to_target.confirmation: {type(confirmation).__name__} is not a mapping",
                              path=record_path)
    for key in ("robust_accuracy", "clean_accuracy"):
        figures[key] = _number(confirmation.get(key), record_path, f"to_target.confirmation.{key}")
    reached = group.get("reached")
    if not isinstance(reached, bool):
        raise SubmissionError(f"key to_target.reached: {str(reached)[:80]!r} is not true or false", path=record_path)
    if reached and figures["seconds"] is None:
        raise SubmissionError("key to_target.seconds: missing, but to_target.reached is true (a run that reached "
                              "the target says when)", path=record_path)
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    figures.update(seed=record.get("seed", config.get("seed")), reached=reached,
                   confirmed=confirmation.get("confirmed"), attack=confirmation.get("attack"),
                   energy_source=group.get("energy_source"))
    return Run(k=k, figures=figures, files=files, problems=problems)


def _number(value: Any, path: str, key: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SubmissionError(f"key {key}: {str(value)[:80]!r} is not a finite number", path=path)
    return value

