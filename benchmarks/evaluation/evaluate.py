"""The evaluation workload: clean, PGD and AutoAttack accuracy and inference cost of a trained model.

:func:`evaluate` measures and returns the record groups it fills; :func:`evaluate_run` (``robustperf evaluate``)
loads a finished run's record and checkpoint, evaluates and writes the record back. Both resume: each finished
phase (clean, PGD, inference) is kept in ``RUN_DIR/evaluation/<which>/progress.json`` and AutoAttack keeps its
batch-level state beside it (``autoattack-state.json``), so a job killed or signalled (SIGTERM / SIGUSR1) in the
middle continues on the next call and ends with the uninterrupted answer. A state made for other weights, data
or settings is ignored.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from recipes import SET_SOURCE, RunConfig, all_paths, parse_yaml, validate_value
from recipes.errors import RecipeError, UserError
from recipes.files import open_regular
from results import RECORD_FILE, atomic_write_bytes, make_folder, read_run_record, write_run_record
from results.evaluations import evaluation_settings, store_evaluation
from results.pricing import kwh as _kwh

from .._loading import load_model
from ..attacks import eval_mode
from ..autoattack import SAVE_EVERY_S, model_digest, run_autoattack
from ..datasets.base import eval_set
from ..datasets.evalset import as_eval_set
from ..interruption import EvaluationInterrupted, SignalGuard
from ..measurement.energy import EnergyMeter
from ..measurement.window import add_energy, measure
from ..slowdown.run import slowdown_for_run
from ..tracking import MLLOG_FILE, update_mllog
from .accuracy import clean_correct
from .inference import inference_cost
from .survival import SURVIVAL_FILE, Trace, fgm_min_eps, pgd_trace, survival_frame, write_survival

__all__ = ["AUTOATTACK_STATE_FILE", "EVAL_FOLDER", "OVERRIDABLE", "PROGRESS_FILE", "WHICH", "EvaluationError",
           "apply_overrides", "evaluate", "evaluate_run", "evaluation_dir"]

logger = logging.getLogger("robustperf.evaluation")

EVAL_FOLDER = "evaluation"
PROGRESS_FILE = "progress.json"
AUTOATTACK_STATE_FILE = "autoattack-state.json"
WHICH = ("best", "last")
#: Sections ``robustperf evaluate --set`` may change: how to evaluate and measure, never what was trained.
OVERRIDABLE = ("evaluation", "measurement")


class EvaluationError(UserError):
    """A run folder that cannot be evaluated (no record, no checkpoint, a bad --set)."""


@dataclass
class _Progress:
    fingerprint: Dict[str, Any]
    clean_correct: Optional[int] = None
    pgd_correct: Optional[int] = None
    inference: Optional[Dict[str, Any]] = None
    slowdown: Optional[Dict[str, Any]] = None
    seconds: float = 0.0
    energy_j: Optional[float] = 0.0
    warnings: List[str] = field(default_factory=list)
    survival: Dict[str, Any] = field(default_factory=dict)
    fgm_correct: Optional[int] = None
    clean_loss: Optional[float] = None  # mean cross-entropy (None: progress saved before it was kept)
    pgd_loss: Optional[float] = None

    @classmethod
    def load(cls, path: str, fingerprint: Dict[str, Any]) -> Optional["_Progress"]:
        try:  # a FIFO or device is no saved progress: start over (recipes/files.py)
            with open_regular(path, "evaluation progress", error=lambda reason: ValueError(reason)) as fh:
                data = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("fingerprint") != fingerprint:
            return None
        return cls(**data)

    def save(self, path: str) -> None:
        atomic_write_bytes(path, json.dumps(asdict(self), separators=(",", ":")).encode("utf-8"))


def _remedy(record: Dict[str, Any], which: str) -> Optional[str]:
    """What to do about a damaged checkpoint of a completed run (``robustperf run --restart`` keeps those as they
    are); None: the default advice, ``--restart``."""
    if record.get("status") != "completed":
        return None
    other = "last" if which == "best" else "best"
    return (f"The run is completed, so `robustperf run --restart` leaves its files as they are: evaluate the other "
            f"checkpoint (--which {other}), or move the run folder aside and run it again")


def evaluation_dir(run_dir: str, which: str) -> str:
    """Folder of the evaluation state of checkpoint ``which`` of a run."""
    return os.path.join(run_dir, EVAL_FOLDER, which)


def _pct(count: int, n: int) -> float:
    return 100.0 * count / n


def evaluate(model: torch.nn.Module, run_config, run_dir: str, *, meter: Any = None, which: Optional[str] = None,
             data: Any = None, fresh: bool = False,
             save_every_s: float = SAVE_EVERY_S, measure_inference: bool = True) -> Dict[str, Any]:
    """Evaluate ``model`` as ``run_config.evaluation`` says and return the record groups it fills.

    Clean and robust accuracy against ``evaluation.attack`` (PGD by default) with ``evaluation.pgd_steps`` steps of
    ``run_config.eval_step_size`` on the whole test set (the record's ``accuracy.pgd``); AutoAttack
    (``evaluation.autoattack``, the run's eps and norm, its seed) on the first ``evaluation.autoattack_n`` test
    points; inference cost. Forward passes run in float32.

    Args:
        model: the classifier (EMA weights when the run used EMA), inputs in [0, 1]; evaluated in eval mode
            (its previous mode is restored).
        run_config: the run's :class:`recipes.RunConfig`.
        run_dir: the run's folder; the resumable state lives in ``run_dir/evaluation/<which>/``.
        meter: a started ``benchmarks.measurement.EnergyMeter``; windows "eval" (all of this call), "attack"
            (AutoAttack) and "inference" are opened on it. None: wall time only, energy null.
        which: the checkpoint evaluated (``best`` or ``last``); default ``evaluation.which``.
        data: the test set in dataset order: a :class:`benchmarks.datasets.EvalSet` or ``(images, labels)``;
            default ``eval_set(run_config.data, "test")`` (folder datasets stream through ``data.num_workers``
            DataLoader workers, so no phase holds the split in memory; digits and CIFAR are small tensors).
        fresh: ignore any saved state and start over.
        save_every_s: least seconds between AutoAttack state writes inside an attack.
        measure_inference: time inference (latency, throughput, FLOPs, energy).

    Returns:
        ``{"accuracy": {...}, "timing": {...}, "energy": {...}, "evaluation": {...}}`` with the record's keys:
        accuracies in percent (0-100) with their point counts and the mean test cross-entropy beside each
        (``clean_loss``, ``pgd_loss``: the attack's final iterate, ``autoattack_loss``: AutoAttack's final
        examples), ``autoattack_ci`` a 95 % Wilson interval in
        percent, ``per_attack`` the accuracy (percent) after the clean pass and after each attack,
        ``max_perturbation`` in the norm's units; ``timing.eval_seconds`` (the whole evaluation),
        ``attack_seconds`` (AutoAttack), ``attack_seconds_per_sample``, all summed over resumed sessions;
        ``energy.eval_kwh`` / ``attack_kwh`` in kWh including ``measurement.pue`` (as ``measurement.cost``),
        null when unmeasured; ``evaluation.warnings``, ``inference`` (see :func:`inference_cost`),
        ``autoattack_version``.

    Raises:
        EvaluationInterrupted: SIGTERM / SIGUSR1 arrived; the state is saved and a rerun continues.
    """
    ev, cfg = run_config.evaluation, run_config
    which = which or ev.which
    data = eval_set(cfg.data, "test") if data is None else as_eval_set(data)
    n_test = data.n
    folder = make_folder(evaluation_dir(run_dir, which), root=run_dir)  # a link on the way is refused
    progress_path = os.path.join(folder, PROGRESS_FILE)
    aa_n = min(ev.autoattack_n, n_test)
    fingerprint = {"model": model_digest(model), "data": data.digest(), "seed": cfg.seed,
                   "attack": {"norm": cfg.attack.norm, "eps": cfg.attack.eps}, "evaluation": asdict(ev),
                   "step_size": cfg.eval_step_size}
    progress = None if fresh else _Progress.load(progress_path, fingerprint)
    progress = progress or _Progress(fingerprint)
    if aa_n < ev.autoattack_n and ev.autoattack is not None:
        _warn(progress, f"evaluation.autoattack_n is {ev.autoattack_n} but the test set has {n_test} points: "
                        f"AutoAttack ran on all {n_test}")
    aa = None
    span = None
    worked = False
    with eval_mode(model):
        try:
            with SignalGuard() as guard, measure(meter, "eval") as span:
                if progress.clean_correct is None:
                    losses = torch.zeros(n_test, dtype=torch.float64)
                    flags = clean_correct(model, data, batch_size=ev.batch_size, losses=losses)
                    with guard.critical():
                        progress.clean_correct = int(flags.sum())
                        progress.clean_loss = float(losses.mean())
                        progress.save(progress_path)
                    worked = True
                if progress.pgd_correct is None:
                    losses = torch.zeros(n_test, dtype=torch.float64)
                    flags, trace = pgd_trace(model, data, norm=cfg.attack.norm, eps=cfg.attack.eps,
                                             steps=ev.pgd_steps, step_size=cfg.eval_step_size,
                                             batch_size=ev.batch_size, seed=cfg.seed, attack=ev.attack,
                                             losses=losses)
                    with guard.critical():
                        progress.pgd_correct = int(flags.sum())
                        progress.pgd_loss = float(losses.mean())
                        progress.survival["pgd"] = trace.to_dict()
                        progress.save(progress_path)
                    worked = True
                if ev.fgm_steps > 0 and progress.fgm_correct is None:
                    flags, trace = fgm_min_eps(model, data, norm=cfg.attack.norm,
                                               eps_max=ev.fgm_eps_max or cfg.attack.eps, steps=ev.fgm_steps,
                                               batch_size=ev.batch_size)
                    with guard.critical():
                        progress.fgm_correct = int(flags.sum())
                        progress.survival["fgm"] = trace.to_dict()
                        progress.save(progress_path)
                    worked = True
                if ev.autoattack is not None:
                    state_path = os.path.join(folder, AUTOATTACK_STATE_FILE)
                    aa = run_autoattack(model, data.head(aa_n), eps=cfg.attack.eps, norm=cfg.attack.norm,
                                        version=ev.autoattack, seed=cfg.seed, batch_size=ev.batch_size,
                                        state_path=state_path, meter=meter, save_every_s=save_every_s,
                                        fresh=fresh)
                    worked = worked or aa.fresh_work
                if measure_inference and progress.inference is None:
                    inference = inference_cost(model, data, batch_size=ev.batch_size, meter=meter)
                    with guard.critical():
                        progress.inference = inference
                        progress.save(progress_path)
                    worked = True
                if ev.slowdown is not None and progress.slowdown is None:
                    # the slowdown study holds its first evaluation.slowdown.n test points in memory
                    first = (ev.slowdown or {}).get("n")   # only the points it evaluates are decoded
                    group = slowdown_for_run(model, cfg, test=(data.head(first) if first else data).tensors(),
                                             meter=meter,
                                             warnings=progress.warnings, run_dir=run_dir)
                    with guard.critical():
                        progress.slowdown = group
                        progress.save(progress_path)
                    worked = True
        except EvaluationInterrupted:
            _close(progress, span, progress_path)
            raise
        if worked:
            _close(progress, span, progress_path)
    partial = _partial(progress, aa, n_test, which, run_config)
    partial["survival"] = _write_survival(run_dir, which, progress, aa)
    if progress.slowdown is not None:
        partial["slowdown"] = progress.slowdown
    return partial


def _write_survival(run_dir: str, which: str, progress: _Progress, aa) -> Dict[str, Any]:
    """Write ``run_dir/survival.parquet`` (one row per point and attack configuration); the record's pointer."""
    traces = [Trace.from_dict(progress.survival[k]) for k in ("pgd", "fgm") if k in progress.survival]
    if aa is not None and aa.trace is not None:
        traces.append(aa.trace)
    if not traces:
        return {"file": None, "rows": None, "configs": None, "events": None}
    run_id = os.path.basename(os.path.abspath(run_dir))
    frame = survival_frame(run_id, which, traces)
    write_survival(os.path.join(run_dir, SURVIVAL_FILE), frame)
    return {"file": SURVIVAL_FILE, "rows": int(len(frame)), "configs": [t.config for t in traces],
            "events": {t.config: int(sum(t.event)) for t in traces}}


def _warn(progress: _Progress, message: str) -> None:
    if message not in progress.warnings:
        logger.warning("evaluation: %s", message)
        progress.warnings.append(message)


def _close(progress: _Progress, span, path: str) -> None:
    if span is not None:
        progress.seconds += span.seconds
        progress.energy_j = add_energy(progress.energy_j, span.energy_j)
    progress.save(path)


def _partial(progress: _Progress, aa, n: int, which: str, run_config) -> Dict[str, Any]:
    pue = run_config.measurement.pue
    accuracy: Dict[str, Any] = {
        "clean": _pct(progress.clean_correct, n), "clean_n": n, "pgd": _pct(progress.pgd_correct, n), "pgd_n": n,
        "autoattack": None, "autoattack_ci": None, "autoattack_n": None, "per_attack": None,
        "max_perturbation": None, "which": which,
        "clean_loss": progress.clean_loss, "pgd_loss": progress.pgd_loss, "autoattack_loss": None,
    }
    timing = {"eval_seconds": progress.seconds, "attack_seconds": None, "attack_seconds_per_sample": None}
    # raw device joules and, as everywhere in the record, kWh including the facility's PUE (results.pricing)
    energy = {"eval_j": progress.energy_j, "eval_kwh": _kwh(progress.energy_j, pue), "attack_j": None,
              "attack_kwh": None}
    warnings = list(progress.warnings)
    version = None
    if aa is not None:
        accuracy.update({
            "autoattack": 100.0 * aa.robust_accuracy, "autoattack_ci": [100.0 * aa.ci[0], 100.0 * aa.ci[1]],
            "autoattack_n": aa.n, "per_attack": {k: 100.0 * v for k, v in aa.per_attack.items()},
            "max_perturbation": aa.max_perturbation, "autoattack_loss": aa.loss,
        })
        timing.update({"attack_seconds": aa.seconds, "attack_seconds_per_sample": aa.seconds / aa.n})
        energy["attack_j"], energy["attack_kwh"] = aa.energy_j, _kwh(aa.energy_j, pue)
        warnings += [w for w in aa.warnings if w not in warnings]
        version = aa.version
    return {"accuracy": accuracy, "timing": timing, "energy": energy,
            "evaluation": {"warnings": warnings, "inference": progress.inference, "autoattack_version": version}}


# ---------------------------------------------------------------- a run folder: robustperf evaluate

def apply_overrides(config: Dict[str, Any], overrides: Sequence[str]) -> Tuple[Dict[str, Any], List[str]]:
    """``config`` with ``KEY=VALUE`` overrides of ``evaluation.*`` / ``measurement.*`` applied.

    Returns:
        The new config dict and the normalised ``key=value`` strings applied.

    Raises:
        RecipeError: malformed item, unknown key, a key outside those sections, or a bad value.
    """
    paths = all_paths()
    allowed = [p for p in paths if p.split(".")[0] in OVERRIDABLE]
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    applied = []
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise RecipeError("expected KEY=VALUE, e.g. --set evaluation.autoattack_n=1000", file=SET_SOURCE,
                              value=item)
        if key not in allowed:
            raise RecipeError("only evaluation.* and measurement.* can change after training", file=SET_SOURCE,
                              key=key, allowed=allowed)
        value, _ = parse_yaml(text, SET_SOURCE) if text.strip() else (None, {})
        value = validate_value(key, value, paths[key], SET_SOURCE)
        section, sub = key.split(".", 1)
        out[section] = {**out.get(section, {}), sub: value}
        applied.append(f"{key}={text.strip()}")
    return out, applied


def evaluate_run(run_dir: str, which: str = "best", overrides: Sequence[str] = (), *,
                 record: Optional[Dict[str, Any]] = None, meter: Any = None, log=None, fresh: bool = False,
                 device: Optional[str] = None, save_every_s: float = SAVE_EVERY_S) -> Dict[str, Any]:
    """Evaluate checkpoint ``which`` of the run in ``run_dir`` and merge the results into its record.

    Args:
        run_dir: the run's folder (``runs/<run_id>``) holding ``result.json`` and the checkpoints.
        which: ``best`` or ``last``.
        overrides: ``KEY=VALUE`` changes of ``evaluation.*`` / ``measurement.*`` (noted in the warnings).
        record: the run's record, updated in place and not written (``robustperf run`` writes it); None: read
            ``run_dir/result.json``, update it and write it back with ``results.write_run_record``.
        meter: a started energy meter; None: one is opened for this call from ``measurement``.
        log: callable taking a line, for the run's log; default the module logger.
        fresh: ignore any saved evaluation state.
        device: where to evaluate; default CUDA when available, else the CPU.
        save_every_s: least seconds between AutoAttack state writes inside an attack.

    Returns:
        The updated record.

    Raises:
        EvaluationError: no record or checkpoint in ``run_dir``; RecipeError: a bad override;
        EvaluationInterrupted: SIGTERM / SIGUSR1 (state saved; rerun to continue).
    """
    say = log or logger.info
    if which not in WHICH:
        raise EvaluationError(f"--which must be one of {', '.join(WHICH)}, got {which!r}")
    run_dir = os.path.abspath(run_dir)
    write = record is None
    if record is None:
        path = os.path.join(run_dir, RECORD_FILE)
        if not os.path.isfile(path):
            raise EvaluationError(f"{run_dir}: no {RECORD_FILE}; expected the folder of a run written by "
                                  "`robustperf run` (runs/<run_id>)")
        record = read_run_record(run_dir)  # the record of the run this folder is named after, or RecordError
    config, applied = apply_overrides(record["config"] or {}, overrides)
    run_config = RunConfig.from_dict(config, file=os.path.join(run_dir, RECORD_FILE))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    # the checkpoint must hold the model of this run's config (a copied or edited one is refused in one line)
    model = load_model(run_dir, which, device, run_config=run_config, remedy=_remedy(record, which))
    with contextlib.ExitStack() as stack:
        if meter is None:
            indices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
            meter = stack.enter_context(EnergyMeter(run_config.measurement, indices))
        say(f"evaluating {which} checkpoint of {record['run_id']} on {device}"
            + (f" with {', '.join(applied)}" if applied else ""))
        partial = evaluate(model, run_config, run_dir, meter=meter, which=which, fresh=fresh,
                           save_every_s=save_every_s)
    if applied:
        partial["evaluation"]["warnings"].append("evaluated with --set " + " ".join(applied)
                                                 + " (differs from the run's config)")
    kept = (record.get("evaluation") or {}).get("inference")
    if isinstance(kept, dict) and (kept.get("setup") or {}).get("command") == "robustperf infer":
        partial["evaluation"]["inference"] = kept  # the full benchmark of `robustperf infer` wins over the quick one
    for group, values in partial.items():
        record.setdefault(group, {}).update(values)
    # every evaluation is kept, keyed by its settings; the headline accuracy.* is this one
    store_evaluation(record, evaluation_settings(asdict(run_config.evaluation), which))
    acc = record["accuracy"]
    say(f"clean {acc['clean']:.2f}%  PGD-{run_config.evaluation.pgd_steps} {acc['pgd']:.2f}%  AutoAttack "
        + (f"{acc['autoattack']:.2f}% (95% CI {acc['autoattack_ci'][0]:.1f}-{acc['autoattack_ci'][1]:.1f}, "
           f"n={acc['autoattack_n']})" if acc["autoattack"] is not None else "skipped"))
    for warning in record["evaluation"]["warnings"] or []:
        say(f"warning: {warning}")
    if write:
        write_run_record(run_dir, record)  # into the folder given, never one the record's run_id names
        # The MLPerf log's final section follows the record (a re-evaluation must not leave it stale).
        update_mllog(os.path.join(run_dir, MLLOG_FILE), record)
    return record
