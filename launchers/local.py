"""Local backend: run the matrix on this machine, ``max_parallel`` tasks at a time.

Each task is a child process (``robustperf run RECIPE --index <i> ...``) writing to its own log file under
the launch folder; one progress bar counts finished runs. Ctrl-C (or SIGTERM to the launcher) stops cleanly:
every child gets SIGTERM, checkpoints and exits, and a relaunch resumes where they stopped. Children run in
their own session so the terminal's Ctrl-C reaches only the launcher, which then signals them itself.
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set

from results.io import open_append

from .core import Executor, Job

try:
    from tqdm import tqdm
except ImportError:  # optional: the progress bar is left out
    tqdm = None

#: seconds the children get to checkpoint after SIGTERM before they are killed
STOP_GRACE_S = 120.0


#: Thread-pool sizes every BLAS/OpenMP runtime torch may use reads at start-up.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_run(parallel: int) -> int:
    """Cores available to this process divided among ``parallel`` concurrent runs (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, parallel))


class LocalExecutor(Executor):
    """Runs the tasks as child processes of this one."""

    name = "local"
    # Only the throttle applies on a workstation; the other generic parameters are scheduler requests.
    _equivalence_dict: Dict[str, str] = {"max_parallel": "processes at once"}
    runs_here = True

    @classmethod
    def alive_jobs(cls, job_ids: Sequence[str]) -> Optional[set]:
        """Local launchers (ledger ids) still running on this host."""
        return local_alive(job_ids)

    @classmethod
    def record_job_ids(cls, job: Mapping[str, Any]) -> List[str]:
        return []  # a local run is known by its process, not by a job id

    @classmethod
    def running_record_alive(cls, job: Mapping[str, Any], alive_ids: Set[str]) -> Optional[str]:
        """A local run is alive while its process on this host is."""
        if job.get("host") in (None, socket.gethostname()) and pid_alive(job.get("pid")):
            return f"pid {job.get('pid')} on this host is running it"
        return None

    def launcher_job_id(self) -> Optional[str]:
        return None if self.dry_run else local_job_id()

    def planned_commands(self, job: Job) -> List[str]:
        return [shlex.join(self.command.argv(index)) for index in job.indices]

    def log_path(self, index: int) -> str:
        return os.path.join(self.folder, "logs", f"run-{index}.log")

    def _submit_array(self, indices: List[int]) -> List[Job]:
        job = Job(self.name, list(indices), script=None, command=self.command.argv(indices[0]))
        self.jobs.append(job)
        if self.dry_run:
            return [job]
        limit = max(1, int(self.parameters["max_parallel"]))
        pending = list(indices)
        running: Dict[int, subprocess.Popen] = {}
        bar = _progress(len(indices), self.job_name)
        failed = 0
        previous = _sigterm_as_interrupt()
        try:
            while pending or running:
                while pending and len(running) < limit:
                    index = pending.pop(0)
                    running[index] = self._start(index)
                for index, proc in list(running.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    del running[index]
                    job.returncodes[index] = code
                    failed += code != 0
                    bar.update(1)
                    bar.set_postfix_str(f"failed {failed}" if failed else "")
                if running:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            bar.close()
            self._stop(running, job)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            bar.close()
        return [job]

    def _start(self, index: int) -> subprocess.Popen:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # K runs share this machine's cores: give each its share of intra-op threads. Small adversarial
        # steps with more threads than free cores spin instead of working (10-20x slower measured here).
        share = str(threads_per_run(int(self.parameters["max_parallel"])))
        for var in THREAD_VARS:
            env.setdefault(var, share)
        with open_append(self.log_path(index), root=self.folder) as log:  # never through a link
            return subprocess.Popen(self.command.argv(index), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                    cwd=self.command.workdir)

    def _stop(self, running: Dict[int, subprocess.Popen], job: Job) -> None:
        """SIGTERM every child (it checkpoints), wait for them, SIGKILL after the grace period or a 2nd Ctrl-C."""
        if not running:
            return
        print(f"stopping {len(running)} run(s): they checkpoint and a relaunch resumes them", file=sys.stderr)
        for proc in running.values():
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while running:
            try:
                for index, proc in list(running.items()):
                    remaining = max(0.0, deadline - time.monotonic())
                    try:
                        job.returncodes[index] = proc.wait(timeout=min(0.5, remaining) or 0.01)
                        del running[index]
                    except subprocess.TimeoutExpired:
                        if remaining <= 0:
                            _signal(proc, signal.SIGKILL)
            except KeyboardInterrupt:
                print("killing the runs now", file=sys.stderr)
                for proc in running.values():
                    _signal(proc, signal.SIGKILL)
                deadline = time.monotonic()


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _sigterm_as_interrupt():
    """SIGTERM to the launcher stops it like Ctrl-C (e.g. a launcher itself running inside a batch job)."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return signal.getsignal(signal.SIGTERM)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str):
    if tqdm is None:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True)


def _process_start(pid: int) -> Optional[str]:
    """Start time of ``pid`` in clock ticks since boot (Linux /proc), telling a reused pid apart."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def local_job_id(pid: Optional[int] = None) -> str:
    """The ledger id of a local launcher process: ``local:<host>:<pid>:<start time>``."""
    pid = os.getpid() if pid is None else int(pid)
    return f"local:{socket.gethostname()}:{pid}:{_process_start(pid) or '?'}"


def local_alive(job_ids: Sequence[str]) -> set:
    """The local launcher ids (:func:`local_job_id`) whose process still runs on this host.

    A launcher on another host cannot be asked: its queued runs are not seen (a running one is, by its lock).
    """
    host = socket.gethostname()
    alive = set()
    for job_id in job_ids:
        parts = str(job_id).split(":")
        if len(parts) != 4 or parts[0] != "local" or parts[1] != host or not parts[2].isdigit():
            continue
        pid = int(parts[2])
        if not pid_alive(pid, marker=""):
            continue
        if parts[3] != "?" and _process_start(pid) not in (None, parts[3]):
            continue  # the pid now belongs to another process
        alive.add(job_id)
    return alive


def pid_alive(pid: Optional[int], marker: str = "robustperf") -> bool:
    """Whether ``pid`` is a live process on this host that looks like a robustperf run."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OverflowError, ValueError):
        return False
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as fh:
            return marker.encode() in fh.read()
    except OSError:
        return True  # no /proc (macOS): the pid exists, assume it is ours
