"""Where the runs of a results directory stand: completed, failed (with reason), running, pending.

Pending runs are those of the matrix without a record: with a recipe, the whole matrix is known; without
one, the runs that earlier launches into the directory submitted (their ledgers) are. A record in a folder not
named by its run_id (a copy under another name, a renamed folder) is listed as misplaced and counted as nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from results import COMPLETED, FAILED, PREEMPTED, RUNNING, iter_records
from results.audit import audit

from .plan import Queues, live_running, lock_in_flight, read_ledgers

PENDING = "pending"
UNREADABLE = "unreadable"
#: a record in a folder not named by its run_id (a copy under another name, a renamed folder): listed, not counted
MISPLACED = "misplaced"
STATES = (COMPLETED, FAILED, RUNNING, PENDING)
#: states listed in the counts only when some run is in them
RARE_STATES = (PREEMPTED, UNREADABLE, MISPLACED)


@dataclass
class RunStatus:
    run_id: str
    status: str
    name: Optional[str] = None
    index: Optional[int] = None
    failure_reason: Optional[str] = None
    job: Dict[str, Any] = field(default_factory=dict)
    updated: Optional[str] = None
    note: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {"index": self.index, "run_id": self.run_id, "name": self.name, "status": self.status,
                "failure_reason": self.failure_reason, "job": self.job, "updated": self.updated,
                "note": self.note}


@dataclass
class Status:
    results_dir: str
    runs: List[RunStatus]

    def counts(self) -> Dict[str, int]:
        counts = {state: 0 for state in (*STATES, *RARE_STATES)}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        for rare in RARE_STATES:  # listed only when there are any
            if not counts[rare]:
                del counts[rare]
        return counts

    def total(self) -> int:
        """The runs (a misplaced copy is listed but is no run of its own)."""
        return sum(run.status != MISPLACED for run in self.runs)

    def to_json(self) -> Dict[str, Any]:
        return {"results": self.results_dir, "total": self.total(), "counts": self.counts(),
                "runs": [run.to_json() for run in self.runs]}


class _Run:  # what live_running needs of a run
    def __init__(self, run_id: str):
        self.run_id = run_id


def collect_status(results_dir: str, matrix: Optional[Sequence[Any]] = None,
                   queues: Optional[Queues] = None) -> Status:
    """Status of every run on disk (and, given the ``matrix`` RunSpecs, of every matrix entry).

    With ``queues`` (scheduler name -> ``alive_jobs``; :data:`launchers.QUEUES` asks every registered executor),
    runs whose record says running but whose job is gone get a note: a relaunch resumes them. None: no job is
    checked.
    """
    by_id: Dict[str, RunStatus] = {}
    running = []
    entries = list(iter_records(results_dir))
    findings = audit((path, record) for path, record, _ in entries)
    for path, record, reason in entries:
        run_id = path.replace("\\", "/").rsplit("/", 2)[-2]
        if record is None:
            by_id[run_id] = RunStatus(run_id, UNREADABLE, note=reason)
            continue
        run_id = record.get("run_id") or run_id
        finding = findings.get(path)
        if finding and finding.misplaced:  # a copy or a renamed folder: listed, never counted as the run
            by_id[path] = RunStatus(run_id, MISPLACED, name=record.get("name"), job=record.get("job") or {},
                                    updated=record.get("updated"), note=str(finding))
            continue
        by_id[run_id] = RunStatus(run_id, record.get("status"), name=record.get("name"),
                                  failure_reason=record.get("failure_reason"), job=record.get("job") or {},
                                  updated=record.get("updated"), note=str(finding) if finding else None)
        if finding and finding.exclude:
            continue
        if record.get("status") in (RUNNING, PREEMPTED):
            running.append((_Run(run_id), record))
    if queues is not None and running:
        live = live_running(running, queues)
        for run, _ in running:
            if run.run_id not in live:
                # a live process holding the run's lock is running it, whatever job the record names
                holder = lock_in_flight(os.path.join(results_dir, run.run_id))
                by_id[run.run_id].note = holder or "its job is gone: launch again to resume"

    launched: Dict[str, str] = {}  # run_id -> the job an earlier launch submitted it in
    for ledger in read_ledgers(results_dir):
        if not ledger.get("dry_run"):
            for job in ledger.get("jobs", []):
                for run_id in job.get("run_ids", []):
                    launched[run_id] = f"submitted as {ledger.get('scheduler')} job {job.get('job_id')}"

    if matrix is not None:
        ordered: List[RunStatus] = []
        for spec in matrix:
            entry = by_id.pop(spec.run_id, None) or RunStatus(spec.run_id, PENDING, name=spec.name,
                                                              note=launched.get(spec.run_id))
            entry.index, entry.name = spec.index, entry.name or spec.name
            ordered.append(entry)
        extra = list(by_id.values())
        for entry in extra:
            if entry.status != MISPLACED:
                entry.note = (entry.note + "; " if entry.note else "") + "not in this recipe's matrix"
        return Status(results_dir, ordered + extra)

    for run_id, note in launched.items():
        if run_id not in by_id:
            by_id[run_id] = RunStatus(run_id, PENDING, note=note)
    return Status(results_dir, list(by_id.values()))


def format_table(status: Status) -> str:
    """The status as a table for people, counts first."""
    counts = status.counts()
    lines = [f"{status.results_dir}: {status.total()} runs: "
             + ", ".join(f"{n} {state}" for state, n in counts.items() if state != MISPLACED)]
    if counts.get(MISPLACED):
        lines[0] += f"; {counts[MISPLACED]} misplaced (a copy of a run, or a renamed folder: not counted)"
    if not status.runs:
        return lines[0]
    has_index = any(run.index is not None for run in status.runs)
    width = max([len(run.name or "") for run in status.runs] + [4])
    header = (f"{'index':>5}  " if has_index else "") + f"{'run_id':12}  {'name':{width}}  {'status':10}  " \
        f"{'job':14}  detail"
    lines += ["", header]
    for run in status.runs:
        job = run.job or {}
        job_text = ""
        if job.get("job_id") is not None:
            job_text = f"{job.get('scheduler') or ''}:{job.get('job_id')}"
        detail = run.failure_reason if run.status == FAILED else (run.note or run.updated or "")
        if run.status == FAILED and run.note:
            detail = f"{detail} ({run.note})"
        index = (f"{run.index:>5}  " if run.index is not None else f"{'':>5}  ") if has_index else ""
        lines.append(f"{index}{run.run_id:12}  {run.name or '':{width}}  {run.status:10}  {job_text:14}  "
                     f"{_one_line(detail)}")
    return "\n".join(lines)


def _one_line(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= 120 else text[:117] + "..."
