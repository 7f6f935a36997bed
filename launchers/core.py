"""One ``Executor`` interface for running the run matrix: locally, as SLURM arrays or as LSF arrays.

Modelled on ``submitit/core/core.py``: the public methods are :meth:`Executor.submit` (one matrix index)
and :meth:`Executor.map_array` (many); a batch-scheduler backend fills in only three small hooks,
``_make_submission_file_text`` (the job script of one array), ``_make_submission_command`` (the argv that
submits it, optionally after another job) and ``_get_job_id_from_submission_command`` (parse the job id
from the scheduler's answer). Generic resource names (``timeout_min``, ``gpus_per_node``, ...) map to
scheduler flags through each backend's ``_equivalence_dict``. What the launcher, the idempotence checks and
``status`` need to know of a backend is asked of its class too (:meth:`Executor.alive_jobs`,
:meth:`Executor.record_job_ids`, :attr:`Executor.runs_here`, ...), so a backend is one module and one catalog
entry (:mod:`launchers.catalog`, found by :mod:`launchers.backends`), with no name of it anywhere else.

Every task runs the same command with ``--index <i>`` for its matrix index (``robustperf run RECIPE
--index <i> --results DIR [--set K=V ...]``). Runs longer than the wall-time continue through a chain of
dependent copies of the array: the scheduler signals the task before its limit, the run checkpoints and
exits, the next link resumes it, and a run that already completed exits at once.
"""
from __future__ import annotations

import abc
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from results.io import atomic_write_text, make_folder

from .errors import LaunchError
from .indices import parse_indices  # noqa: F401 - re-exported: launchers.core.parse_indices

#: Generic parameters every executor accepts, with their defaults (see :meth:`Executor.update_parameters`).
DEFAULT_PARAMETERS: Dict[str, Any] = {
    "job_name": "robustperf",     # scheduler job name (sanitised to [A-Za-z0-9_.+-])
    "timeout_min": 60,            # wall-time of one job (one chain link), minutes
    "max_parallel": 2,            # tasks of one array running at once (%K)
    "partition": None,            # SLURM partition / LSF queue
    "account": None,              # account / project charged
    "gpus_per_node": 0,           # GPUs per task (per node of a multi-node task)
    "nodes": 1,                   # nodes per task: above 1, one torchrun per node (c10d rendezvous)
    "cpus_per_task": 1,           # CPU cores per task
    "mem_gb": None,               # memory per task, GB
    "signal_delay_s": 120,        # seconds before the wall-time at which the task is told to checkpoint
    "chain": 0,                   # dependent follow-up links that resume unfinished runs
    "directives": (),             # extra raw scheduler directives, one per line
    "setup": (),                  # shell lines run before the task (module load, venv activation)
    "max_array_size": None,       # split arrays above this many tasks; None = ask the scheduler
}

#: seconds a submission command (sbatch, bsub) may take before the launch gives up on it, like the queries
SUBMIT_TIMEOUT_S = 60.0

_NAME_OK = re.compile(r"[^A-Za-z0-9_.+-]")
#: Partition, queue and account names go into directives unquoted (schedulers parse them), so only plain
#: names are accepted.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.+,:@-]+$")


@dataclass(frozen=True)
class TaskCommand:
    """The command of one task: ``before + ['--index', str(i)] + after``.

    Args:
        before: argv up to the index, e.g. ``[python, '-m', 'robustperf', 'run', '/abs/recipe.yaml']``.
        after: argv after it, e.g. ``['--results', '/abs/results', '--set', 'seed=1']``.
    """

    before: Tuple[str, ...]
    after: Tuple[str, ...] = ()
    #: the signal to send the task to make it checkpoint and stop; None = pass on the one that arrived.
    #: torchrun (multi-GPU runs) dies on SIGUSR1 but forwards SIGTERM to its workers, hence "TERM" there.
    stop_signal: Optional[str] = None
    #: multi-node task: the rendezvous words (:data:`RENDEZVOUS_WORDS`, reading the shell variables the script
    #: sets) go at this position of ``before``; None = a task of one node.
    rendezvous_at: Optional[int] = None
    #: directory the task runs in: the one the user launched from, so relative paths in the recipe
    #: (``data.root``, ``data.synthetic``) mean the same locally, on SLURM and on LSF. None = wherever it starts.
    workdir: Optional[str] = None

    def argv(self, index: int) -> List[str]:
        if self.rendezvous_at is not None:
            raise LaunchError("a multi-node task (launch.nodes > 1) runs only from a batch scheduler's job script")
        return [*self.before, "--index", str(index), *self.after]

    def shell(self, index_expr: str = '"$INDEX"') -> str:
        """The command as one shell line: every word quoted, the index taken from ``index_expr`` (and, for a
        multi-node task, the rendezvous from the script's ``RDZV_*`` variables)."""
        before = [shlex.quote(a) for a in self.before]
        if self.rendezvous_at is not None:
            before[self.rendezvous_at:self.rendezvous_at] = RENDEZVOUS_WORDS
        return " ".join([*before, "--index", index_expr, *(shlex.quote(a) for a in self.after)])


