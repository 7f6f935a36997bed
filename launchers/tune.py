"""``robustperf tune``: multi-objective TPE over real runs of a recipe (its ``search:`` section).

optuna's TPE sampler (multi-objective, Ozaki et al. 2020; ``multivariate=True``, ``constant_liar=True`` so a
wave of K parallel trials spreads out) asks for K trials at a time. Each trial is one run of the recipe's
``base`` with the sampled values: the wave is written as a recipe of its own
(``<results>/_tune/<name>/wave-<first trial>.yaml``, one grid axis of value bundles) and launched through
:func:`launchers.launch.launch` like any matrix, locally K at a time or as one SLURM/LSF array of K, so every
trial is an ordinary run folder with its record in the results directory (``collect``/``analyze`` see it).
When a trial's record completes, the driver tells the study its objectives (record fields); a failed run, or
one whose objectives are missing or not finite (diverged), is a failed trial.

The study lives in optuna's ``JournalStorage`` with a file backend, ``<results>/_tune/<name>/journal.log``
(append-only, locked; safe on a shared file system). A driver killed at any point (even SIGKILL) loses
nothing: a rerun finds the trials asked but not told, recomputes their runs from their parameters (a run's id
is a hash of its config), waits for those still running, relaunches those that stopped (they resume from
their checkpoints), and asks new trials only up to ``search.trials`` in all.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from recipes.errors import UserError

TUNE_DIR = "_tune"
JOURNAL = "journal.log"
PARETO_CSV = "pareto.csv"
PARETO_FIGURE = "pareto"
PARETO_RECIPE = "pareto.yaml"
#: seconds between record polls while runs of a wave are still in flight (SLURM/LSF, or a resumed driver)
POLL_S = 2.0
#: trial user attributes
RUN_ID_ATTR = "run_id"
REASON_ATTR = "failure_reason"
#: launches of one run before its trial fails (a run that exits without a result twice is not retried again)
MAX_ATTEMPTS = 2


class TuneError(UserError):
    """A recipe that cannot be tuned, or a study that does not fit its recipe."""


def tune_folder(results_dir: str, name: str) -> str:
    return os.path.join(os.path.abspath(results_dir), TUNE_DIR, re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:80])


def storage(folder: str):
    """The study's optuna storage: a JournalStorage on ``folder/journal.log`` (file lock, atomic appends)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, JOURNAL)
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def distributions(spec) -> Dict[str, Any]:
    """optuna distributions of the search space, by run-config path."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: Dict[str, Any] = {}
    for dim in spec.space:
        if dim.kind == "choice":
            out[dim.path] = CategoricalDistribution(list(dim.choices))
        elif dim.kind in ("int", "int_log_uniform"):
            out[dim.path] = IntDistribution(int(dim.low), int(dim.high), log=dim.kind == "int_log_uniform")
        else:
            out[dim.path] = FloatDistribution(float(dim.low), float(dim.high), log=dim.kind == "log_uniform")
    return out


def check_objectives(recipe) -> None:
    """Objective names must be numeric record fields (``accuracy.clean``, ``timing.train_seconds``, ...)."""
    from results import FIELDS

    for name, _ in recipe.search.objectives:
        if name not in FIELDS:
            from recipes.errors import RecipeError, nearest

            hint = nearest(name, FIELDS)
            raise RecipeError("not a record field" + (f" (did you mean '{hint}'?)" if hint else ""),
                              file=recipe.path, key=f"search.objectives.{name}", value=name)


def open_study(recipe, folder: str, *, create: bool = True):
    """Load (or create) the recipe's study; its objectives and directions must match the recipe's."""
    import optuna
    from optuna.samplers import TPESampler

    spec = recipe.search
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = storage(folder)
    # A resumed driver must not replay the random start-up draws of the first: seed by the trials so far.
    done = 0
    try:
        summaries = optuna.get_all_study_summaries(store)
        done = next((s.n_trials for s in summaries if s.study_name == recipe.name), 0)
    except Exception:  # noqa: BLE001 - an empty journal
        done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = TPESampler(n_startup_trials=spec.startup_trials, multivariate=True, constant_liar=True,
                             seed=(spec.seed + done) % 2**32)
    if not create:
        try:
            study = optuna.load_study(study_name=recipe.name, storage=store, sampler=sampler)
        except KeyError:
            raise TuneError(f"no study of recipe '{recipe.name}' in {folder}; run `robustperf tune` first") from None
    else:
        study = optuna.create_study(study_name=recipe.name, storage=store, sampler=sampler,
                                    directions=spec.directions, load_if_exists=True)
    names = study.user_attrs.get("objectives")
    if names is None:
        study.set_user_attr("objectives", spec.objective_names)
        study.set_user_attr("space", {d.path: d.to_json() for d in spec.space})
        study.set_user_attr("startup_trials", spec.startup_trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.objective_names)
    elif list(names) != spec.objective_names or [d.name.lower() for d in study.directions] != spec.directions:
        raise TuneError(f"{folder}: the study's objectives {names} differ from the recipe's "
                        f"{spec.objective_names}; use another --results directory or recipe name")
    return study


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


def wave_recipe(recipe, params: Sequence[Dict[str, Any]], path: str):
    """Write (atomically) and load the recipe of one wave: the recipe's base, one run per parameter set."""
    from recipes import load_recipe
    from results import atomic_write_text

    atomic_write_text(path, recipe_text(recipe, params, f"{recipe.name}-tune",
                                        "written by robustperf tune: one run per trial of this wave"))
    return load_recipe(path, run_overrides(recipe))


