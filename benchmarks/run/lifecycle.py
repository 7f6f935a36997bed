"""The result record of one run through its states (running -> completed / failed / preempted), and the job
identity it records."""
from __future__ import annotations

import os
import socket
import sys
from typing import Any, Dict, Optional

from launchers.backends import job_environment
from results import COMPLETED, FAILED, PREEMPTED, RUNNING, Job, load_record, new_record, write_record
from results.keys import FAILURE_REASON, JOB, STATUS, TRACKING

from .folder import remove_stale_temp_files, run_dir_of

__all__ = ["RunLifecycle", "job_info"]


def job_info(env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The record's ``job`` group (without ``attempts``): the executor whose variables ``env`` holds (SLURM, LSF,
    ... each backend recognises its own: :func:`launchers.backends.job_environment`), this host and process."""
    return {**job_environment(os.environ if env is None else env), "host": socket.gethostname(), "pid": os.getpid()}


class RunLifecycle:
    """The result record of one run through its states: running -> completed / failed / preempted.

    Owns every transition (each written atomically, by rank 0 only) and the tracker's shutdown, which every
    way out of a run passes through exactly once.
    """

    def __init__(self, spec, results_dir: str, *, recipe_name: Optional[str] = None, is_main: bool = True):
        self.spec, self.results_dir, self.is_main = spec, results_dir, is_main
        self.run_dir = run_dir_of(results_dir, spec.run_id)
        record = load_record(results_dir, spec.run_id)
        self.record = record if record is not None else new_record(spec.run_id, spec.name, spec.config,
                                                                   recipe=recipe_name)
        self.tracker = None
        self._tracker_done = False

    def write(self, *, quiet: bool = False) -> None:
        if not self.is_main:
            return
        try:
            write_record(self.results_dir, self.record)
        except OSError as err:
            if not quiet:
                raise
            # the disk that broke the run refuses this too: report the first error, not this one
            print(f"robustperf run: could not write the record: {err}", file=sys.stderr, flush=True)

    def start(self) -> None:
        """-> running, with this job's identity and ``job.attempts`` + 1."""
        if self.is_main:
            os.makedirs(self.run_dir, exist_ok=True)
            remove_stale_temp_files(self.run_dir)
        attempts = (self.record[JOB].get("attempts") or 0) + 1
        self.record[JOB] = Job(**job_info(), attempts=attempts).to_dict()
        self._become(RUNNING)

    def fail(self, reason: str) -> None:
        """-> failed with ``reason`` (a write error here is reported, not raised over the run's own error)."""
        self._become(FAILED, reason, quiet=True)

    def preempt(self) -> None:
        """-> preempted: the state is saved; the launcher resumes the run."""
        self._become(PREEMPTED)

    def complete(self) -> None:
        """-> completed."""
        if self.tracker is not None:
            self.record[TRACKING] = self.tracker.record_fields()
        self._become(COMPLETED)

    def _become(self, status: str, reason: Optional[str] = None, quiet: bool = False) -> None:
        self.record[STATUS], self.record[FAILURE_REASON] = status, reason
        self.write(quiet=quiet)
        if status != RUNNING:
            self.close_tracker()

    def close_tracker(self) -> None:
        if self.tracker is not None and not self._tracker_done:
            self._tracker_done = True
            self.tracker.finish(self.record)
