"""``robustperf submit``: a result (the runs of one configuration of a benchmark, differing only in seed) packaged
as a submission folder in the layout of :mod:`.layout`.

The runs are picked from a results folder: every completed run whose config names the benchmark and the
division. They must be one configuration (their configs differ in ``seed`` only; a mixture is refused, naming
the keys that differ), with distinct seeds, and at least the benchmark's ``repeats`` of them. Each run's
``mllog.txt``, ``result.json`` and ``train.log`` are copied byte for byte; its ``recipe.yaml`` is its record's
config written as a recipe of that one run (``robustperf expand recipe.yaml`` gives its run id). The folder is
written into a hidden temporary folder beside SUBMISSION_DIR and renamed into place once complete: a reader
never sees half a submission. Nothing is written in the results folder, and no link is followed.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from recipes.benchmark import Benchmark
from recipes.limits import limit, over_limit_message
from results import COMPLETED, RECORD_FILE, RecordError, atomic_write_bytes, flatten, read_record

from .errors import SubmissionError
from .files import read_bytes
from .layout import (FORMAT, MANIFEST, RUN_FILES, SUBMISSION_FILE, SYSTEMS, manifest_text, run_folder,
                     sha256_of)
from .system import describe_system

Run = Tuple[str, Dict[str, Any]]  # (run folder, record)
#: config keys that may differ between the runs of one result
VARYING = ("seed",)


def pick_runs(results_dir: str, bench: Benchmark, division: str) -> Tuple[List[Run], List[str]]:
    """The runs of ``results_dir`` that form the result of ``bench`` in ``division``, ordered by seed, and notes
    on what was left out (runs not completed, unreadable records).

    Raises:
        SubmissionError: no such folder; no completed run of the benchmark and division; runs of more than one
            configuration (the differing keys named); a seed twice; fewer runs than the benchmark's repeats.
    """
    if not os.path.isdir(results_dir):
        raise SubmissionError("no such results folder", path=results_dir)
    runs: List[Run] = []
    notes: List[str] = []
    others: Dict[str, int] = {}
    try:
        names = sorted(e.name for e in os.scandir(results_dir) if e.is_dir(follow_symlinks=False))
    except OSError as err:
        raise SubmissionError(f"cannot list: {err.strerror or err}", path=results_dir) from None
    if len(names) > limit("runs"):
        raise SubmissionError(over_limit_message("runs", "the number of run folders", len(names)), path=results_dir)
    for name in names:
        path = os.path.join(results_dir, name, RECORD_FILE)
        if not os.path.lexists(path):
            continue
        try:
            record = read_record(path) if not os.path.islink(path) else None
        except RecordError as err:
            notes.append(f"{path}: left out: {err.reason}")
            continue
        if record is None:
            notes.append(f"{path}: left out: a symbolic link")
            continue
        section = (record.get("config") or {}).get("benchmark") or {}
        if section.get("id") != bench.id or section.get("division") != division:
            key = f"{section.get('id')}/{section.get('division')}" if section.get("id") else "no benchmark"
            others[key] = others.get(key, 0) + 1
            continue
        if record.get("status") != COMPLETED:
            notes.append(f"{path}: left out: status {record.get('status')}, not {COMPLETED}")
            continue
        runs.append((os.path.join(results_dir, name), record))
    if not runs:
        found = ", ".join(f"{n} of {k}" for k, n in sorted(others.items())) or "no records"
        raise SubmissionError(f"no completed run of benchmark {bench.id} in the {division} division (found: "
                              f"{found})", path=results_dir)
    check_one_configuration(runs)
    runs.sort(key=lambda run: (run[1].get("seed"), run[0]))
    if len(runs) < bench.repeats:
        raise SubmissionError(f"{len(runs)} completed run{'s' if len(runs) != 1 else ''} of {bench.id} "
                              f"({division}), but a result is {bench.repeats} (the benchmark's repeats): run the "
                              "missing seeds first", path=results_dir)
    return runs, notes


def check_one_configuration(runs: Sequence[Run]) -> None:
    """Refuse runs whose configs differ in a key other than :data:`VARYING`, or that share a seed."""
    problems = configuration_problems(runs)
    if problems:
        raise SubmissionError(problems[0] + " (move the other runs to a folder of their own)",
                              path=os.path.dirname(runs[0][0]))


def configuration_problems(runs: Sequence[Run]) -> List[str]:
    """What makes ``runs`` more than one configuration: configs that differ in a key other than :data:`VARYING`
    (named, with two runs' values), or a seed given twice; ``[]`` for one configuration."""
    flat = [flatten(record.get("config") or {}) for _, record in runs]
    keys = sorted(set().union(*flat) - set(VARYING)) if flat else []
    differing = [k for k in keys if any(f.get(k) != flat[0].get(k) for f in flat[1:])]
    problems = []
    if differing:
        first = os.path.basename(runs[0][0])
        other, values = next((os.path.basename(r[0]), f) for r, f in zip(runs, flat)
                             if any(f.get(k) != flat[0].get(k) for k in differing))
        shown = ", ".join(f"config.{k} ({flat[0].get(k)!r} in {first}, {values.get(k)!r} in {other})"
                          for k in differing[:5])
        more = f" and {len(differing) - 5} more" if len(differing) > 5 else ""
        problems.append(f"the runs are not one configuration: they differ in {shown}{more}; a result's runs "
                        "differ only in seed")
    seen: Dict[Any, str] = {}
    for path, record in runs:
        seed = record.get("seed")
        if seed in seen:
            problems.append(f"seed {seed} twice ({os.path.basename(seen[seed])} and {os.path.basename(path)}): a "
                            "result's runs have distinct seeds")
        seen.setdefault(seed, path)
    return problems


def recipe_text(record: Dict[str, Any]) -> str:
    """A run's config as a recipe of that one run (``recipe.yaml`` of its run folder)."""
    config = dict(record["config"])
    section = config.pop("benchmark", None) or {}
    head = (f"# The configuration of run {record['run_id']} ({record.get('name')}), seed {record.get('seed')}: its "
            "result.json's config as a recipe.\n# `robustperf expand recipe.yaml` gives this one run and its run "
            "id; robustperf check loads it with the division's rules.\n")
    data = {"name": str(record.get("name") or record["run_id"]), "benchmark": section.get("id"),
            "division": section.get("division"), "repeats": 1, "base": config}
    return head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=118)