#: torchrun's rendezvous for a multi-node task: c10d, hosted on the job's first node, named by the job; the job
#: script sets RDZV_HOST, RDZV_PORT and RDZV_ID (:meth:`ScriptExecutor._rendezvous_lines`).
RENDEZVOUS_WORDS = ("--rdzv_backend=c10d", '--rdzv_endpoint="$RDZV_HOST:$RDZV_PORT"', '--rdzv_id="$RDZV_ID"')


@dataclass
class Job:
    """One submitted (or, in a dry run, planned) job: an array of matrix indices, one link of its chain.

    ``job_id`` is the scheduler's id (``None`` in a dry run); ``depends_on`` the id of the link before.
    """

    scheduler: str
    indices: List[int]
    array: int = 0
    link: int = 0
    job_id: Optional[str] = None
    depends_on: Optional[str] = None
    script: Optional[str] = None
    command: Optional[List[str]] = None
    returncodes: Dict[int, int] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"scheduler": self.scheduler, "job_id": self.job_id, "array": self.array, "link": self.link,
                "depends_on": self.depends_on, "indices": list(self.indices), "script": self.script,
                "command": self.command}


class Executor(abc.ABC):
    """Runs the tasks of a run matrix, one per matrix index.

    Args:
        folder: launch folder for job scripts and logs (created).
        command: what each task runs (the index is appended as ``--index <i>``).
        dry_run: write the scripts and return the planned jobs without submitting anything.
        name: the scheduler name it was chosen by (its catalog entry's; default: the class's ``name``).
    """

    name = "base"
    #: generic parameter name -> scheduler flag (filled in by each backend).
    _equivalence_dict: Dict[str, str] = {}
    #: The tasks run as children of the launcher, not in a queue: they inherit its environment (the recipe's
    #: setup lines are not run), :meth:`map_array` returns once they have exited, each index runs once (a failed
    #: run is not retried by this launch), and the launcher process itself is their job in the launch ledger.
    runs_here: bool = False
    #: How the scheduler spells one task of an array job, from the array's job id and the task's index.
    array_task_format = "{array}_{task}"

    def __init__(self, folder: str, command: TaskCommand, *, dry_run: bool = False, name: Optional[str] = None):
        self.name = name or type(self).name
        self.folder = os.path.abspath(folder)
        self.command = command
        self.dry_run = dry_run
        self.parameters: Dict[str, Any] = dict(DEFAULT_PARAMETERS)
        #: every job submitted so far (kept when a later submission fails, so callers can record them)
        self.jobs: List[Job] = []

    # ------------------------------------------------------------ parameters

    def update_parameters(self, **kwargs: Any) -> "Executor":
        """Set generic parameters (see ``DEFAULT_PARAMETERS``); unknown names are refused, listing the valid ones."""
        unknown = sorted(set(kwargs) - set(DEFAULT_PARAMETERS))
        if unknown:
            raise ValueError(f"unknown executor parameter(s) {', '.join(unknown)}; valid: "
                             + ", ".join(sorted(DEFAULT_PARAMETERS)))
        for key in ("partition", "account"):
            value = kwargs.get(key)
            if value is not None and not _PLAIN_NAME.match(str(value)):
                raise LaunchError(f"{key} {value!r} is not a plain scheduler name (letters, digits, _.+,:@-)")
        for key in ("directives", "setup"):
            if key in kwargs:
                lines = tuple(kwargs[key] or ())
                if key == "directives" and any("\n" in d or "\r" in d for d in lines):
                    raise LaunchError("a directive must be one line (got one with a line break)")
                kwargs[key] = lines
        self.parameters.update(kwargs)
        return self

    def update_from_launch_config(self, launch: Any) -> "Executor":
        """Take the generic parameters from a recipe's ``launch:`` section (:class:`recipes.LaunchConfig`)."""
        return self.update_parameters(
            timeout_min=launch.time_min, max_parallel=launch.max_parallel, partition=launch.partition,
            account=launch.account, gpus_per_node=launch.gpus_per_run, cpus_per_task=launch.cpus_per_run,
            nodes=getattr(launch, "nodes", 1), mem_gb=launch.mem_gb, signal_delay_s=launch.signal_seconds,
            chain=launch.chain, directives=launch.directives, setup=launch.setup)

    @property
    def job_name(self) -> str:
        return _NAME_OK.sub("_", str(self.parameters["job_name"]))[:64] or "robustperf"

    # ------------------------------------------------------------ public API

    def submit(self, index: int) -> Job:
        """Run (or submit) the task of one matrix index; returns its first job."""
        return self.map_array([index])[0]

    def map_array(self, indices: Sequence[int]) -> List[Job]:
        """Run (or submit) one task per matrix index; returns every job (all arrays, all chain links)."""
        indices = [int(i) for i in indices]
        if not indices:
            return []
        make_folder(os.path.join(self.folder, "logs"), root=self.folder)  # a link there is refused
        return self._submit_array(indices)

    @abc.abstractmethod
    def _submit_array(self, indices: List[int]) -> List[Job]:
        """Execute or submit the tasks of ``indices``."""

    # ------------------------------------------------------------ alive checks (idempotent launch)

    @classmethod
    def alive_jobs(cls, job_ids: Sequence[str]) -> Optional[set]:
        """The subset of ``job_ids`` still queued or running, or None when this scheduler cannot tell."""
        return None

    @classmethod
    def record_job_ids(cls, job: Mapping[str, Any]) -> List[str]:
        """The ids naming the job of a record (its ``job`` group), in every form :meth:`alive_jobs` may answer."""
        ids: List[str] = []
        if job.get("job_id") not in (None, ""):
            ids.append(str(job["job_id"]))
        array_id, task = job.get("array_job_id"), job.get("array_task_id")
        if array_id not in (None, "") and task not in (None, ""):
            ids.append(cls.array_task_format.format(array=array_id, task=task))
        return ids

    @classmethod
    def running_record_alive(cls, job: Mapping[str, Any], alive_ids: Set[str]) -> Optional[str]:
        """Why the job of a record that says running still runs it (``alive_ids``: what :meth:`alive_jobs`
        answered for :meth:`record_job_ids`), or None when it is gone."""
        hit = next((i for i in cls.record_job_ids(job) if i in alive_ids), None)
        return f"{job.get('scheduler')} job {hit} is running it" if hit else None

    @classmethod
    def job_from_environment(cls, env: Mapping[str, str]) -> Optional[Dict[str, Optional[str]]]:
        """The record's job ids (``job_id``, ``array_job_id``, ``array_task_id``) when ``env`` is the environment
        of a task this scheduler started, else None."""
        return None

    def launcher_job_id(self) -> Optional[str]:
        """The ledger id of this launch when the launcher process is the job of its runs (:attr:`runs_here`)."""
        return None

    def planned_commands(self, job: Job) -> List[str]:
        """Shell lines a dry run prints for a planned ``job``: what would be submitted or run."""
        return [shlex.join(job.command)] if job.command else []


