"""One run of the matrix, start to finish: the result record's lifecycle around training and evaluation.

Lifecycle of ``DIR/<run_id>/result.json`` (:class:`RunLifecycle` owns every transition and the tracker):

0. One process per run: ``DIR/<run_id>/run.lock`` (:mod:`results.lock`) is taken first; when another live process
   holds it, exit :data:`EXIT_IN_FLIGHT` (75) at once, having changed nothing.
1. A ``completed`` record whose evaluation has the settings asked for: nothing to do (exit 0 at once). With other
   evaluation settings the run is *re-evaluated*, never retrained: a stored evaluation with those settings
   becomes the headline at once, otherwise the checkpoint is evaluated again (the checkpoints are untouched);
   every evaluation stays in the record's ``evaluations``, keyed by its settings. Other pricing constants
   re-price the record from its raw measurements (``results.pricing``).
2. Otherwise the record is (re)written ``running`` with the job's identity and ``job.attempts`` + 1, and training
   starts, or resumes from ``checkpoint-last.pt`` when one exists.
3. SIGTERM / SIGUSR1 (sent by SLURM and LSF before the wall-time): checkpoint at the next step boundary (or
   save the evaluation's state), record ``preempted``, exit 128 + the signal number (143 for SIGTERM, 138 for
   SIGUSR1, as a shell reports a process ended by it; :func:`preempted_exit_code`), so the launcher requeues;
   the rerun resumes. Both cases raise the one :class:`benchmarks.interruption.Preempted`.
4. A non-finite loss: record ``failed`` with the reason, exit :data:`EXIT_DIVERGED` (3).
5. Training done: the final evaluation (``benchmarks.evaluation``) and the measured FLOPs, energy, cost and
   CO2 fill the record, which becomes ``completed``.

The run folder holds result.json, checkpoint-last.pt, checkpoint-best.pt, metrics.jsonl (one line per epoch,
rewritten from the checkpoint's history so a resumed run never duplicates lines), train.log and the tracker's
files. Only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from recipes.errors import UserError
from results import RecordError, atomic_write_text, load_record, new_record, write_record
from results import schema as rs
from results.lock import EXIT_IN_FLIGHT, RunLock
from results.pricing import refresh, reprice

from .interruption import TEST_INTERRUPT_ENV, Preempted, TestInterrupt, preempted_exit_code

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_USER", "EXIT_DIVERGED", "EXIT_PREEMPTED", "EXIT_IN_FLIGHT", "METRICS_FILE",
           "LOG_FILE", "execute", "job_info", "preempted_exit_code", "run_dir_of", "RunLifecycle", "TEST_INTERRUPT_ENV"]

EXIT_OK = 0
#: an unexpected error (a bug, a crashed device): record failed, traceback printed.
EXIT_ERROR = 1
#: a user mistake (missing dataset, bad recipe): UserError, printed without a traceback.
EXIT_USER = UserError.exit_code
#: the training loss became NaN/inf: record failed with the reason.
EXIT_DIVERGED = 3
#: stopped by SIGTERM after a checkpoint: record running; run the same command again to resume. SIGUSR1 gives
#: 138; see :func:`preempted_exit_code`.
EXIT_PREEMPTED = 128 + int(signal.SIGTERM)
# EXIT_IN_FLIGHT (75, from results.lock): another live process holds the run's lock; nothing was changed.

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)



def run_dir_of(results_dir: str, run_id: str) -> str:
    return os.path.join(results_dir, run_id)


def job_info(env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The record's ``job`` group (without ``attempts``) from SLURM / LSF environment variables."""
    env = os.environ if env is None else env
    if env.get("SLURM_JOB_ID"):
        scheduler, job_id = "slurm", env["SLURM_JOB_ID"]
        array_job, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    elif env.get("LSB_JOBID"):
        scheduler, job_id = "lsf", env["LSB_JOBID"]
        task = env.get("LSB_JOBINDEX")
        task = task if task not in (None, "", "0") else None
        array_job = job_id if task is not None else None
    else:
        scheduler, job_id, array_job, task = "local", None, None, None
    return {"scheduler": scheduler, "job_id": job_id, "array_job_id": array_job, "array_task_id": task,
            "host": socket.gethostname(), "pid": os.getpid()}


# ---------------------------------------------------------------- signals and the test hook

