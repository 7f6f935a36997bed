"""The per-run rules of ``robustperf check`` (see :mod:`.check`): each run folder's record, its config against
the benchmark's division rules, its recipe, its target and confirmation, and its MLPerf log (read by the suite
and by the official checker with the shipped ruleset)."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Dict, List, Optional

from recipes.benchmark import Benchmark
from recipes.errors import RecipeError
from recipes.identity import run_id_of
from recipes.loading import parse_yaml
from recipes.recipe import recipe_from_dict
from results import COMPLETED, RecordError, read_record

from .compliance import check_log
from .errors import SubmissionError
from .files import read_bytes, read_text

Report = Callable[[str, str, str], None]  # (file, rule, what)


def check_record(path: str, bench: Benchmark, division: str, report: Report) -> Optional[Dict[str, Any]]:
    """The run's record (``result.json``), or None when it is unusable (reported, rule ``record``); the rules
    ``record`` (valid, completed, its run id is its config's) and ``division`` (its config under the division's
    rules, through the recipe loader) are checked on it."""
    try:
        if os.path.islink(path) or not os.path.isfile(path):
            raise RecordError(path, "missing (or not a regular file)")
        record = read_record(path)
    except RecordError as err:
        report(path, "record", err.reason)
        return None
    if record.get("status") != COMPLETED:
        report(path, "record", f"status {record.get('status')!r}: only completed runs are a result's")
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    try:
        expected = run_id_of(config)
    except Exception as err:  # noqa: BLE001 - a config that has no identity: reported as such
        expected = f"none ({type(err).__name__})"
    if record.get("run_id") != expected:
        report(path, "record", f"run_id {record.get('run_id')!r} is not the id of its config ({expected}): the "
                               "config was changed after the run")
    section = config.get("benchmark") or {}
    if (section.get("id"), section.get("division")) != (bench.id, division):
        report(path, "division", f"config.benchmark is {section.get('id')!r}/{section.get('division')!r}, the "
                                 f"submission {bench.id!r}/{division!r}")
    data = dict(config)
    data.pop("benchmark", None)
    try:
        recipe_from_dict({"name": "check", "benchmark": bench.id, "division": division, "repeats": 1, "base": data},
                         file=path)
    except RecipeError as err:
        rule = "division" if " division of " in err.message else "config"
        key = str(err.key or "").replace("base.", "config.", 1)
        value = "" if err.value is RecipeError._MISSING else f" = {err.value!r}"
        report(path, rule, f"{key}{value}: {err.message}" if key else err.message)
    return record


def check_recipe(path: str, record: Dict[str, Any], report: Report) -> None:
    """Rule ``recipe``: recipe.yaml loads and gives exactly the record's run (its run id)."""
    try:
        data, lines = parse_yaml(read_text(path, "recipe_bytes"), path)
        recipe = recipe_from_dict(data, file=path, lines=lines)
        ids = [spec.run_id for spec in recipe.runs()]
    except SubmissionError as err:
        report(path, "recipe", str(err).replace(f"{path}: ", "", 1))
        return
    except RecipeError as err:
        report(path, "recipe", f"does not load: {err}".replace(f"{path}: ", "", 1))
        return
    if ids != [record.get("run_id")]:
        report(path, "recipe", f"gives run{'s' if len(ids) != 1 else ''} {', '.join(ids) or 'none'}, not the "
                               f"record's {record.get('run_id')}: the recipe is not the run's configuration")


def run_status(record: Dict[str, Any], bench: Benchmark, path: str, report: Report) -> str:
    """``"ok"``, ``"missed"`` (target not reached) or ``"unconfirmed"``; rule ``target`` for a ``to_target`` group
    that is not the benchmark's or whose confirmation contradicts its own numbers."""
    group = record.get("to_target")
    if not isinstance(group, dict):
        report(path, "target", "no to_target group: the run did not measure the benchmark's target")
        return "missed"
    if group.get("benchmark") != bench.id or group.get("target") != bench.target:
        report(path, "target", f"to_target is of {group.get('benchmark')!r} at {group.get('target')!r}%, the "
                               f"benchmark's target is {bench.target}% of {bench.id}")
    if group.get("reached") is not True:
        return "missed"
    confirmation = group.get("confirmation")
    if not isinstance(confirmation, dict):
        report(path, "target", "reached, but no confirmation on the test set (to_target.confirmation)")
        return "unconfirmed"
    robust = confirmation.get("robust_accuracy")
    need = bench.target - bench.confirmation.tolerance
    if not isinstance(robust, (int, float)) or isinstance(robust, bool) or not math.isfinite(robust):
        report(path, "target", f"to_target.confirmation.robust_accuracy = {robust!r} is not a number")
        return "unconfirmed"
    holds = robust >= need
    if confirmation.get("confirmed") is not holds:
        report(path, "target", f"to_target.confirmation.confirmed is {confirmation.get('confirmed')!r}, but "
                               f"{robust:g}% robust {'>=' if holds else '<'} {need:g}% (target {bench.target:g} - "
                               f"tolerance {bench.confirmation.tolerance:g})")
    n = confirmation.get("n")
    if not isinstance(n, int) or n < bench.confirmation.n:
        report(path, "target", f"confirmed on {n!r} test points, the benchmark asks for {bench.confirmation.n}")
    return "ok" if holds else "unconfirmed"


def check_mllog(path: str, record: Optional[Dict[str, Any]], bench: Benchmark, division: str,
                report: Report) -> None:
    """Rules ``mllog`` (the log declares the submission's benchmark, division and target, and is this run's:
    its run id and seed) and ``mlperf-compliance`` (the official checker with the shipped ruleset passes it with
    no failure and no warning)."""
    try:
        text = read_bytes(path, "log_bytes").decode("utf-8", errors="replace")
    except SubmissionError as err:
        report(path, "mllog", str(err).replace(f"{path}: ", "", 1))
        return
    values: Dict[str, List[Any]] = {}
    run_ids = []
    for line in text.splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        try:
            event = json.loads(line[len(":::MLLOG "):])
        except ValueError:
            continue  # the official checker reports it
        if isinstance(event, dict):
            values.setdefault(str(event.get("key")), []).append(event.get("value"))
            if event.get("key") == "run_start" and isinstance(event.get("metadata"), dict):
                run_ids.append(event["metadata"].get("run_id"))
    expected = {"submission_benchmark": bench.id, "submission_division": division, "robustperf_target": bench.target}
    if record is not None:
        expected["seed"] = record.get("seed")
    for key, value in expected.items():
        found = values.get(key, [])
        if found != [value]:
            report(path, "mllog", f"{key} is {', '.join(map(repr, found)) or 'missing'}, expected {value!r}")
    if record is not None and run_ids != [record.get("run_id")]:
        report(path, "mllog", f"run_start names run {', '.join(map(str, run_ids)) or 'none'}, the record "
                              f"{record.get('run_id')}: the log is another run's")
    for finding in check_log(path):
        report(path, "mlperf-compliance", finding)
