"""Which runs of the matrix a launch submits: the idempotence rules, and the launch ledger.

- a completed record whose evaluation has the settings asked for: never submitted again; with other evaluation
  settings it is submitted to be re-evaluated (``robustperf run`` never retrains a completed run);
- a record saying running or preempted whose job is still alive (asked of its executor: SLURM's squeue, LSF's
  bjobs, a local run's pid on this host), or a run of a job that an earlier launch submitted and the scheduler
  still lists: not duplicated;
- anything else (no record, failed, preempted or running but its job is gone): submitted; the run resumes from
  its checkpoint where it has one.

Each launch writes ``<results>/_launch/<name>-<time>/launch.json`` (the ledger: job ids and the run ids they
carry), so a second launch also sees runs that are still pending in the queue and have no record yet. A local
launch writes one too before it starts, its "job" being the launcher process (``local:<host>:<pid>:<start>``):
while that process lives, the runs it has not finished are in flight for every other launcher. A run whose
lock (``results.lock``) a live process holds is in flight too, whatever launched it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from results import COMPLETED, FAILED, PREEMPTED, RUNNING, RecordError, load_record
from results.io import atomic_write_text
from results.lock import HEARTBEAT_SECONDS, LOCK_FILE, STALE_AFTER_SECONDS, lock_holder, lock_verdict, shown
from results.pricing import refresh

from .backends import QUEUES, find_executor
from .errors import LaunchError

#: scheduler name -> ``alive_jobs(job_ids)``: a set of the ids still queued or running, or None when it cannot tell
Queues = Mapping[str, Callable[[Sequence[str]], Optional[Set[str]]]]

LAUNCH_DIR = "_launch"
LEDGER = "launch.json"


@dataclass
class Plan:
    """The matrix entries of one launch, sorted by what happens to them."""

    submit: List[Any] = field(default_factory=list)
    completed: List[Any] = field(default_factory=list)
    in_flight: List[Tuple[Any, str]] = field(default_factory=list)  # (run, why we think it is alive)
    failed: List[Any] = field(default_factory=list)                 # failed before; submitted again
    resumed: List[Any] = field(default_factory=list)                # running record, job gone; resubmitted
    reevaluate: List[Any] = field(default_factory=list)             # completed with other evaluation settings
    #: completed runs whose record the launch updates in place, no job: (run, updated record, what changed) -
    #: a stored evaluation with the asked settings becomes the headline, other pricing constants re-price
    refreshed: List[Tuple[Any, Dict[str, Any], List[str]]] = field(default_factory=list)
    unreadable: List[Tuple[Any, str]] = field(default_factory=list)  # broken record; submitted again

    def summary(self) -> str:
        parts = [f"{len(self.submit)} to run"]
        if self.completed:
            parts.append(f"{len(self.completed)} already completed")
        if self.in_flight:
            parts.append(f"{len(self.in_flight)} still queued or running")
        if self.failed:
            parts.append(f"{len(self.failed)} failed before (retried)")
        if self.resumed:
            parts.append(f"{len(self.resumed)} interrupted (resumed)")
        if self.reevaluate:
            parts.append(f"{len(self.reevaluate)} completed with other evaluation settings (re-evaluated)")
        if self.refreshed:
            parts.append(f"{len(self.refreshed)} completed, updated in place (stored evaluation or new prices)")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} with unreadable records (rerun)")
        return ", ".join(parts)


def plan_launch(runs: Sequence[Any], results_dir: str, queues: Optional[Queues] = None,
                scheduler: Optional[str] = None) -> Plan:
    """Sort ``runs`` (RunSpecs) into a :class:`Plan`.

    Args:
        runs: the selected matrix entries.
        results_dir: where the records are.
        queues: the queues to ask which jobs are alive (default: every registered executor's ``alive_jobs``;
            ``{}`` asks none, so only local processes and run locks count).
        scheduler: the scheduler of this launch (named in the error when another scheduler's queue fails).

    Raises:
        LaunchError: a queue that fails or times out (any scheduler's: never read as "nothing alive").
    """
    queues = QUEUES if queues is None else queues
    plan = Plan()
    running: List[Tuple[Any, Dict[str, Any]]] = []
    for run in runs:
        try:
            record = load_record(results_dir, run.run_id)
        except RecordError as err:
            plan.unreadable.append((run, err.reason))
            continue
        if record is None:
            continue
        status = record.get("status")
        if status == COMPLETED:
            updated, changes, needs_evaluation = refresh(record, run.config or {})
            if needs_evaluation:
                plan.reevaluate.append(run)
            else:
                plan.completed.append(run)
                if changes:
                    plan.refreshed.append((run, updated, changes))
        elif status in (RUNNING, PREEMPTED):
            running.append((run, record))
        elif status == FAILED:
            plan.failed.append(run)
    done = {r.run_id for r in plan.completed}

    # Runs a still-alive job of an earlier launch carries (queued, maybe without a record yet), whatever
    # scheduler it went to: a local launcher still working through its list counts like a queued array.
    queued: Dict[str, str] = {}
    ledgers = [ledger for ledger in read_ledgers(results_dir) if not ledger.get("finished")]
    ids_by: Dict[str, List[str]] = {}
    for ledger in ledgers:
        ids_by.setdefault(str(ledger.get("scheduler")), []).extend(
            str(job["job_id"]) for job in ledger.get("jobs", []) if isinstance(job, dict) and job.get("job_id"))
    alive_by: Dict[str, Set[str]] = {}
    for sched, ids in ids_by.items():
        # A queue that fails or does not answer is never "nothing alive", whichever scheduler this launch uses:
        # its runs would start a second time. (One whose command is missing here cannot be asked: None.)
        try:
            alive_by[sched] = _ask(queues.get(sched), ids) or set()
        except LaunchError as err:
            if sched == scheduler:
                raise
            raise LaunchError(f"{err.message}: cannot tell whether the runs an earlier {sched} launch submitted "
                              f"are still queued or running, so this {scheduler or 'launch'} launch would start "
                              f"them a second time; launch again when {sched} answers",
                              command=err.command, stderr=err.stderr, returncode=err.returncode) from None
    failed_ids = {r.run_id for r in plan.failed}
    for ledger in ledgers:
        sched = str(ledger.get("scheduler"))
        runs_here = _runs_here(sched)
        for job in ledger.get("jobs", []):
            if not isinstance(job, dict) or str(job.get("job_id")) not in alive_by.get(sched, ()):
                continue
            for run_id in job.get("run_ids", []):
                if runs_here and run_id in failed_ids:
                    continue  # a launcher running its runs itself does not retry one that failed: a new launch may
                what = "launcher" if runs_here else "job"
                queued.setdefault(run_id, f"{sched} {what} {job['job_id']} is queued or running")

    live_record = live_running(running, queues)
    # A live process holding the run's lock (results.lock) is running it, whatever its record says.
    for run in runs:
        if run.run_id not in done and run.run_id not in live_record:
            why = lock_in_flight(os.path.join(results_dir, run.run_id))
            if why:
                live_record[run.run_id] = why

    running_ids = {r.run_id for r, _ in running}
    for run in runs:
        if run.run_id in done:
            continue
        why = live_record.get(run.run_id) or queued.get(run.run_id)
        if why:
            plan.in_flight.append((run, why))
            continue
        if run.run_id in running_ids:
            plan.resumed.append(run)
        plan.submit.append(run)
    flying = {run.run_id for run, _ in plan.in_flight}
    plan.failed = [r for r in plan.failed if r.run_id not in flying]
    return plan


def _runs_here(scheduler: Optional[str]) -> bool:
    cls = find_executor(scheduler)
    return bool(cls and cls.runs_here)


def live_running(running: Sequence[Tuple[Any, Dict[str, Any]]], queues: Queues) -> Dict[str, str]:
    """Of ``(run, record)`` pairs whose record says running: run_id -> why its job is alive, for the live ones.

    Each record's executor says (:meth:`~launchers.core.Executor.running_record_alive`): a scheduler's jobs are
    asked of its queue in ``queues`` (one query per scheduler), a local run by its pid on this host. A scheduler
    that cannot be asked (its command missing, or no installed package registers it) counts as "not alive": the
    run is resumed.
    """
    by_scheduler: Dict[Optional[str], List[Tuple[Any, Dict[str, Any]]]] = {}
    for run, record in running:
        job = record.get("job") or {}
        by_scheduler.setdefault(job.get("scheduler"), []).append((run, job))
    live: Dict[str, str] = {}
    for sched, jobs in by_scheduler.items():
        cls = find_executor(sched)
        if cls is None:
            continue
        rec_ids = [i for _, job in jobs for i in cls.record_job_ids(job)]
        alive_ids = (_ask(queues.get(sched), rec_ids) if rec_ids else None) or set()
        for run, job in jobs:
            why = cls.running_record_alive(job, alive_ids)
            if why:
                live[run.run_id] = why
    return live


def lock_in_flight(run_dir: str, name: str = LOCK_FILE) -> Optional[str]:
    """Why the run in ``run_dir`` is in flight by its lock (a live, not stale holder, or an unreadable lock young
    enough to be still being written), or None."""
    holder = lock_holder(os.path.join(run_dir, name))
    if holder is None:
        return None
    verdict = lock_verdict(holder, STALE_AFTER_SECONDS, HEARTBEAT_SECONDS)
    if verdict.stale:
        return None
    what = "run lock" if name == LOCK_FILE else name
    if "unreadable" in holder:
        return f"its {what} is {verdict.why}"
    return f"process {holder['pid']} on {shown(holder['host'])} holds its {what}"


def _ask(checker: Any, ids: Sequence[str]) -> Optional[Set[str]]:
    if checker is None or not ids:
        return set() if not ids else None
    return checker(ids)


def read_ledgers(results_dir: str, scheduler: Optional[str] = None) -> Iterable[Dict[str, Any]]:
    """The ledgers of earlier launches into ``results_dir`` (of ``scheduler`` only, when given)."""
    root = os.path.join(results_dir, LAUNCH_DIR)
    if not os.path.isdir(root):
        return
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry, LEDGER)
        try:
            with open(path, encoding="utf-8") as fh:
                ledger = json.load(fh)
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(ledger, dict) and (scheduler is None or ledger.get("scheduler") == scheduler):
            yield ledger


def write_ledger(folder: str, ledger: Dict[str, Any]) -> str:
    path = os.path.join(folder, LEDGER)
    atomic_write_text(path, json.dumps(ledger, separators=(",", ":")) + "\n")
    return path