def write_submission(runs: Sequence[Run], bench: Benchmark, division: str, submitter: str, output: str,
                     system_file: Optional[str] = None) -> Dict[str, Any]:
    """Package ``runs`` into the new folder ``output``; returns its submission.json.

    Raises:
        SubmissionError: ``output`` exists, a run lacks one of its files (or one is a link or too large), or the
            system file is invalid.
    """
    output = os.path.abspath(output)
    if os.path.lexists(output):
        raise SubmissionError("exists: robustperf submit writes a new folder (remove it or choose another)",
                              path=output)
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise SubmissionError("no such folder (the submission's parent folder must exist)", path=parent)
    system = describe_system([(os.path.join(d, RECORD_FILE), r) for d, r in runs], system_file)
    files: Dict[str, bytes] = {}
    for k, (run_dir, record) in enumerate(runs):
        folder = run_folder(system["system_id"], bench.id, k)
        for name in RUN_FILES:
            if name == "recipe.yaml":
                files[f"{folder}/{name}"] = recipe_text(record).encode("utf-8")
            else:
                bound = "record_bytes" if name == RECORD_FILE else "log_bytes"
                files[f"{folder}/{name}"] = read_bytes(os.path.join(run_dir, name), bound)
    files[f"{SYSTEMS}/{system['system_id']}.json"] = _json(system)
    meta = {"format": FORMAT, "submitter": submitter, "division": division, "benchmark": bench.id,
            "system": system["system_id"], "robustperf_version": system["software"].get("robustperf_version"),
            "robustperf_commit": system["software"].get("robustperf_commit"),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "runs": len(runs), "seeds": [record.get("seed") for _, record in runs],
            "run_ids": [record["run_id"] for _, record in runs]}
    files[SUBMISSION_FILE] = _json(meta)
    tmp = os.path.join(parent, f".{os.path.basename(output)}.tmp-{secrets.token_hex(4)}")
    os.mkdir(tmp)
    try:
        for rel, data in files.items():
            atomic_write_bytes(os.path.join(tmp, rel), data, root=tmp)
        digests = {rel: sha256_of(os.path.join(tmp, rel)) for rel in files}
        atomic_write_bytes(os.path.join(tmp, MANIFEST), manifest_text(digests).encode("utf-8"), root=tmp)
        if os.path.lexists(output):
            raise SubmissionError("appeared while the submission was written: left as it is", path=output)
        os.rename(tmp, output)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _json(data: Dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, allow_nan=False) + "\n").encode("utf-8")