class ScriptExecutor(Executor):
    """A batch scheduler: one job script per array, submitted ``chain + 1`` times, each link after the last."""

    #: scheduler-side limit on array size when it cannot be asked
    default_max_array_size = 1000
    #: script file suffix
    script_suffix = ".sh"
    #: feed the script on stdin (``bsub < script``) instead of as an argument
    submit_via_stdin = False

    # -------- hooks filled in by each backend

    @abc.abstractmethod
    def _make_submission_file_text(self, indices: List[int]) -> str:
        """The job script of one array over ``indices`` (array task k runs matrix index ``indices[k]``)."""

    def _rendezvous_lines(self) -> List[str]:
        """Bash lines of a multi-node task that set ``RDZV_HOST`` (the first node), ``RDZV_PORT`` and ``RDZV_ID``
        (one per task) and ``NODE_LAUNCH`` words; the command then runs as ``"${NODE_LAUNCH[@]}" torchrun ...``,
        once per node."""
        raise LaunchError(f"the {self.name} executor cannot start a run on several nodes (launch.nodes > 1)")

    #: how the script passes a stop signal ``$1`` on to the run on every node of a multi-node task
    _signal_nodes = 'kill -s "$1" "$child" 2>/dev/null'

    @property
    def nodes(self) -> int:
        return max(1, int(self.parameters.get("nodes") or 1))

    @abc.abstractmethod
    def _make_submission_command(self, script: str, depends_on: Optional[str]) -> List[str]:
        """The argv submitting ``script``, after job ``depends_on`` has ended when given."""

    @staticmethod
    @abc.abstractmethod
    def _get_job_id_from_submission_command(output: str) -> str:
        """The job id in the submission command's stdout; raises LaunchError when there is none."""

    @classmethod
    def task_environment(cls, array_job_id: str, position: int) -> Dict[str, str]:
        """The variables the scheduler sets in task ``position`` (0-based) of array job ``array_job_id``: what
        the script reads to find its matrix index (run a script by hand with them, as the tests do)."""
        raise NotImplementedError(f"{cls.__name__} does not say which variables its array tasks get")

    def planned_commands(self, job: Job) -> List[str]:
        stdin = f" < {shlex.quote(job.script)}" if self.submit_via_stdin and job.script else ""
        return [f"# submit: (cd {shlex.quote(self.folder)} && {shlex.join(job.command or [])}{stdin})"]

    #: command printing the scheduler's configuration, read by :meth:`_parse_max_array_size` (None: never ask)
    _max_array_size_query: Optional[List[str]] = None

    @classmethod
    def _parse_max_array_size(cls, text: str) -> Optional[int]:
        """The array-size limit in the output of :attr:`_max_array_size_query`, None when absent."""
        return None

    def max_array_size(self) -> int:
        """Largest array the scheduler accepts (the parameter, else the scheduler's answer, else the default)."""
        value = self.parameters.get("max_array_size")
        if value:
            return int(value)
        if self._max_array_size_query:
            try:
                proc = subprocess.run(self._max_array_size_query, capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                proc = None
            if proc is not None and proc.returncode == 0:
                found = self._parse_max_array_size(proc.stdout or "")
                if found:
                    return found
        return self.default_max_array_size

    # -------- the shared machinery

    def _submit_array(self, indices: List[int]) -> List[Job]:
        wall_s, signal_s = int(self.parameters["timeout_min"]) * 60, int(self.parameters["signal_delay_s"])
        if signal_s >= wall_s:
            raise LaunchError(f"the checkpoint signal ({signal_s} s before the wall-time, launch.signal_seconds) "
                              f"must come after the job starts: make it shorter than the wall-time ({wall_s} s, "
                              f"launch.time_min)")
        size = max(1, self.max_array_size())
        chunks = [indices[i:i + size] for i in range(0, len(indices), size)]
        jobs: List[Job] = []
        for number, chunk in enumerate(chunks):
            script = os.path.join(self.folder, f"array-{number:03d}{self.script_suffix}")
            _write_text(script, self._make_submission_file_text(chunk))
            depends_on: Optional[str] = None
            for link in range(int(self.parameters["chain"]) + 1):
                command = self._make_submission_command(script, depends_on)
                job = Job(self.name, chunk, array=number, link=link, depends_on=depends_on, script=script,
                          command=command)
                if self.dry_run:
                    job.job_id = None
                    depends_on = f"<job id of array {number} link {link}>"
                else:
                    job.job_id = self._run_submission(command, script)
                    depends_on = job.job_id
                jobs.append(job)
                self.jobs.append(job)
        return jobs

    def _run_submission(self, command: List[str], script: str) -> str:
        stdin = None
        try:
            if self.submit_via_stdin:
                stdin = open(script, "rb")
            proc = subprocess.run(command, stdin=stdin, capture_output=True, text=True, cwd=self.folder,
                                  timeout=SUBMIT_TIMEOUT_S)
        except FileNotFoundError:
            raise LaunchError(f"{command[0]} not found: is {self.name.upper()} installed and on PATH?",
                              command=command, script=script) from None
        except subprocess.TimeoutExpired:
            raise LaunchError(f"{command[0]} did not answer within {SUBMIT_TIMEOUT_S:.0f} s (the controller is "
                              f"down or overloaded); the job may or may not be queued: check the queue before "
                              f"launching again", command=command, script=script) from None
        finally:
            if stdin is not None:
                stdin.close()
        if proc.returncode != 0:
            raise LaunchError(f"{command[0]} refused the job script", command=command, script=script,
                              stderr=(proc.stderr or proc.stdout), returncode=proc.returncode)
        try:
            return self._get_job_id_from_submission_command(proc.stdout)
        except LaunchError as err:
            raise LaunchError(err.message, command=command, script=script,
                              stderr=(proc.stdout + proc.stderr)) from None

    # -------- pieces shared by the script texts

    def _script_body(self, indices: List[int], position_expr: str) -> List[str]:
        """Bash lines after the directives: index mapping, setup, the task run with signals forwarded."""
        lines: List[str] = []
        setup = list(self.parameters["setup"])
        if setup:
            lines += ["", "# setup (from the recipe's launch.setup)", *setup]
        program = self.command.before[0] if self.command.before else ""
        if program and os.sep not in program:  # looked up on the PATH the setup lines made
            missing = f"robustperf: {program} is not on PATH after the setup lines; install robustperf where they point"
            lines += ["", f"# {program} comes from the environment the setup lines activated.",
                      f"command -v {shlex.quote(program)} >/dev/null 2>&1 || "
                      f"{{ echo {shlex.quote(missing)} >&2; exit 127; }}"]
        if self.command.workdir:
            missing = f"robustperf: cannot enter the launch directory {self.command.workdir}"
            lines += ["", "# Relative paths in the recipe (data.root, data.synthetic) resolve against the directory",
                      "# the launch was made from, as they do locally.",
                      f"cd -- {shlex.quote(self.command.workdir)} || {{ echo {shlex.quote(missing)} >&2; exit 2; }}"]
        procs = max(1, int(self.parameters["gpus_per_node"]))
        threads = max(1, int(self.parameters["cpus_per_task"]) // procs)
        lines += ["", "# Intra-op threads: this task's cores shared by its processes (a user's own setting wins).",
                  f'export OMP_NUM_THREADS="${{OMP_NUM_THREADS:-{threads}}}"']
        lines += ["", "set -u",
                  "# Matrix index of each array task; the task's position in this list comes from the scheduler.",
                  *_bash_array("INDICES", indices),
                  f"INDEX=${{INDICES[{position_expr}]}}"]
        launch_line = self.command.shell('"$INDEX"') + " &"
        signal_child = 'kill -s "$1" "$child" 2>/dev/null'
        if self.command.rendezvous_at is not None:
            signal_child = self._signal_nodes
            lines += ["", *self._rendezvous_lines(),
                      'if [ -z "$RDZV_HOST" ]; then echo "robustperf: cannot tell the first node of the job" >&2; '
                      'exit 2; fi']
            launch_line = '"${NODE_LAUNCH[@]}" ' + launch_line
        lines += [
            "",
            "# The run checkpoints on SIGUSR1/SIGTERM. The scheduler signals this shell, so the run goes in the",
            "# background and the signal is passed on; `wait` returns early on a signal, so wait until it exits, then",
            "# once more for its own status (an interrupted wait returns 128 + the signal, even if the run had ended).",
            "# A signal that comes before the run's pid is known is kept and passed on as soon as it is.",
            'child=""; pending=""',
            f'forward() {{ if [ -n "$child" ]; then {signal_child}; else pending=$1; fi; }}',
            f"trap 'forward {self.command.stop_signal or 'USR1'}' USR1",
            f"trap 'forward {self.command.stop_signal or 'TERM'}' TERM",
            launch_line,
            "child=$!",
            'if [ -n "$pending" ]; then forward "$pending"; fi' if self.command.rendezvous_at is not None else
            'if [ -n "$pending" ]; then kill -s "$pending" "$child" 2>/dev/null; fi',
            'wait "$child"',
            'while kill -0 "$child" 2>/dev/null; do wait "$child"; done',
            'wait "$child"; status=$?',
            'exit "$status"',
            "",
        ]
        return lines


def _bash_array(name: str, values: Sequence[int], width: int = 100) -> List[str]:
    """``NAME=(0 1 2 ...)`` wrapped at ``width`` characters."""
    words = [str(int(v)) for v in values]
    lines: List[str] = []
    current = f"{name}=("
    for word in words:
        if len(current) + len(word) + 2 > width and not current.endswith("("):
            lines.append(current)
            current = "  " + word
        else:
            current += word if current.endswith("(") else " " + word
    lines.append(current + ")")
    return lines


def _write_text(path: str, text: str) -> None:
    atomic_write_text(path, text, mode=0o755)  # never through a link left in the launch folder