class _StopFlag:
    """Remembers SIGTERM / SIGUSR1 instead of dying; training checks it at step boundaries."""

    def __init__(self):
        self.signum = 0
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if not self.signum:
            print(f"robustperf run: received signal {signum}; checkpointing at the next safe point",
                  file=sys.stderr, flush=True)
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- the hooks into the training loop

class RunHooks:
    """Wires the training loop to this run's files, the energy meter, the FLOPs counter and the tracker."""

    def __init__(self, run_dir: str, is_main: bool, stop: _StopFlag, kill: TestInterrupt, log: Callable[[str], None],
                 meter=None, tracker=None, count_flops: bool = True):
        self.run_dir, self.is_main, self.stop, self.kill, self.log = run_dir, is_main, stop, kill, log
        self.meter, self.tracker, self.count_flops_enabled = meter, tracker, count_flops

    @contextlib.contextmanager
    def window(self, name: str):
        """The energy window of an epoch's ``train`` steps or ``eval``; the MLPerf log brackets them too."""
        with (self.meter.window(name) if self.meter is not None else contextlib.nullcontext()):
            trainer = getattr(self, "trainer", None)
            tracker = self.tracker if trainer is not None else None
            epoch = trainer.epoch + 1 if trainer is not None else 0
            if tracker is not None:
                tracker.epoch_start(epoch, trainer.step) if name == "train" else tracker.eval_start(epoch)
            yield
            if tracker is not None:  # not reached when the window ends by an exception (a stop, a divergence)
                tracker.epoch_stop(epoch) if name == "train" else tracker.eval_stop(epoch)

    def count_flops(self, model, step):
        if not self.count_flops_enabled:
            step()
            return None
        from .measurement import count_forward_flops

        return count_forward_flops(model, step)

    def checkpoint(self, trainer, which: str, state: Dict[str, Any]) -> None:
        from .training.checkpoint import checkpoint_path, save_checkpoint

        save_checkpoint(checkpoint_path(self.run_dir, which), state)
        if which == "last":
            write_metrics(self.run_dir, state["history"])

    def epoch_end(self, trainer, metrics: Dict[str, Any]) -> None:
        if self.tracker is not None:
            self.tracker.log_epoch(metrics["epoch"], metrics)
        best = trainer.best
        self.log(f"epoch {metrics['epoch']}/{trainer.cfg.training.epochs}  loss {metrics['train_loss']:.4f}  "
                 f"train-adv-acc {metrics['train_robust_acc']:.1f}%  subset clean {metrics['clean_subset']:.1f}% "
                 f"pgd {metrics['pgd_subset']:.1f}% (best {best['pgd_subset']:.1f}% @{best['epoch']})  "
                 f"lr {metrics['lr']:.4g}  train {metrics['train_seconds']:.1f}s eval {metrics['eval_seconds']:.1f}s")

    def point(self, name: str) -> None:
        self.kill(name)

    def stop_requested(self) -> int:
        return self.stop.signum

    def state(self) -> Dict[str, Any]:
        return {"energy": self.meter.totals() if self.meter is not None else None}


def write_metrics(run_dir: str, history: List[Dict[str, Any]]) -> None:
    """(Re)write metrics.jsonl: one JSON object per finished epoch."""
    text = "".join(json.dumps(h, sort_keys=True) + "\n" for h in history)
    atomic_write_text(os.path.join(run_dir, METRICS_FILE), text)


def _remove_stale_temp_files(run_dir: str) -> None:
    """Temp files of atomic writes that a killed attempt left behind (never renamed, never read)."""
    for name in os.listdir(run_dir):
        if name.startswith(".tmp-"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(run_dir, name))