def run_overrides(recipe) -> List[str]:
    """The recipe's ``--set`` items that apply to its runs (``search.*`` items are the driver's alone)."""
    return [o for o in recipe.overrides if str(o).partition("=")[0].strip().split(".")[0] != "search"]


def recipe_text(recipe, params: Sequence[Dict[str, Any]], name: str, comment: str) -> str:
    """A recipe (YAML) of the recipe's base with one run per parameter set (one grid axis of bundles)."""
    import yaml

    # the base with the recipe's --set run overrides baked in (re-applying them at load changes nothing), so
    # the file alone reproduces the runs
    base = recipe.base_config()
    bundles = [{k: _plain(v) for k, v in p.items()} for p in params]
    data = {"name": name, "base": _plain(base), "grid": {"training": bundles},
            "launch": {k: _plain(v) for k, v in _launch_dict(recipe.launch).items()}}
    return f"# {comment}\n" + yaml.safe_dump(data, sort_keys=False)


def _launch_dict(launch) -> Dict[str, Any]:
    import dataclasses

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(launch).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def objectives_of(record: Dict[str, Any], names: Sequence[str]) -> Tuple[Optional[List[float]], Optional[str]]:
    """The objective values of a completed record, or None and why (missing or not finite: diverged)."""
    from results import get

    values = []
    for name in names:
        value = get(record, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None, f"objective {name} is {value!r} (missing or not finite: the run diverged or did not " \
                         "measure it)"
        values.append(float(value))
    return values, None


def tune(recipe, *, results_dir: Optional[str] = None, trials: Optional[int] = None, scheduler: Optional[str] = None,
         parallel: Optional[int] = None, python: Optional[str] = None, log=print,
         parameters: Optional[Dict[str, Any]] = None) -> TuneResult:
    """Run (or resume) the recipe's search until ``trials`` trials are finished (see the module doc).

    Args:
        recipe: a loaded recipe with a ``search:`` section.
        results_dir: where the runs and the study go (default the recipe's ``launch.results``).
        trials: total trials (default ``search.trials``).
        scheduler: ``local``, ``slurm`` or ``lsf`` (default ``launch.scheduler``).
        parallel: trials per wave, K (default ``launch.max_parallel``).
        python: interpreter of the runs (default this one).
        log: callable taking a line.
        parameters: extra executor parameters.

    Raises:
        TuneError: no search section, or a study whose objectives differ.
    """
    from optuna.trial import TrialState

    from results import COMPLETED, FAILED, RUNNING, load_record

    from .backends import get_executor
    from .launch import launch
    from .plan import plan_launch

    if recipe.search is None:
        raise TuneError(f"{recipe.path}: no search section; add `search:` with trials, objectives and space "
                        "(see README, 'Tuning')")
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
    study = open_study(recipe, folder)
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
            live[frozen.number] = _resume_trial(study, frozen)
        wave = [(t.number, dict(t.params)) for t in pending] + [(t.number, dict(t.params)) for t in asked]
        if not wave:
            break
        # a sampled combination the recipe's rules refuse (e.g. warm-up as long as training) is a failed trial,
        # told at once, so TPE learns to avoid it and a rerun never retries it
        valid = []
        for number, params in wave:
            problem = _invalid(recipe, params)
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
            run_id = _run_id(wrecipe, params)
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
                record = _load(load_record, results_dir, run_id)
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
            todo = [r for r in todo if not _in_flight(results_dir, r.run_id)]
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
    out.trials = len(study.get_trials(deepcopy=False))
    write_pareto(study, folder, names, recipe)
    out.driver_seconds = time.perf_counter() - started - excluded
    out.driver_cpu_seconds = time.process_time() - started_cpu - excluded_cpu
    return out


def _invalid(recipe, params: Dict[str, Any]) -> Optional[str]:
    """Why the recipe's base with ``params`` is not a valid run (its cross-field rules), or None."""
    from recipes.errors import RecipeError
    from recipes import check_run

    cfg = recipe.base_config()
    for path, value in params.items():
        section, _, key = path.partition(".")
        cfg[section] = {**cfg[section], key: value}
    try:
        check_run(cfg)
    except RecipeError as err:
        return f"{err.key}: {err.message}" if err.key else err.message
    return None


def _in_flight(results_dir: str, run_id: str) -> bool:
    """Whether a live process holds the run's lock (this host: its pid lives; elsewhere: a fresh heartbeat)."""
    import socket

    from results.lock import LOCK_FILE, STALE_AFTER_SECONDS, lock_holder

    holder = lock_holder(os.path.join(results_dir, run_id, LOCK_FILE))
    if not holder:
        return False
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError, ValueError):
            pass
        return True
    return float(holder.get("heartbeat_age", STALE_AFTER_SECONDS)) < STALE_AFTER_SECONDS


