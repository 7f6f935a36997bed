"""``robustperf check``: the package checker of a submission folder (the layout of :mod:`.layout`).

Every rule is checked and every violation reported, as ``<file>: <rule>: <what>``:

* ``layout``: the folder holds submission.json, systems/<system>.json, results/<system>/<benchmark>/run_0..N-1
  (each with mllog.txt, result.json, recipe.yaml, train.log) and MANIFEST.sha256, nothing else, and no link.
* ``manifest``: MANIFEST.sha256 lists every other file once, no file it lists is missing, every checksum holds.
* ``submission``: submission.json's fields (format, submitter, a known benchmark, a division, the system, the
  number of runs, their seeds and run ids as the folders hold them); ``system``: the system description.
* ``runs``: at least the benchmark's ``repeats`` runs; ``configuration``: their configs differ only in seed.
* ``record``: each result.json is a valid, completed record whose run id is its config's.
* ``division``: each run's config, loaded through the recipe loader with the benchmark and division, keeps the
  division's rules (a key the closed division fixes or bounds, named with the rule).
* ``recipe``: each recipe.yaml gives exactly its record's run.
* ``target``: each run's ``to_target`` is the benchmark's; runs that missed the target or whose confirmation
  failed are at most the benchmark's ``scoring.max_missed``; a confirmation agrees with its own numbers.
* ``mllog``: each log declares the benchmark, division, target, seed and run id of its run;
  ``mlperf-compliance``: MLPerf's official checker passes it with the shipped ruleset (:mod:`.compliance`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Tuple

from recipes.benchmark import DIVISIONS, Benchmark, get_benchmark
from recipes.errors import RecipeError
from recipes.limits import limit, over_limit_message

from .check_runs import check_mllog, check_record, check_recipe, run_status
from .errors import SubmissionError
from .files import read_json, read_text
from .layout import (FORMAT, MANIFEST, RUN_FILES, RUN_FOLDER, SAFE_NAME, SUBMISSION_FILE, SUBMISSION_KEYS,
                     SYSTEMS, TOP_LEVEL, files_under, parse_manifest, runs_folder, sha256_of)
from .package import configuration_problems
from .system import SYSTEM_FORMAT


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule: the file at fault (under the submission folder as given), the rule, what is wrong."""

    file: str
    rule: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.rule}: {self.what}"


def check_submission(folder: str) -> List[Violation]:
    """Every violation of the submission folder ``folder`` (``[]``: valid).

    Raises:
        SubmissionError: ``folder`` is missing, a symbolic link or not a folder (nothing to check).
    """
    if os.path.islink(folder):
        raise SubmissionError("is a symbolic link: check the folder itself", path=folder)
    if not os.path.isdir(folder):
        raise SubmissionError("no such submission folder" if not os.path.lexists(folder) else "not a folder",
                              path=folder)
    found: List[Violation] = []

    def report(path: str, rule: str, what: str) -> None:
        found.append(Violation(path, rule, what))

    def at(rel: str) -> str:
        return os.path.join(folder, rel)

    try:
        files, odd = files_under(folder, limit("submission_files"))
    except OverflowError as err:
        report(folder, "layout", over_limit_message("submission_files", "the number of entries", err.args[0]))
        return found
    for rel in odd:
        report(at(rel), "layout", "a symbolic link or special file: a submission holds regular files only")
    check_manifest(folder, files, report)
    meta = _submission(folder, report)
    bench = _benchmark(meta, at(SUBMISSION_FILE), report)
    system = meta.get("system") if isinstance(meta.get("system"), str) and SAFE_NAME.match(meta["system"]) else None
    runs_rel = runs_folder(system, bench.id) if system and bench else None
    expected = {SUBMISSION_FILE, MANIFEST}
    if system:
        expected.add(f"{SYSTEMS}/{system}.json")
        _check_system(at(f"{SYSTEMS}/{system}.json"), system, files, report)
    ks = sorted({int(m.group(1)) for rel in files if runs_rel and rel.startswith(runs_rel + "/")
                 for m in [RUN_FOLDER.match(rel[len(runs_rel) + 1:].split("/")[0])] if m})
    if runs_rel:
        expected.update(f"{runs_rel}/run_{k}/{name}" for k in ks for name in RUN_FILES)
        if ks != list(range(len(ks))):
            report(at(runs_rel), "layout", f"run folders run_{', run_'.join(map(str, ks))}: expected run_0 to "
                                           f"run_{len(ks) - 1} (one per seed, none missing)")
    for rel in sorted(set(files) - expected):
        report(at(rel), "layout", "unexpected file (a submission holds " + ", ".join(TOP_LEVEL) +
               (f"; runs in {runs_rel}/run_<k>/" if runs_rel else "") + ")")
    for rel in sorted(expected - set(files)):
        report(at(rel), "layout", "missing")
    if bench is None or runs_rel is None:
        return found
    division = meta.get("division")
    runs: List[Tuple[str, Dict[str, Any]]] = []
    statuses: List[Tuple[str, str]] = []
    for k in ks:
        run = at(f"{runs_rel}/run_{k}")
        record = check_record(os.path.join(run, "result.json"), bench, division, report)
        if record is not None:
            runs.append((run, record))
            statuses.append((os.path.join(run, "result.json"), run_status(record, bench, run, report)))
            if os.path.isfile(os.path.join(run, "recipe.yaml")):
                check_recipe(os.path.join(run, "recipe.yaml"), record, report)
        if os.path.isfile(os.path.join(run, "mllog.txt")):
            check_mllog(os.path.join(run, "mllog.txt"), record, bench, division, report)
    _check_result(folder, meta, bench, ks, runs, statuses, report)
    return found