def _logger(run_dir: str, is_main: bool, prefix: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        if not is_main:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = f"[{prefix}] {message}"
        print(line, flush=True)
        with open(os.path.join(run_dir, LOG_FILE), "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")

    return log


# ---------------------------------------------------------------- the record's lifecycle

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
            _remove_stale_temp_files(self.run_dir)
        attempts = (self.record[rs.JOB].get("attempts") or 0) + 1
        self.record[rs.JOB] = rs.Job(**job_info(), attempts=attempts).to_dict()
        self._become(rs.RUNNING)

    def fail(self, reason: str) -> None:
        """-> failed with ``reason`` (a write error here is reported, not raised over the run's own error)."""
        self._become(rs.FAILED, reason, quiet=True)

    def preempt(self) -> None:
        """-> preempted: the state is saved; the launcher resumes the run."""
        self._become(rs.PREEMPTED)

    def complete(self) -> None:
        """-> completed."""
        if self.tracker is not None:
            self.record[rs.TRACKING] = self.tracker.record_fields()
        self._become(rs.COMPLETED)

    def _become(self, status: str, reason: Optional[str] = None, quiet: bool = False) -> None:
        self.record[rs.STATUS], self.record[rs.FAILURE_REASON] = status, reason
        self.write(quiet=quiet)
        if status != rs.RUNNING:
            self.close_tracker()

    def close_tracker(self) -> None:
        if self.tracker is not None and not self._tracker_done:
            self._tracker_done = True
            self.tracker.finish(self.record)


# ---------------------------------------------------------------- the run

def execute(spec, results_dir: str, *, recipe_name: Optional[str] = None, checkpoint_steps: int = 0,
            checkpoint_seconds: float = 600.0, device: Optional[str] = None, progress: Optional[bool] = None,
            evaluate: bool = True, count_flops: bool = True, restart: bool = False) -> int:
    """Train (or resume, skip, re-evaluate or re-price) one run and maintain its result record.

    Args:
        spec: the run (:class:`recipes.RunSpec`).
        results_dir: the results folder; the run writes ``results_dir/<run_id>/``.
        recipe_name: recorded as the record's ``recipe``.
        checkpoint_steps: checkpoint every this many steps inside an epoch too (0 = epoch ends only).
        checkpoint_seconds: checkpoint when this long has passed since the last checkpoint (0 = never).
        device: ``cpu`` / ``cuda``; None = CUDA when available.
        progress: tqdm bars; None = when stderr is a terminal.
        evaluate: run the final evaluation (``benchmarks.evaluation``) after training.
        count_flops: count the executed FLOPs of the first step with DeepSpeed.
        restart: move damaged state aside first (:func:`benchmarks.recovery.restart`).

    Returns:
        The exit code: :data:`EXIT_OK`, :data:`EXIT_DIVERGED` or 128 + signal (:func:`preempted_exit_code`).

    Raises:
        UserError: a missing or malformed dataset and other user mistakes (the record says failed).
    """
    record = None if restart else _load_or_explain(results_dir, spec.run_id)
    if _nothing_to_do(spec, record, evaluate):  # before torch is even imported: "at once"
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"robustperf run: {spec.run_id} ({spec.name}) is already completed: "
                  f"{rs.record_path(results_dir, spec.run_id)}", flush=True)
        return EXIT_OK
    kwargs = dict(recipe_name=recipe_name, checkpoint_steps=checkpoint_steps, checkpoint_seconds=checkpoint_seconds,
                  device=device, progress=progress, evaluate=evaluate, count_flops=count_flops)
    if int(os.environ.get("RANK", "0")) != 0:
        if record is not None and record[rs.STATUS] == rs.COMPLETED:
            return EXIT_OK  # re-evaluation and re-pricing are rank 0's
        return _execute_unlocked(spec, results_dir, **kwargs)
    # One process per run: a second one raises RunLocked (exit EXIT_IN_FLIGHT) before it changes anything.
    with RunLock(run_dir_of(results_dir, spec.run_id)):
        if restart:
            from .recovery import restart as _restart

            _restart(run_dir_of(results_dir, spec.run_id))
        record = _load_or_explain(results_dir, spec.run_id)  # as the holder we may have waited behind left it
        if record is not None and record[rs.STATUS] == rs.COMPLETED:
            return _completed(spec, results_dir, record, evaluate=evaluate, device=device)
        return _execute_unlocked(spec, results_dir, **kwargs)