def _load(load_record, results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    from results import RecordError

    try:
        return load_record(results_dir, run_id)
    except RecordError:
        return None


def _resume_trial(study, frozen):
    """A live ``optuna.trial.Trial`` for a trial left running by an earlier driver (as ``Study.ask`` builds
    one), so user attributes can still be set on it before it is told."""
    import optuna

    return optuna.trial.Trial(study, frozen._trial_id)


def _run_id(wrecipe, params: Dict[str, Any]) -> str:
    """The run id of the wave recipe's run with these parameters (the same hash `robustperf run` computes)."""
    for run in wrecipe.runs():
        if all(_get(run.config, path) == value for path, value in params.items()):
            return run.run_id
    raise TuneError(f"internal: no run of {wrecipe.path} has the parameters {params}")


def _get(config: Dict[str, Any], path: str) -> Any:
    section, _, key = path.partition(".")
    return config[section][key] if key else config[section]


# ---------------------------------------------------------------- output

def trial_rows(study, names: Sequence[str]) -> List[Dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(), "run_id": t.user_attrs.get(RUN_ID_ATTR)}
        row.update({k: v for k, v in t.params.items()})
        for name, value in zip(names, t.values or [None] * len(names)):
            row[name] = value
        if t.user_attrs.get(REASON_ATTR):
            row["failure_reason"] = t.user_attrs[REASON_ATTR]
        rows.append(row)
    return rows


def pareto_rows(study, names: Sequence[str]) -> List[Dict[str, Any]]:
    """The Pareto-optimal completed trials (optuna's ``best_trials``), with run ids, parameters, objectives."""
    front = {t.number for t in study.best_trials} if any(
        t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) else set()
    return [r for r in trial_rows(study, names) if r["trial"] in front]


def write_pareto(study, folder: str, names: Sequence[str], recipe=None) -> List[str]:
    """``pareto.csv`` (the front), ``pareto.png``/``.pdf`` (first two objectives, every trial, front marked) and
    ``pareto.yaml`` (a recipe of the front's runs: ``robustperf launch pareto.yaml --set repeats=3`` repeats
    them with more seeds) in the study folder; atomic writes."""
    import csv
    import io

    from results import atomic_write_text

    rows = pareto_rows(study, names)
    written = []
    columns = sorted({k for r in rows for k in r}, key=lambda c: (c not in ("trial", "run_id"), c in names, c))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or ["trial"])
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    path = os.path.join(folder, PARETO_CSV)
    atomic_write_text(path, buf.getvalue())
    written.append(path)
    if len(names) >= 2:
        written += _pareto_figure(study, folder, names, {r["trial"] for r in rows})
    front = [t.params for t in study.get_trials(deepcopy=False) if t.number in {r["trial"] for r in rows}]
    if recipe is not None and front:
        path = os.path.join(folder, PARETO_RECIPE)
        atomic_write_text(path, recipe_text(recipe, front, f"{recipe.name}-pareto",
                                            f"the Pareto front of robustperf tune {recipe.path} ({len(front)} runs)"))
        written.append(path)
    return written


