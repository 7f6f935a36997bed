"""One run of the matrix, start to finish: the result record's lifecycle around training and evaluation.

Lifecycle of ``DIR/<run_id>/result.json``:

0. One process per run: ``DIR/<run_id>/run.lock`` (:mod:`results.lock`) is taken first; when another live process
   holds it, exit :data:`EXIT_IN_FLIGHT` (75) at once, having changed nothing.
1. A ``completed`` record: nothing to do (exit 0 at once).
2. Otherwise the record is (re)written ``running`` with the job's identity and ``job.attempts`` + 1, and training
   starts, or resumes from ``checkpoint-last.pt`` when one exists.
3. SIGTERM / SIGUSR1 (sent by SLURM and LSF before the wall-time): checkpoint at the next step boundary (or
   the evaluation's state), leave the record ``running`` and exit 128 + the signal number (143 for SIGTERM,
   138 for SIGUSR1, as a shell reports a process ended by it; :func:`preempted_exit_code`), so the launcher
   requeues; the rerun resumes.
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
from results import (COMPLETED, FAILED, RUNNING, RecordError, atomic_write_text, load_record, new_record,
                     write_record)
from results.lock import EXIT_IN_FLIGHT, RunLock

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_USER", "EXIT_DIVERGED", "EXIT_PREEMPTED", "EXIT_IN_FLIGHT", "METRICS_FILE", "LOG_FILE",
           "execute", "job_info", "preempted_exit_code", "run_dir_of", "TEST_KILL_ENV"]

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

#: Test hook, for the kill/resume tests only: ``POINT:N[:SIGNAL]`` sends SIGNAL (default KILL) to this process
#: at the N-th time the run passes POINT (``step``, ``checkpoint``, ``epoch_eval``, ``checkpoint_write`` -
#: inside a checkpoint write, before its rename - or ``finish``, after training, before the record completes).
TEST_KILL_ENV = "ROBUSTPERF_TEST_KILL_AT"


def preempted_exit_code(signum: int) -> int:
    """Exit code of a run that checkpointed and stopped on ``signum``: 128 + signum (143, 138)."""
    return 128 + int(signum or signal.SIGTERM)


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


class _KillHook:
    def __init__(self, spec: Optional[str]):
        self.point, self.count, self.sig, self.seen = None, 0, signal.SIGKILL, 0
        if spec:
            parts = spec.split(":")
            self.point, self.count = parts[0], int(parts[1])
            if len(parts) > 2:
                self.sig = getattr(signal, "SIG" + parts[2].upper().removeprefix("SIG"))

    def __call__(self, point: str, *args) -> None:
        if point == self.point:
            self.seen += 1
            if self.seen == self.count:
                sys.stdout.flush()
                sys.stderr.flush()
                os.kill(os.getpid(), self.sig)
                if self.sig != signal.SIGKILL:
                    time.sleep(0.01)  # let the handler run before the next instruction


# ---------------------------------------------------------------- the hooks into the training loop

class RunHooks:
    """Wires the training loop to this run's files, the energy meter, the FLOPs counter and the tracker."""

    def __init__(self, run_dir: str, is_main: bool, stop: _StopFlag, kill: _KillHook, log: Callable[[str], None],
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


# ---------------------------------------------------------------- the run

def execute(spec, results_dir: str, *, recipe_name: Optional[str] = None, checkpoint_steps: int = 0,
            checkpoint_seconds: float = 600.0, device: Optional[str] = None, progress: Optional[bool] = None,
            evaluate: bool = True, count_flops: bool = True, restart: bool = False) -> int:
    """Train (or resume, or skip) one run and maintain its result record.

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
    if not restart and _already_completed(spec, results_dir):  # before torch is even imported: "at once"
        return EXIT_OK
    if int(os.environ.get("RANK", "0")) != 0:
        return _execute_unlocked(spec, results_dir, recipe_name=recipe_name, checkpoint_steps=checkpoint_steps,
                                 checkpoint_seconds=checkpoint_seconds, device=device, progress=progress,
                                 evaluate=evaluate, count_flops=count_flops)
    # One process per run: a second one raises RunLocked (exit EXIT_IN_FLIGHT) before it changes anything.
    with RunLock(run_dir_of(results_dir, spec.run_id)):
        if restart:
            from .recovery import restart as _restart

            _restart(run_dir_of(results_dir, spec.run_id))
        if _already_completed(spec, results_dir):  # completed by the holder we waited behind
            return EXIT_OK
        return _execute_unlocked(spec, results_dir, recipe_name=recipe_name, checkpoint_steps=checkpoint_steps,
                                 checkpoint_seconds=checkpoint_seconds, device=device, progress=progress,
                                 evaluate=evaluate, count_flops=count_flops)


def _already_completed(spec, results_dir: str) -> bool:
    try:
        record = load_record(results_dir, spec.run_id)
    except RecordError as err:
        raise RecordError(err.path, f"{err.reason}. The run's record is damaged: rerun the same command with "
                                    f"--restart to keep it aside and continue from the checkpoint (or start "
                                    f"over)") from None
    if record is not None and record["status"] == COMPLETED:
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"robustperf run: {spec.run_id} ({spec.name}) is already completed: "
                  f"{os.path.join(run_dir_of(results_dir, spec.run_id), 'result.json')}", flush=True)
        return True
    return False


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
    import torch

    from .training import Diverged, Stopped, Trainer
    from .training.checkpoint import checkpoint_path, load_checkpoint

    run_dir = run_dir_of(results_dir, spec.run_id)
    record = load_record(results_dir, spec.run_id)
    cfg = spec.run_config()
    if dist.is_main:
        os.makedirs(run_dir, exist_ok=True)
        if record is None:
            record = new_record(spec.run_id, spec.name, spec.config, recipe=recipe_name)
        _remove_stale_temp_files(run_dir)
        attempts = (record["job"].get("attempts") or 0) + 1
        record["job"] = {**job_info(), "attempts": attempts}
        record["status"], record["failure_reason"] = RUNNING, None
        write_record(results_dir, record)
    log = _logger(run_dir, dist.is_main, spec.run_id)

    def fail(reason: str) -> None:
        if dist.is_main:
            record["status"], record["failure_reason"] = FAILED, reason
            try:
                write_record(results_dir, record)
            except OSError as err:  # the disk that broke the run refuses this too: report the first error
                log(f"could not mark the record failed: {err}")

    if dist.device.type == "cpu" and dist.distributed and "OMP_NUM_THREADS" not in os.environ:
        # Every rank on one host shares the cores this process may use (its affinity, not the whole node);
        # oversubscription slows gloo runs to a crawl. A launcher's or user's OMP_NUM_THREADS wins.
        torch.set_num_threads(max(1, _cpu_cores() // dist.world_size))

    tracker = meter = None
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(_StopFlag())
        kill = _KillHook(os.environ.get(TEST_KILL_ENV))
        if kill.point == "checkpoint_write":
            from .training import checkpoint as _checkpoint

            _checkpoint._before_rename = lambda tmp: kill("checkpoint_write")
        try:
            hooks = RunHooks(run_dir, dist.is_main, stop, kill, log, count_flops=count_flops)
            trainer = Trainer(cfg, dist, hooks, checkpoint_steps=checkpoint_steps,
                              checkpoint_seconds=checkpoint_seconds, progress=progress)
            hooks.trainer = trainer
            box["trainer"] = trainer
            last = checkpoint_path(run_dir, "last")
            previous_energy = None
            if os.path.exists(last):
                state = load_checkpoint(last, map_location=dist.device)
                trainer.load_state_dict(state)
                previous_energy = (state.get("extra") or {}).get("energy")
                if dist.is_main:
                    write_metrics(run_dir, trainer.history)
                log(f"resuming {spec.name} at epoch {trainer.epoch + 1}, step {trainer.step} "
                    f"(attempt {record['job']['attempts'] if record else '?'})")
            else:
                log(f"starting {spec.name}: {trainer.spec['name']} {trainer.params:,} params, "
                    f"{len(trainer.batches)} steps/epoch x {cfg.training.epochs} epochs, global batch "
                    f"{trainer.global_batch_size}, lr {trainer.lr:g}, {dist.world_size} process(es) on "
                    f"{dist.device.type}")
            meter = stack.enter_context(_energy_meter(cfg, dist, previous_energy))
            hooks.meter = meter
            if dist.is_main:
                _fill_setup(record, trainer, dist)
                write_record(results_dir, record)
            tracker = _tracker(spec, cfg, run_dir, recipe_name, dist, init_start_ms)
            hooks.tracker = tracker
            if tracker is not None:  # a resumed run's tracker logged its set-up in the first attempt
                tracker.log_setup(global_batch_size=trainer.global_batch_size,
                                  train_samples=len(trainer.batches) * trainer.global_batch_size,
                                  eval_samples=trainer.test_n, micro_batch_size=cfg.data.batch_size,
                                  precision=cfg.training.precision, world_size=dist.world_size,
                                  hardware=record["hardware"] if record else None)
            trainer.train()
            trainer.close()  # training is over on every rank; rank 0 evaluates on its own
        except Diverged as err:
            log(f"diverged: {err}")
            fail(f"diverged: {err}")
            _finish_tracker(tracker, record)
            return EXIT_DIVERGED
        except Stopped as err:
            code = preempted_exit_code(err.signum)
            log(f"stopped by signal {err.signum} at epoch {trainer.epoch + 1}, step {trainer.step}; checkpoint "
                f"saved, rerun the same command to resume (exit {code})")
            _suspend(record, trainer, meter, cfg, dist, results_dir, tracker)
            return code
        except UserError as err:
            fail(f"{type(err).__name__}: {err}")
            _finish_tracker(tracker, record)
            raise
        except Exception as err:  # noqa: BLE001 - recorded, then re-raised with its traceback
            fail(f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=5)}")
            _finish_tracker(tracker, record)
            raise
        kill("finish")
        try:
            if evaluate:
                _final_evaluation(record, trainer, run_dir, cfg, dist, meter, log)
        except UserError as err:
            fail(f"{type(err).__name__}: {err}")
            _finish_tracker(tracker, record)
            raise
        except Exception as err:  # noqa: BLE001 - recorded, then re-raised with its traceback
            if type(err).__name__ == "EvaluationInterrupted":  # state saved by the evaluation; resume later
                code = preempted_exit_code(err.signum)
                log(f"{err} (exit {code})")
                _suspend(record, trainer, meter, cfg, dist, results_dir, tracker)
                return code
            fail(f"evaluation: {type(err).__name__}: {err}")
            _finish_tracker(tracker, record)
            raise
    if dist.is_main:
        _fill_training(record, trainer)
        _fill_measurements(record, trainer, meter, cfg, dist)
        if tracker is not None:
            record["tracking"] = tracker.record_fields()
        record["status"], record["failure_reason"] = COMPLETED, None
        write_record(results_dir, record)
        log(f"completed: best subset PGD {trainer.best['pgd_subset']:.2f}% at epoch {trainer.best['epoch']}; "
            f"record {os.path.join(run_dir, 'result.json')}")
    _finish_tracker(tracker, record)
    return EXIT_OK


# ---------------------------------------------------------------- record filling

def _suspend(record, trainer, meter, cfg, dist, results_dir, tracker) -> None:
    """Leave the record ``running`` with what is known so far (the launcher requeues the run)."""
    if dist.is_main:
        _fill_training(record, trainer)
        _fill_measurements(record, trainer, meter, cfg, dist)
        record["status"], record["failure_reason"] = RUNNING, None
        write_record(results_dir, record)
    _finish_tracker(tracker, record)


def _fill_setup(record: Dict[str, Any], trainer, dist) -> None:
    from .measurement import hardware_info, software_info

    record["params"] = trainer.params
    record["seed"] = trainer.cfg.seed
    indices = [dist.device.index or 0] if dist.device.type == "cuda" else []
    record["hardware"] = hardware_info(indices)
    if dist.device.type == "cuda":
        record["hardware"]["count"] = dist.world_size
    record["software"] = software_info()
    _fill_training(record, trainer)


def _fill_training(record: Dict[str, Any], trainer) -> None:
    cfg = trainer.cfg
    history = trainer.history
    record["training"] = {
        "epochs": cfg.training.epochs, "epochs_completed": trainer.epoch,
        "global_batch_size": trainer.global_batch_size, "world_size": trainer.dist.world_size,
        "best_epoch": trainer.best["epoch"], "best_pgd_subset": trainer.best["pgd_subset"],
        "final_train_loss": history[-1]["train_loss"] if history else None, "precision": cfg.training.precision,
    }
    record["checkpoints"] = {"best": "checkpoint-best.pt" if trainer.best["epoch"] is not None else None,
                             "last": "checkpoint-last.pt" if history or trainer.step else None}


def _fill_measurements(record: Dict[str, Any], trainer, meter, cfg, dist) -> None:
    from .measurement import device_model, forward_flops_per_sample, summarize, train_flops

    flops = record["flops"]
    # Summed over step shapes, resumed sessions and ranks by the trainer (Trainer.sum_flops).
    executed = trainer.flops_total or {"forward": None, "samples": trainer.samples_seen * dist.world_size}
    flops["steps"] = trainer.global_step
    flops["train_samples"] = executed["samples"]
    if executed["forward"] is not None and executed["samples"]:
        flops["source"] = "deepspeed"
        flops["train_forward_per_sample"] = executed["forward"] / executed["samples"]
        flops["train_total"] = train_flops(executed["forward"], 1)
    if flops.get("forward_per_sample") is None and executed["forward"] is not None:
        info = trainer.info
        counted = forward_flops_per_sample(trainer.eval_model, (info.in_chans, info.size, info.size))
        flops["forward_per_sample"] = counted["forward_flops"]
        flops["forward_macs_per_sample"] = counted["forward_macs"]
    if meter is not None:
        devices = dist.world_size if dist.device.type == "cuda" else max(1, _cpu_cores())
        summary = summarize(meter.totals(), cfg.measurement, device_model(record["hardware"] or {}), devices)
        # The evaluation sums its own time and energy over every session it resumed (a SIGKILL mid-attack
        # loses the meter's window but not the evaluation's state): where it reported them, they win.
        for group, keys in EVALUATION_OWNED.items():
            for key in keys:
                if record[group].get(key) is not None:
                    summary[group].pop(key, None)
        record["energy"].update(summary["energy"])
        record["cost"].update(summary["cost"])
        record["co2_kg"] = summary["co2_kg"]
        record["pricing"] = summary["pricing"]
        for key, value in summary["timing"].items():
            if value is not None or record["timing"].get(key) is None:
                record["timing"][key] = value
    if meter is None:
        record["timing"]["train_seconds"] = trainer.seconds["train"]


#: Record fields the evaluation fills itself, summed over its resumed sessions.
EVALUATION_OWNED = {"timing": ("eval_seconds", "attack_seconds"),
                    "energy": ("eval_kwh", "attack_kwh", "eval_j", "attack_j")}


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


def _finish_tracker(tracker, record) -> None:
    if tracker is not None:
        tracker.finish(record)


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
