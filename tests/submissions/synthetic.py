"""Synthetic inputs of the leaderboard, shared by its tests and ``make bench``: summary rows with the columns of
``robustperf summarize`` (issue-23 design, "Summary row") and small submission folders in the design's layout
(``submission.json``, ``systems/<system>.json``, ``results/<system>/<benchmark>/run_<k>/`` with a minimal
``result.json`` holding the ``to_target`` group, ``mllog.txt``, ``train.log``, ``recipe.yaml``, and
``MANIFEST.sha256``)."""
from __future__ import annotations

import csv
import hashlib
import json
import pathlib
import random
from typing import Dict, List, Optional, Sequence

from submissions.score import SCORED
from submissions.summary import COLUMNS

BENCHMARKS = ("cifar10-linf-8", "cifar10-l2-0.5", "cifar100-linf-8", "imagenet-linf-4", "digits-linf-0.2")
SYSTEMS = ("1xNVIDIA_H100", "8xNVIDIA_H200", "1xAMD_EPYC_2c", "4xNVIDIA_A100")


def summary_rows(n: int, seed: int = 0, benchmarks: Sequence[str] = BENCHMARKS) -> List[Dict[str, object]]:
    """``n`` summary rows spread over ``benchmarks``, both divisions and several systems; about one in ten
    unconfirmed and one in twenty with no score (empty figures)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        benchmark = benchmarks[i % len(benchmarks)]
        division = "closed" if i % 3 else "open"
        system = SYSTEMS[i % len(SYSTEMS)]
        row: Dict[str, object] = {c: "" for c in COLUMNS}
        row.update(benchmark=benchmark, division=division, submitter=f"lab{i:04d}", system=system, runs=5,
                   reached_runs=5, energy_source="nvml", submission="",
                   result_id=f"{benchmark}/{division}/lab{i:04d}/{system}")
        if i % 20 == 19:
            row.update(scored_runs="", confirmed=False, reached_runs=1)
        else:
            seconds = rng.lognormvariate(8, 1)
            kwh = seconds * rng.uniform(2e-4, 8e-4)
            figures = {"epochs_to_target": rng.randint(5, 100), "time_to_target_s": seconds, "kwh_to_target": kwh,
                       "usd_to_target": kwh * 0.12, "co2_kg_to_target": kwh * 0.4,
                       "train_flops_to_target": seconds * 1e13, "robust_accuracy": rng.uniform(45, 65),
                       "clean_accuracy": rng.uniform(75, 92)}
            for name in SCORED:
                value = float(figures[name])
                row[name] = repr(value)
                row[f"{name}_min"], row[f"{name}_max"] = repr(value * 0.95), repr(value * 1.05)
            row.update(scored_runs=3, confirmed=i % 10 != 7)
        rows.append(row)
    return rows


def write_summary(path: pathlib.Path, rows: Sequence[Dict[str, object]], columns: Sequence[str] = COLUMNS) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def run_record(k: int, seconds: Optional[float], robust: float = 55.0, confirmed: bool = True,
               benchmark: str = "digits-linf-0.2", division: str = "closed") -> Dict[str, object]:
    """A minimal result.json: the run's id, seed and its ``to_target`` group (``seconds`` None: target missed)."""
    reached = seconds is not None
    kwh = seconds * 3e-4 if reached else None
    return {"run_id": f"run{k:02d}", "seed": k, "status": "completed", "to_target": {
        "benchmark": benchmark, "division": division, "target": 50.0, "metric": "pgd_accuracy",
        "reached": reached, "epoch": 3 + k % 2 if reached else None, "seconds": seconds,
        "train_flops": seconds * 1e12 if reached else None, "kwh": kwh,
        "usd": kwh * 0.12 if reached else None, "co2_kg": kwh * 0.4 if reached else None,
        "energy_source": "rapl",
        "confirmation": {"attack": "pgd", "n": 500, "robust_accuracy": robust if reached else None,
                         "clean_accuracy": 90.0 + k / 10 if reached else None, "confirmed": confirmed and reached,
                         "tolerance": 1.0, "checkpoint": "target"}}}


def make_submission(folder: pathlib.Path, *, submitter: str = "lab", system: str = "1xAMD_EPYC_2c",
                    benchmark: str = "digits-linf-0.2", division: str = "closed",
                    seconds: Sequence[Optional[float]] = (30.0, 20.0, 25.0, 40.0, 22.0),
                    confirmed: bool = True, logs: bool = True) -> pathlib.Path:
    """A submission folder of ``len(seconds)`` runs in the design's layout; returns ``folder``."""
    folder.mkdir(parents=True)
    meta = {"format": "robustperf-submission/1", "submitter": submitter, "division": division,
            "benchmark": benchmark, "system": system, "robustperf_version": "0.1.0", "robustperf_commit": "0" * 40,
            "created": "2026-01-01T00:00:00Z", "runs": len(seconds)}
    (folder / "submission.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    (folder / "systems").mkdir()
    (folder / "systems" / f"{system}.json").write_text(json.dumps({
        "name": system, "hardware": {"cpu": {"model": "AMD EPYC", "count": 2}, "gpus": [], "memory_gb": 8},
        "software": {"python": "3.11", "torch": "2.13.0", "robustperf": "0.1.0"}}, indent=1), encoding="utf-8")
    for k, sec in enumerate(seconds):
        run = folder / "results" / system / benchmark / f"run_{k}"
        run.mkdir(parents=True)
        record = run_record(k, sec, robust=50.5 + k, confirmed=confirmed, benchmark=benchmark, division=division)
        (run / "result.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        (run / "recipe.yaml").write_text(f"name: {benchmark}\nbenchmark: {benchmark}\ndivision: {division}\n"
                                         f"seed: {k}\n", encoding="utf-8")
        if logs:
            (run / "mllog.txt").write_text(f':::MLLOG {{"key": "submission_benchmark", "value": "{benchmark}"}}\n',
                                           encoding="utf-8")
            (run / "train.log").write_text(f"run {k}: training\n", encoding="utf-8")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    (folder / "MANIFEST.sha256").write_text("".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}\n" for p in files),
        encoding="utf-8")
    return folder
