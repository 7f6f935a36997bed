"""Launch a recipe's run matrix: plan (skip what is done or in flight), write scripts, submit or run.

Every task runs ``python -m robustperf run /abs/RECIPE --index <i> --results /abs/DIR [--set K=V ...]`` with
the same overrides as the launch, so the matrix, and its indices, are the same in every task.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from recipes.files import check_output_folder
from results import RECORD_FILE, make_folder, write_record
from results.migrate import migrate

from .backends import get_executor
from .core import Executor, Job, TaskCommand, parse_indices
from .errors import LaunchError
from .plan import LAUNCH_DIR, Plan, plan_launch, write_ledger


@dataclass
class LaunchResult:
    """What a launch did: the plan, the launch folder, the executor and the jobs (submitted, planned or run)."""

    plan: Plan
    scheduler: str
    folder: Optional[str] = None
    executor: Optional[Executor] = None  # None when the plan left nothing to submit
    jobs: List[Job] = field(default_factory=list)
    dry_run: bool = False
    results_dir: str = ""
    warnings: List[str] = field(default_factory=list)


def task_command(recipe_path: str, results_dir: str, overrides: Sequence[str], python: Optional[str] = None,
                 gpus: int = 0, setup: Sequence[str] = (), workdir: Optional[str] = None,
                 nodes: int = 1) -> TaskCommand:
    """``robustperf run`` of one matrix index, with absolute paths and the launch's ``--set`` overrides.

    The program: ``python`` when given; else, after setup lines (``module load``, ``source venv/bin/activate``),
    the ``robustperf`` (``torchrun`` for several GPUs) those lines put on PATH; else this interpreter. With more
    than one GPU per run the run starts under torchrun (one process per GPU, one node), which passes SIGTERM,
    not SIGUSR1, on to its workers: the scripts then send TERM for either signal. ``workdir`` is where the task
    runs (the launch's working directory, against which relative data paths resolve). With ``nodes`` above 1
    every node starts one torchrun (``--nnodes``, ``--nproc_per_node`` = its GPUs, at least one process), and
    the torchruns meet at the c10d rendezvous the job script names (:data:`launchers.core.RENDEZVOUS_WORDS`).
    """
    after: List[str] = ["--results", os.path.abspath(results_dir)]
    for item in overrides:
        after += ["--set", str(item)]
    recipe = os.path.abspath(recipe_path)
    from_path = python is None and bool(setup)
    python = python or sys.executable
    if nodes > 1:
        launcher = ("torchrun",) if from_path else (python, "-m", "torch.distributed.run")
        return TaskCommand(before=(*launcher, f"--nnodes={int(nodes)}", f"--nproc_per_node={max(1, int(gpus))}",
                                   "-m", "robustperf", "run", recipe), after=tuple(after), stop_signal="TERM",
                           workdir=workdir, rendezvous_at=len(launcher) + 2)
    if gpus > 1:
        launcher = ("torchrun",) if from_path else (python, "-m", "torch.distributed.run")
        return TaskCommand(before=(*launcher, "--standalone", f"--nproc_per_node={int(gpus)}", "-m", "robustperf",
                                   "run", recipe), after=tuple(after), stop_signal="TERM", workdir=workdir)
    program = ("robustperf",) if from_path else (python, "-m", "robustperf")
    return TaskCommand(before=(*program, "run", recipe), after=tuple(after), workdir=workdir)


def relative_data_warnings(runs: Sequence[Any], workdir: str) -> List[str]:
    """One line per relative ``data.root`` / ``data.synthetic`` of ``runs`` that is missing under ``workdir``."""
    seen, out = set(), []
    for run in runs:
        data = run.config.get("data", {})
        for key in ("root", "synthetic"):
            path = data.get(key)
            if not path or os.path.isabs(path) or (key, path) in seen:
                continue
            seen.add((key, path))
            full = os.path.join(workdir, path)
            if not os.path.exists(full):
                out.append(f"data.{key} {path!r} is relative to the launch directory and {full} does not exist "
                           f"here; the runs will look for it there")
    return out


def new_launch_folder(results_dir: str, name: str) -> str:
    """``<results>/_launch/<name>-<UTC time>[-n]``, created (a new folder, never one that exists; ``_launch``
    must be a real folder of the results folder, not a link)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = os.path.join(results_dir, LAUNCH_DIR, f"{re.sub(r'[^A-Za-z0-9_.+-]', '_', name)[:60]}-{stamp}")
    make_folder(os.path.dirname(base), root=results_dir)
    for n in range(1000):
        folder = base if n == 0 else f"{base}-{n}"
        try:
            os.makedirs(folder)
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a launch folder beside {base}")


def check_migrated(results_dir: str, submit: Sequence[Any]) -> None:
    """Refuse to train again a run that a folder of an older identity rule holds (``robustperf migrate`` first).

    Raises:
        LaunchError: some run to submit is, under today's rule, a run folder written under an older one.
    """
    if not submit or not os.path.isdir(results_dir):
        return
    wanted = {run.run_id for run in submit}
    names = [n for n in os.listdir(results_dir) if not n.startswith(("_", ".")) and n not in wanted
             and os.path.isfile(os.path.join(results_dir, n, RECORD_FILE))]
    if not names:
        return
    pending = migrate(results_dir, dry_run=True)
    stale = [(old, new) for old, new in pending.moves if new in wanted]
    stale += [(", ".join(olds), new) for new, olds in pending.merges if new in wanted]
    if stale:
        old, new = stale[0]
        raise LaunchError(f"{results_dir} holds {len(stale)} run(s) written under an older run-identity rule (folder "
                          f"{old} is run {new} today); launching would train them again. Run `robustperf migrate "
                          f"{results_dir}` first (--dry-run shows the plan)")


def launch(recipe: Any, *, scheduler: Optional[str] = None, results_dir: Optional[str] = None,
           indices: Optional[str] = None, dry_run: bool = False, overrides: Sequence[str] = (),
           parameters: Optional[Dict[str, Any]] = None, python: Optional[str] = None) -> LaunchResult:
    """Submit (or run) the runs of ``recipe`` that are neither completed nor in flight.

    Args:
        recipe: a loaded :class:`recipes.Recipe`; its ``launch`` section gives the defaults.
        scheduler: a registered executor, ``local``, ``slurm``, ``lsf``, ... (default: the recipe's).
        results_dir: where records go (default: the recipe's ``launch.results``).
        indices: part of the matrix, e.g. ``'0-9,15'`` (default: all of it).
        dry_run: write the scripts, submit nothing.
        overrides: the ``--set`` overrides the recipe was loaded with, passed to every task.
        parameters: extra executor parameters (e.g. ``max_array_size``), over the launch section's.
        python: interpreter of the tasks (default: this one).

    Raises:
        LaunchError: bad ``indices`` or a scheduler that refuses a job (message has command and stderr).
    """
    cfg = recipe.launch
    scheduler = scheduler or cfg.scheduler
    executor_cls = get_executor(scheduler)
    nodes = int((parameters or {}).get("nodes", cfg.nodes) or 1)
    if nodes > 1 and executor_cls.runs_here:
        raise LaunchError(f"launch.nodes is {nodes} but the {scheduler} executor runs here, on one node: launch "
                          f"several nodes through a batch scheduler (--scheduler slurm or lsf)")
    results_dir = os.path.abspath(results_dir or cfg.results)
    check_output_folder(results_dir, "results directory",  # a FIFO, device or file: refused before any work
                        error=lambda reason: LaunchError(f"{results_dir}: {reason}"))
    if indices is not None:  # built one by one: a part of a huge matrix never builds the rest
        selected = [recipe.run(i) for i in parse_indices(indices, recipe.count())]
    else:
        selected = list(recipe.runs())

    plan = plan_launch(selected, results_dir, scheduler=scheduler)
    check_migrated(results_dir, plan.submit)
    if not dry_run:  # completed runs that need no job: a stored evaluation or new prices, written in place
        for _, updated, _ in plan.refreshed:
            write_record(results_dir, updated)
    result = LaunchResult(plan=plan, scheduler=scheduler, dry_run=dry_run, results_dir=results_dir)
    if not plan.submit:
        return result

    workdir = os.getcwd()
    result.warnings = relative_data_warnings(plan.submit, workdir)
    folder = _writable(results_dir, lambda: new_launch_folder(results_dir, recipe.name))
    params = {"job_name": recipe.name, **(parameters or {})}
    gpus = int(params.get("gpus_per_node", cfg.gpus_per_run) or 0)
    setup = tuple(params.get("setup", cfg.setup) or ()) if not executor_cls.runs_here else ()
    command = task_command(recipe.path, results_dir, overrides, python, gpus=gpus, setup=setup, workdir=workdir,
                           nodes=nodes)
    executor = executor_cls(folder, command, dry_run=dry_run, name=scheduler)
    executor.update_from_launch_config(cfg)
    executor.update_parameters(**params)
    result.folder, result.executor = folder, executor
    by_index = {run.index: run for run in plan.submit}
    ledger: Dict[str, Any] = {
        "scheduler": scheduler, "recipe": os.path.abspath(recipe.path), "name": recipe.name,
        "overrides": list(overrides), "results": results_dir, "dry_run": dry_run,
        "parameters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in executor.parameters.items()},
        "jobs": [],
    }
    local_id = executor.launcher_job_id()
    if local_id:
        # Written before the first run starts: another launcher sees these runs as in flight meanwhile.
        ledger["jobs"] = [{"scheduler": scheduler, "job_id": local_id, "array": 0, "link": 0, "depends_on": None,
                           "indices": sorted(by_index), "script": None, "command": None,
                           "run_ids": [by_index[i].run_id for i in sorted(by_index)]}]
        _writable(results_dir, lambda: write_ledger(folder, ledger))
    try:
        result.jobs = _writable(results_dir, lambda: executor.map_array(sorted(by_index)))
    finally:
        # Written even when a later submission fails, so the jobs already queued are not submitted twice.
        jobs = result.jobs = list(executor.jobs)
        if not executor.runs_here:
            ledger["jobs"] = [dict(job.to_json(), run_ids=[by_index[i].run_id for i in job.indices])
                              for job in jobs]
            _writable(results_dir, lambda: write_ledger(folder, ledger))
        for job in jobs:
            if local_id and job.job_id is None:
                job.job_id = local_id
        if local_id:  # done (or interrupted): this process may launch again, so its pid must not count
            ledger["finished"] = True
            with contextlib.suppress(OSError):
                write_ledger(folder, ledger)
    return result


def _writable(results_dir: str, action):
    """Run ``action``; a file-system refusal (disk full, read-only, no permission) becomes one clear line."""
    try:
        return action()
    except OSError as err:
        where = err.filename or results_dir
        raise LaunchError(f"cannot write under the results directory {results_dir}: {where}: "
                          f"{err.strerror or err} (free space, permissions, or choose another with --results)"
                          ) from None
