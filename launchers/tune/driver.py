"""The driver of ``robustperf tune``: ask a wave of K trials, launch their runs, tell the study their objectives.

optuna's TPE sampler (multi-objective, Ozaki et al. 2020; ``multivariate=True``, ``constant_liar=True`` so a
wave of K parallel trials spreads out) asks for K trials at a time. Each wave is launched through
:func:`launchers.launch.launch` like any matrix, locally K at a time or as one array of K of a scheduler, so every
trial is an ordinary run folder with its record in the results directory (``collect``/``analyze`` see it). When
a trial's record completes, the driver tells the study its objectives (record fields); a failed run, or one whose
objectives are missing or not finite (diverged), is a failed trial.

A driver killed at any point (even SIGKILL) loses nothing: a rerun finds the trials asked but not told,
recomputes their runs from their parameters (a run's id is a hash of its config), waits for those still running,
relaunches those that stopped (they resume from their checkpoints), and asks new trials only up to
``search.trials`` in all.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from results import COMPLETED, FAILED
from results.lock import RunLock

from ..backends import get_executor
from ..launch import launch
from ..plan import lock_in_flight, plan_launch
from .indicators import REFERENCE_ATTR, record_hypervolume
from .pareto import write_pareto
from .study import (DRIVER_LOCK, REASON_ATTR, RUN_ID_ATTR, TuneError, check_objectives, distributions, open_study,
                    resume_trial, tune_folder)
from .trials import invalid_reason, objectives_of, read_record, run_overrides, trial_run_id, wave_recipe

#: seconds between record polls while runs of a wave are still in flight (in a queue, or a resumed driver's)
POLL_S = 2.0
#: launches of one run before its trial fails (a run that exits without a result twice is not retried again)
MAX_ATTEMPTS = 2


@dataclass
class TuneResult:
    folder: str
    trials: int = 0
    completed: int = 0
    failed: int = 0
    waves: int = 0
    driver_seconds: float = 0.0
    """wall time spent in the driver itself (asking, telling, planning, writing), launches and waits excluded"""
    driver_cpu_seconds: float = 0.0
    """the same in CPU time of the driver process (the runs are other processes and never counted)"""
    launched: List[str] = field(default_factory=list)


def tune(recipe, *, results_dir: Optional[str] = None, trials: Optional[int] = None, scheduler: Optional[str] = None,
         parallel: Optional[int] = None, python: Optional[str] = None, log=print,
         parameters: Optional[Dict[str, Any]] = None, reference: Optional[List[float]] = None) -> TuneResult:
    """Run (or resume) the recipe's search until ``trials`` trials are finished (see the module doc).

    Args:
        recipe: a loaded recipe with a ``search:`` section.
        results_dir: where the runs and the study go (default the recipe's ``launch.results``).
        trials: total trials (default ``search.trials``).
        scheduler: a registered executor, ``local``, ``slurm``, ``lsf``, ... (default ``launch.scheduler``).
        parallel: trials per wave, K (default ``launch.max_parallel``).
        python: interpreter of the runs (default this one).
        log: callable taking a line.
        parameters: extra executor parameters.
        reference: the hypervolume's reference point, one value per objective (kept on the study; default the
            rule of :mod:`launchers.tune.indicators`).

    Raises:
        TuneError: no search section, or a study whose objectives differ.
        RunLocked: another live driver holds the study's lock, ``_tune/<name>/driver.lock`` (exit 75).
    """
    from optuna.trial import TrialState  # optuna deferred: importing launchers.tune must stay cheap

    if recipe.search is None:
        raise TuneError(f"{recipe.path}: no search section; add `search:` with trials, objectives and space "
                        "(see docs/how-to/tune.md)")
    check_objectives(recipe)
    spec = recipe.search
    total = int(trials or spec.trials)
    if total < 1:
        raise TuneError(f"--trials must be >= 1, got {total}")
    results_dir = os.path.abspath(results_dir or recipe.launch.results)
    scheduler = scheduler or recipe.launch.scheduler
    # a launch that runs its runs itself returns when they have exited: their records are read at once
    runs_here = get_executor(scheduler).runs_here
    k = max(1, int(parallel or recipe.launch.max_parallel))
    folder = tune_folder(results_dir, recipe.name)
    started, started_cpu = time.perf_counter(), time.process_time()
    excluded = excluded_cpu = 0.0  # seconds inside launches and waits
    # one driver per study: a second one would tell the first's trials again ("Cannot tell a COMPLETE trial")
    lock = RunLock(folder, name=DRIVER_LOCK, subject=f"study {recipe.name!r} ({folder})",
                   second="a second driver").acquire()
    try:
        study = open_study(recipe, folder)
        if reference is not None:
            study.set_user_attr(REFERENCE_ATTR, [float(v) for v in reference])
        dists = distributions(spec)
        names = spec.objective_names
        out = TuneResult(folder)
        while True:
            existing = study.get_trials(deepcopy=False)
            pending = [t for t in existing if t.state == TrialState.RUNNING]
            asked = []
            while len(pending) + len(asked) < k and len(existing) + len(asked) < total:
                trial = study.ask(dists)
                asked.append(trial)
            live = {t.number: t for t in asked}
            for frozen in pending:  # asked by a driver that was stopped before it could tell them
                live[frozen.number] = resume_trial(study, frozen)
            wave = [(t.number, dict(t.params)) for t in pending] + [(t.number, dict(t.params)) for t in asked]
            if not wave:
                break
            # a sampled combination the recipe's rules refuse (e.g. warm-up as long as training) is a failed trial,
            # told at once, so TPE learns to avoid it and a rerun never retries it
            valid = []
            for number, params in wave:
                problem = invalid_reason(recipe, params)
                if problem is None:
                    valid.append((number, params))
                    continue
                live[number].set_user_attr(REASON_ATTR, f"invalid run config: {problem}")
                study.tell(number, state=TrialState.FAIL)
                out.failed += 1
                log(f"tune: trial {number} failed: invalid run config: {problem}")
            wave = valid
            if not wave:
                continue
            out.waves += 1
            wave_path = os.path.join(folder, f"wave-{wave[0][0]:05d}.yaml")
            wrecipe = wave_recipe(recipe, [p for _, p in wave], wave_path)
            runs = wrecipe.runs()
            by_id = {r.run_id: r for r in runs}
            trial_runs: Dict[int, str] = {}
            for number, params in wave:
                run_id = trial_run_id(wrecipe, params)
                trial_runs[number] = run_id
                live[number].set_user_attr(RUN_ID_ATTR, run_id)
            log(f"tune: trials {', '.join(str(n) for n, _ in wave)} -> runs {', '.join(trial_runs.values())}"
                + (f" ({len(pending)} resumed)" if pending else ""))
            finished: Dict[int, Tuple[Optional[List[float]], Optional[str]]] = {}
            attempts: Dict[str, int] = {}
            while len(finished) < len(wave):
                todo = []
                for number, run_id in trial_runs.items():
                    if number in finished:
                        continue
                    record = read_record(results_dir, run_id)
                    status = (record or {}).get("status")
                    if status == COMPLETED:
                        finished[number] = objectives_of(record, names)
                    elif status == FAILED:
                        finished[number] = (None, f"run failed: {record.get('failure_reason')}")
                    else:
                        todo.append(by_id[run_id])
                todo = list({r.run_id: r for r in todo}.values())
                if not todo:
                    break
                # a run whose lock a live process holds is in flight (e.g. started by a driver that was killed
                # before the run wrote its record): wait for it, never start a second copy
                todo = [r for r in todo if not lock_in_flight(os.path.join(results_dir, r.run_id))]
                plan = plan_launch(todo, results_dir, scheduler=scheduler)
                to_submit = [r for r in plan.submit if attempts.get(r.run_id, 0) < MAX_ATTEMPTS]
                for run in plan.submit:
                    if attempts.get(run.run_id, 0) >= MAX_ATTEMPTS:
                        for number, rid in trial_runs.items():
                            if rid == run.run_id and number not in finished:
                                finished[number] = (None, "the run stopped twice without a record or a result; see "
                                                          f"{results_dir}/_launch/*/logs")
                if to_submit:
                    for run in to_submit:
                        attempts[run.run_id] = attempts.get(run.run_id, 0) + 1
                    out.launched += [r.run_id for r in to_submit]
                    t0, c0 = time.perf_counter(), time.process_time()
                    launch(wrecipe, scheduler=scheduler, results_dir=results_dir, overrides=run_overrides(recipe),
                           indices=",".join(str(r.index) for r in to_submit), python=python,
                           parameters={"max_parallel": k, **(parameters or {})})
                    excluded += time.perf_counter() - t0
                    excluded_cpu += time.process_time() - c0
                    if runs_here:
                        continue  # the launch returned when its runs had exited: read their records now
                t0 = time.perf_counter()
                time.sleep(POLL_S)
                excluded += time.perf_counter() - t0
            for number, _ in wave:
                values, reason = finished.get(number, (None, "not finished"))
                if values is not None:
                    study.tell(number, values)
                    out.completed += 1
                else:
                    live[number].set_user_attr(REASON_ATTR, reason)
                    study.tell(number, state=TrialState.FAIL)
                    out.failed += 1
                    log(f"tune: trial {number} failed: {reason}")
            record_hypervolume(study, names)  # after every wave: optuna-dashboard shows it as it grows
        out.trials = len(study.get_trials(deepcopy=False))
        write_pareto(study, folder, names, recipe)
        out.driver_seconds = time.perf_counter() - started - excluded
        out.driver_cpu_seconds = time.process_time() - started_cpu - excluded_cpu
        return out
    finally:
        lock.release()