def check_manifest(folder: str, files: List[str], report) -> None:
    """Rule ``manifest``: MANIFEST.sha256 lists every other file once with its checksum, and nothing else."""
    path = os.path.join(folder, MANIFEST)
    if MANIFEST not in files:
        report(path, "manifest", "missing: every file's checksum is listed there")
        return
    try:
        entries, problems = parse_manifest(read_text(path, "json_bytes"))
    except SubmissionError as err:
        report(path, "manifest", str(err).replace(f"{path}: ", "", 1))
        return
    for n, problem in problems:
        report(path, "manifest", f"line {n}: {problem}")
    present = set(files) - {MANIFEST}
    for rel in sorted(present - set(entries)):
        report(os.path.join(folder, rel), "manifest", f"not listed in {MANIFEST}")
    for rel in sorted(set(entries) - present):
        report(os.path.join(folder, rel), "manifest", f"listed in {MANIFEST} but missing")
    for rel in sorted(present & set(entries)):
        if sha256_of(os.path.join(folder, rel)) != entries[rel]:
            report(os.path.join(folder, rel), "manifest", f"its sha256 differs from {MANIFEST}'s: the file changed "
                                                          "after it was packaged")


def _submission(folder: str, report) -> Dict[str, Any]:
    path = os.path.join(folder, SUBMISSION_FILE)
    if not os.path.isfile(path) or os.path.islink(path):
        return {}  # reported as missing by the layout rule
    try:
        meta = read_json(path)
    except SubmissionError as err:
        report(path, "submission", str(err).replace(f"{path}: ", "", 1))
        return {}
    for key in SUBMISSION_KEYS:
        if key not in meta:
            report(path, "submission", f"key {key} is missing")
    if meta.get("format") != FORMAT:
        report(path, "submission", f"format is {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("division") not in DIVISIONS:
        report(path, "submission", f"division is {meta.get('division')!r}, expected one of {', '.join(DIVISIONS)}")
    for key in ("submitter", "system"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            report(path, "submission", f"{key} is {meta.get(key)!r}, expected a name")
    if isinstance(meta.get("system"), str) and meta["system"].strip() and not SAFE_NAME.match(meta["system"]):
        report(path, "submission", f"system is {meta['system']!r}, not a folder name ([A-Za-z0-9._-])")
    return meta


def _benchmark(meta: Dict[str, Any], path: str, report) -> Optional[Benchmark]:
    if "benchmark" not in meta:
        return None
    if not isinstance(meta["benchmark"], str):
        report(path, "submission", f"benchmark is {meta['benchmark']!r}, expected a benchmark's id")
        return None
    try:
        return get_benchmark(meta["benchmark"], file=path)
    except RecipeError as err:
        report(path, "submission", f"benchmark {meta['benchmark']!r}: {err.message}")
        return None


def _check_system(path: str, system: str, files: List[str], report) -> None:
    if not os.path.isfile(path) or os.path.islink(path):
        return  # reported as missing by the layout rule
    try:
        data = read_json(path)
    except SubmissionError as err:
        report(path, "system", str(err).replace(f"{path}: ", "", 1))
        return
    if data.get("format") != SYSTEM_FORMAT or data.get("system_id") != system:
        report(path, "system", f"format {data.get('format')!r} and system_id {data.get('system_id')!r}: expected "
                               f"{SYSTEM_FORMAT!r} and {system!r}")
    for section in ("hardware", "software"):
        if not isinstance(data.get(section), dict):
            report(path, "system", f"{section} is missing (a mapping of the system's {section})")


def _check_result(folder: str, meta: Dict[str, Any], bench: Benchmark, ks: List[int], runs, statuses,
                  report) -> None:
    """Rules ``runs``, ``configuration``, ``target`` (max_missed) and ``submission`` (runs, seeds, run ids)."""
    path = os.path.join(folder, SUBMISSION_FILE)
    where = os.path.join(folder, runs_folder(meta["system"], bench.id))
    if len(ks) < bench.repeats:
        report(where, "runs", f"{len(ks)} run{'s' if len(ks) != 1 else ''}, the benchmark {bench.id} asks for "
                              f"{bench.repeats} (its repeats)")
    if meta.get("runs") != len(ks):
        report(path, "submission", f"runs is {meta.get('runs')!r}, the folder holds {len(ks)}")
    for key, field in (("seeds", "seed"), ("run_ids", "run_id")):
        if key in meta and len(runs) == len(ks) and meta[key] != [r.get(field) for _, r in runs]:
            report(path, "submission", f"{key} {meta[key]!r} are not the runs' ({[r.get(field) for _, r in runs]!r})")
    for problem in configuration_problems(runs):
        report(where, "configuration", problem)
    failed = [(p, s) for p, s in statuses if s != "ok"]
    if len(failed) > bench.max_missed:
        for p, status in failed:
            what = "did not reach the target" if status == "missed" else "reached the target, not confirmed"
            report(p, "target", f"{what}: {len(failed)} of {len(statuses)} runs missed or were not confirmed, the "
                                f"benchmark allows {bench.max_missed} (scoring.max_missed)")
    seeds = [r.get("seed") for _, r in runs]
    if seeds != sorted(seeds, key=lambda s: (s is None, s if isinstance(s, int) else 0)):
        report(where, "layout", f"run folders are not in seed order (seeds {seeds})")