def _load_or_explain(results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    try:
        return load_record(results_dir, run_id)
    except RecordError as err:
        raise RecordError(err.path, f"{err.reason}. The run's record is damaged: rerun the same command with "
                                    f"--restart to keep it aside and continue from the checkpoint (or start "
                                    f"over)") from None


def _nothing_to_do(spec, record: Optional[Dict[str, Any]], evaluate: bool) -> bool:
    """A completed record with the evaluation settings and pricing constants asked for."""
    if record is None or record[rs.STATUS] != rs.COMPLETED:
        return False
    _, changes, needs_evaluation = refresh(record, spec.config, evaluate=evaluate)
    return not changes and not needs_evaluation


def _execute_unlocked(spec, results_dir: str, *, recipe_name, checkpoint_steps, checkpoint_seconds, device, progress,
                      evaluate, count_flops) -> int:
    from .training.distributed import destroy_distributed, init_distributed

    dist = init_distributed(device)
    box: Dict[str, Any] = {}
    try:
        return _execute(spec, results_dir, dist, box, recipe_name=recipe_name, checkpoint_steps=checkpoint_steps,
                        checkpoint_seconds=checkpoint_seconds, progress=progress, evaluate=evaluate,
                        count_flops=count_flops)
    finally:
        trainer = box.pop("trainer", None)
        if trainer is not None:
            trainer.close()  # release DDP before its process group goes (see Trainer.close)
        del trainer
        destroy_distributed()


def _execute(spec, results_dir, dist, box, *, recipe_name, checkpoint_steps, checkpoint_seconds, progress, evaluate,
             count_flops) -> int:
    init_start_ms = int(time.time() * 1000)  # the MLPerf log's init_start: set-up begins here
    from .training import Diverged

    life = RunLifecycle(spec, results_dir, recipe_name=recipe_name, is_main=dist.is_main)
    life.start()
    cfg = spec.run_config()
    log = _logger(life.run_dir, dist.is_main, spec.run_id)
    _size_cpu_threads(dist)
    trainer = meter = None
    phase = ""
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(_StopFlag())
        kill = TestInterrupt.from_env(TEST_INTERRUPT_ENV)
        if kill.point == "checkpoint_write":
            from .training import checkpoint as _checkpoint

            _checkpoint._before_rename = lambda tmp: kill("checkpoint_write")
        try:
            trainer, meter = _start(life, cfg, dist, stack, stop, kill, log, box, checkpoint_steps=checkpoint_steps,
                                    checkpoint_seconds=checkpoint_seconds, progress=progress, count_flops=count_flops,
                                    init_start_ms=init_start_ms)
            trainer.train()
            trainer.close()  # training is over on every rank; rank 0 evaluates on its own
            kill("finish")
            phase = "evaluation: "
            if evaluate:
                _final_evaluation(life.record, trainer, life.run_dir, cfg, dist, meter, log)
        except Diverged as err:
            log(f"diverged: {err}")
            life.fail(f"diverged: {err}")
            return EXIT_DIVERGED
        except Preempted as err:
            if phase or trainer is None:  # the evaluation saved its state
                log(f"{err} (exit {err.exit_code})")
            else:
                log(f"stopped by signal {err.signum} at epoch {trainer.epoch + 1}, step {trainer.step}; checkpoint "
                    f"saved, rerun the same command to resume (exit {err.exit_code})")
            _fill_progress(life, trainer, meter, cfg, dist)
            life.preempt()
            return err.exit_code
        except UserError as err:
            life.fail(f"{phase}{type(err).__name__}: {err}")
            raise
        except Exception as err:  # noqa: BLE001 - recorded, then re-raised with its traceback
            life.fail(f"{phase}{type(err).__name__}: {err}\n{traceback.format_exc(limit=5)}")
            raise
    _fill_progress(life, trainer, meter, cfg, dist)
    life.complete()
    log(f"completed: best subset PGD {trainer.best['pgd_subset']:.2f}% at epoch {trainer.best['epoch']}; "
        f"record {os.path.join(life.run_dir, rs.RECORD_FILE)}")
    return EXIT_OK


def _start(life, cfg, dist, stack, stop, kill, log, box, *, checkpoint_steps, checkpoint_seconds, progress,
           count_flops, init_start_ms=None):
    """Build the trainer (resumed from ``checkpoint-last.pt`` when there is one), the meter and the tracker."""
    from .training import Trainer
    from .training.checkpoint import checkpoint_path, load_checkpoint

    spec, run_dir = life.spec, life.run_dir
    hooks = RunHooks(run_dir, dist.is_main, stop, kill, log, count_flops=count_flops)
    trainer = Trainer(cfg, dist, hooks, checkpoint_steps=checkpoint_steps, checkpoint_seconds=checkpoint_seconds,
                      progress=progress)
    hooks.trainer = box["trainer"] = trainer
    last = checkpoint_path(run_dir, "last")
    previous_energy = None
    if os.path.exists(last):
        state = load_checkpoint(last, map_location=dist.device)
        trainer.load_state_dict(state)
        previous_energy = (state.get("extra") or {}).get("energy")
        if dist.is_main:
            write_metrics(run_dir, trainer.history)
        log(f"resuming {spec.name} at epoch {trainer.epoch + 1}, step {trainer.step} "
            f"(attempt {life.record[rs.JOB]['attempts']})")
    else:
        log(f"starting {spec.name}: {trainer.spec['name']} {trainer.params:,} params, "
            f"{len(trainer.batches)} steps/epoch x {cfg.training.epochs} epochs, global batch "
            f"{trainer.global_batch_size}, lr {trainer.lr:g}, {dist.world_size} process(es) on "
            f"{dist.device.type}")
    meter = hooks.meter = stack.enter_context(_energy_meter(cfg, dist, previous_energy))
    if dist.is_main:
        _fill_setup(life.record, trainer, dist)
        life.write()
    life.tracker = hooks.tracker = _tracker(spec, cfg, run_dir, life.record[rs.RECIPE], dist, init_start_ms)
    if life.tracker is not None:  # a resumed run's tracker logged its set-up in the first attempt
        life.tracker.log_setup(global_batch_size=trainer.global_batch_size,
                               train_samples=len(trainer.batches) * trainer.global_batch_size,
                               eval_samples=trainer.test_n, micro_batch_size=cfg.data.batch_size,
                               precision=cfg.training.precision, world_size=dist.world_size,
                               hardware=life.record[rs.HARDWARE])
    return trainer, meter


def _size_cpu_threads(dist) -> None:
    if dist.device.type == "cpu" and dist.distributed and "OMP_NUM_THREADS" not in os.environ:
        import torch

        # Every rank on one host shares the cores this process may use (its affinity, not the whole node);
        # oversubscription slows gloo runs to a crawl. A launcher's or user's OMP_NUM_THREADS wins.
        torch.set_num_threads(max(1, _cpu_cores() // dist.world_size))


def _fill_progress(life, trainer, meter, cfg, dist) -> None:
    """Training state and measurements so far into the record (rank 0)."""
    if dist.is_main and trainer is not None:
        _fill_training(life.record, trainer)
        _fill_measurements(life.record, trainer, meter, cfg, dist)


# ---------------------------------------------------------------- a completed run: re-price, re-evaluate

def _completed(spec, results_dir: str, record: Dict[str, Any], *, evaluate: bool, device: Optional[str]) -> int:
    """A completed run: re-price it for other pricing constants and re-evaluate it for other evaluation
    settings (a stored evaluation with those settings is reused); never retrain. Rank 0 only."""
    if int(os.environ.get("RANK", "0")) != 0:
        return EXIT_OK
    path = rs.record_path(results_dir, spec.run_id)
    record, done, needs_evaluation = refresh(record, spec.config, evaluate=evaluate)
    if needs_evaluation:
        record[rs.CONFIG] = spec.config
        settings = rs.evaluation_settings(spec.config["evaluation"])
        _reevaluate(spec, results_dir, record, settings, device)
        record = reprice(record)  # the new evaluation's kWh with the record's constants
        done.append(f"re-evaluated with new settings (evaluation {rs.evaluation_key(settings)}); checkpoints "
                    "untouched")
    if done:
        write_record(results_dir, record)
        print(f"robustperf run: {spec.run_id} ({spec.name}) was completed: {'; '.join(done)}: {path}", flush=True)
    else:
        print(f"robustperf run: {spec.run_id} ({spec.name}) is already completed: {path}", flush=True)
    return EXIT_OK


def _reevaluate(spec, results_dir: str, record: Dict[str, Any], settings: Dict[str, Any],
                device: Optional[str]) -> None:
    from .evaluation import evaluate_run

    run_dir = run_dir_of(results_dir, spec.run_id)
    log = _logger(run_dir, True, spec.run_id)
    log(f"re-evaluating the completed run with {json.dumps(settings, sort_keys=True)}")
    evaluate_run(run_dir, settings["which"], record=record, log=log, device=device)


# ---------------------------------------------------------------- record filling

def _fill_setup(record: Dict[str, Any], trainer, dist) -> None:
    from .measurement import hardware_info, software_info

    record[rs.PARAMS] = trainer.params
    record[rs.SEED] = trainer.cfg.seed
    indices = [dist.device.index or 0] if dist.device.type == "cuda" else []
    record[rs.HARDWARE] = hardware_info(indices)
    if dist.device.type == "cuda":
        record[rs.HARDWARE]["count"] = dist.world_size
    record[rs.SOFTWARE] = software_info()
    _fill_training(record, trainer)


def _fill_training(record: Dict[str, Any], trainer) -> None:
    cfg = trainer.cfg
    history = trainer.history
    record[rs.TRAINING].update(rs.Training(
        epochs=cfg.training.epochs, epochs_completed=trainer.epoch, global_batch_size=trainer.global_batch_size,
        world_size=trainer.dist.world_size, best_epoch=trainer.best["epoch"],
        best_pgd_subset=trainer.best["pgd_subset"], final_train_loss=history[-1]["train_loss"] if history else None,
        precision=cfg.training.precision).to_dict())
    record[rs.METHOD] = rs.Method(**trainer.method.describe()).to_dict()
    record[rs.CHECKPOINTS].update(rs.Checkpoints(
        best="checkpoint-best.pt" if trainer.best["epoch"] is not None else None,
        last="checkpoint-last.pt" if history or trainer.step else None).to_dict())


def _fill_measurements(record: Dict[str, Any], trainer, meter, cfg, dist) -> None:
    from .measurement import device_model, forward_flops_per_sample, summarize, train_flops

    flops = record[rs.FLOPS]
    # Summed over step shapes, resumed sessions and ranks by the trainer (Trainer.sum_flops).
    executed = trainer.flops_total or {"forward": None, "samples": trainer.samples_seen * dist.world_size}
    flops.update(steps=trainer.global_step, train_samples=executed["samples"])
    if executed["forward"] is not None and executed["samples"]:
        flops.update(source="deepspeed", train_forward_per_sample=executed["forward"] / executed["samples"],
                     train_total=train_flops(executed["forward"], 1), train_executed=executed.get("executed"))
    if flops.get("forward_per_sample") is None and executed["forward"] is not None:
        info = trainer.info
        counted = forward_flops_per_sample(trainer.eval_model, (info.in_chans, info.size, info.size))
        flops.update(forward_per_sample=counted["forward_flops"], forward_macs_per_sample=counted["forward_macs"])
    timing = record[rs.TIMING]
    if meter is None:
        timing["train_seconds"] = trainer.seconds["train"]
        return
    devices = dist.world_size if dist.device.type == "cuda" else max(1, _cpu_cores())
    summary = summarize(meter.totals(), cfg.measurement, device_model(record[rs.HARDWARE] or {}), devices)
    # The evaluation sums its own time and energy over every session it resumed (a SIGKILL mid-attack
    # loses the meter's window but not the evaluation's state): where it reported them, they win.
    for group, keys in EVALUATION_OWNED.items():
        for key in keys:
            if record[group].get(key) is not None:
                summary[group].pop(key, None)
    record[rs.ENERGY].update(summary[rs.ENERGY])
    record[rs.COST].update(summary[rs.COST])
    record[rs.CO2_KG] = summary[rs.CO2_KG]
    record[rs.PRICING] = summary[rs.PRICING]
    for key, value in summary[rs.TIMING].items():
        if value is not None or timing.get(key) is None:
            timing[key] = value


#: Record fields the evaluation fills itself, summed over its resumed sessions.
EVALUATION_OWNED = {rs.TIMING: ("eval_seconds", "attack_seconds"),
                    rs.ENERGY: ("eval_kwh", "attack_kwh", "eval_j", "attack_j")}


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def _energy_meter(cfg, dist, previous):
    """The run's energy meter (rank 0 meters every local device of the run); None on other ranks."""
    if not dist.is_main:
        yield None
        return
    from .measurement import EnergyMeter

    # Rank 0 meters the GPUs of its own node (torchrun's LOCAL_WORLD_SIZE); on several nodes the other nodes'
    # energy is not counted (README, known limitations) rather than asking NVML for GPUs this node lacks.
    local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size))
    indices = list(range(min(local, dist.world_size))) if dist.device.type == "cuda" else []
    with EnergyMeter(cfg.measurement, indices, restore=previous) as meter:
        yield meter


def _tracker(spec, cfg, run_dir, recipe_name, dist, init_start_ms=None):
    from .tracking import Tracker

    return Tracker(cfg.to_dict(), run_dir, spec.run_id, spec.name, recipe_name=recipe_name, rank=dist.rank,
                   init_start_ms=init_start_ms)


def _final_evaluation(record, trainer, run_dir, cfg, dist, meter, log) -> None:
    """Hook for the evaluation workload (benchmarks.evaluation): fills ``accuracy.*`` of the record."""
    try:
        from .evaluation import evaluate_run
    except ImportError:
        log("final evaluation skipped: benchmarks.evaluation.evaluate_run is not available; accuracy.* stay null")
        return
    if not dist.is_main:
        return
    evaluate_run(run_dir, cfg.evaluation.which, record=record, meter=meter, log=log, device=dist.device.type)