def _pareto_figure(study, folder: str, names: Sequence[str], front: set) -> List[str]:
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = [t.values[0] for t in done]
    y = [t.values[1] for t in done]
    ax.scatter(x, y, s=18, color="0.6", label="trials")
    pts = sorted((t.values[0], t.values[1]) for t in done if t.number in front)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="tab:red", label="Pareto front")
    dirs = [d.name.lower()[:3] for d in study.directions]
    ax.set_xlabel(f"{names[0]} ({dirs[0]})")
    ax.set_ylabel(f"{names[1]} ({dirs[1]})")
    ax.set_title(f"{study.study_name}: {len(done)} completed trials (measured)")
    ax.legend()
    from results import atomic_write_bytes

    paths = []
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=100)
        path = os.path.join(folder, f"{PARETO_FIGURE}.{fmt}")
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths


def status_text(recipe, results_dir: Optional[str] = None) -> str:
    """``robustperf tune --status``: trials by state, and the Pareto front."""
    results_dir = os.path.abspath(results_dir or recipe.launch.results)
    folder = tune_folder(results_dir, recipe.name)
    if not os.path.exists(os.path.join(folder, JOURNAL)):
        raise TuneError(f"no study of recipe '{recipe.name}' under {results_dir} ({folder}/{JOURNAL} is missing); "
                        "run `robustperf tune` first")
    study = open_study(recipe, folder, create=False)
    names = list(study.user_attrs.get("objectives") or recipe.search.objective_names)
    rows = trial_rows(study, names)
    states: Dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    target = recipe.search.trials
    lines = [f"study {recipe.name}: {len(rows)} of {target} trials ("
             + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + f"); storage {folder}/{JOURNAL}"]
    front = pareto_rows(study, names)
    if front:
        lines.append(f"Pareto front ({len(front)} trials; objectives measured by the runs):")
        params = sorted({k for r in front for k in r} - {"trial", "state", "run_id", "failure_reason", *names})
        header = ["trial", "run_id", *params, *[f"{n} ({d.name.lower()[:3]})" for n, d in zip(names, study.directions)]]
        table = [header] + [[str(r.get("trial")), str(r.get("run_id"))] + [_fmt(r.get(p)) for p in params]
                            + [_fmt(r.get(n)) for n in names] for r in front]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in table]
    failed = [r for r in rows if r["state"] == "fail"]
    for r in failed:
        lines.append(f"failed trial {r['trial']} (run {r.get('run_id')}): {r.get('failure_reason', '?')}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value
