"""One training session of a run: build (or resume) the trainer, train, evaluate, and record every way it ends.

Every way out passes through :class:`.lifecycle.RunLifecycle`: a non-finite loss -> failed (exit
:data:`.exit_codes.EXIT_DIVERGED`); SIGTERM / SIGUSR1 -> checkpoint at the next step boundary (or the evaluation
saves its state) and preempted (exit 128 + the signal); a user mistake or an error -> failed, re-raised; done ->
the final evaluation (and, for a benchmark run, the confirmation of its target checkpoint), then the measured
FLOPs, energy, cost and CO2 fill the record, which becomes completed.
"""
from __future__ import annotations

import contextlib
import os
import time
import traceback
from typing import Any, Dict, Optional

import torch

from recipes.errors import UserError
from results import RECORD_FILE
from results.keys import HARDWARE, JOB, RECIPE, TIMING, TO_TARGET

from ..evaluation import confirm_target, evaluate_run
from ..interruption import TEST_INTERRUPT_ENV, Preempted, TestInterrupt
from ..measurement import EnergyMeter
from ..measurement.layers import LayerProfiler
from ..tracking import Tracker
from ..training import Trainer
from ..recovery import abandon_last
from ..training.checkpoint import DamagedCheckpointError, checkpoint_path, on_checkpoint_write
from ..training.distributed import destroy_distributed, init_distributed
from ..training.errors import Diverged, Stopped
from .exit_codes import EXIT_DIVERGED, EXIT_OK
from .folder import run_logger, write_metrics
from .hooks import RunHooks
from .lifecycle import RunLifecycle
from .nodes import NodeEnergy
from .record import cpu_cores, fill_measurements, fill_memory, fill_pretraining, fill_setup, fill_training
from .signals import StopFlag

__all__ = ["run_session"]


def run_session(spec, results_dir: str, *, recipe_name, checkpoint_steps, checkpoint_seconds, device, progress,
                evaluate, count_flops, restart=False) -> int:
    """Train (or resume) ``spec`` in this process's place of the process group; the exit code. ``restart``: a
    last checkpoint that does not fit the run is set aside and the run starts over (``robustperf run --restart``)."""
    dist = init_distributed(device)
    box: Dict[str, Any] = {}
    try:
        return _session(spec, results_dir, dist, box, recipe_name=recipe_name, checkpoint_steps=checkpoint_steps,
                        checkpoint_seconds=checkpoint_seconds, progress=progress, evaluate=evaluate,
                        count_flops=count_flops, restart=restart)
    finally:
        trainer = box.pop("trainer", None)
        if trainer is not None:
            trainer.close()  # release DDP before its process group goes (see Trainer.close)
        del trainer
        destroy_distributed()


def _session(spec, results_dir, dist, box, *, recipe_name, checkpoint_steps, checkpoint_seconds, progress, evaluate,
             count_flops, restart=False) -> int:
    init_start_ms = int(time.time() * 1000)  # the MLPerf log's init_start: set-up begins here
    life = RunLifecycle(spec, results_dir, recipe_name=recipe_name, is_main=dist.is_main)
    life.start()
    cfg = spec.run_config()
    log = run_logger(life.run_dir, dist.is_main, spec.run_id)
    _size_cpu_threads(dist)
    trainer = meter = None
    phase = ""
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(StopFlag())
        kill = TestInterrupt.from_env(TEST_INTERRUPT_ENV)
        if kill.point == "checkpoint_write":
            on_checkpoint_write(lambda tmp: kill("checkpoint_write"))
        try:
            trainer, meter = _start(life, cfg, dist, stack, stop, kill, log, box, checkpoint_steps=checkpoint_steps,
                                    checkpoint_seconds=checkpoint_seconds, progress=progress, count_flops=count_flops,
                                    init_start_ms=init_start_ms, restart=restart)
            trainer.train()
            box["nodes"].gather()  # every node's meter as training ends (collective on several nodes)
            trainer.close()  # training is over on every rank; rank 0 evaluates on its own
            kill("finish")
            phase = "evaluation: "
            if evaluate and dist.is_main:
                # the evaluation workload (benchmarks.evaluation) fills accuracy.* of the record
                evaluate_run(life.run_dir, cfg.evaluation.which, record=life.record, meter=meter, log=log,
                             device=dist.device.type)
                _confirm(life, trainer, cfg, log, dist)
        except Diverged as err:
            log(f"diverged: {err}")
            life.fail(f"diverged: {err}")
            return EXIT_DIVERGED
        except Preempted as err:
            if isinstance(err, Stopped) and not phase and "nodes" in box:  # every rank agreed to stop here
                box["nodes"].gather()
            if phase or trainer is None:  # the evaluation saved its state
                log(f"{err} (exit {err.exit_code})")
            else:
                log(f"stopped by signal {err.signum} at epoch {trainer.epoch + 1}, step {trainer.step}; checkpoint "
                    f"saved, rerun the same command to resume (exit {err.exit_code})")
            _fill_progress(life, trainer, box.get("nodes"), cfg, dist)
            life.preempt()
            return err.exit_code
        except UserError as err:
            life.fail(f"{phase}{type(err).__name__}: {err}")
            raise
        except Exception as err:  # noqa: BLE001 - recorded, then re-raised with its traceback
            life.fail(f"{phase}{type(err).__name__}: {err}\n{traceback.format_exc(limit=5)}")
            raise
    _fill_progress(life, trainer, box.get("nodes"), cfg, dist)
    life.complete()
    log(f"completed: best subset PGD {trainer.best['pgd_subset']:.2f}% at epoch {trainer.best['epoch']}; "
        f"record {os.path.join(life.run_dir, RECORD_FILE)}")
    return EXIT_OK


def _start(life, cfg, dist, stack, stop, kill, log, box, *, checkpoint_steps, checkpoint_seconds, progress,
           count_flops, init_start_ms=None, restart=False):
    """Build the trainer (resumed from ``checkpoint-last.pt`` when there is one), the meter and the tracker."""
    spec, run_dir = life.spec, life.run_dir
    hooks = RunHooks(run_dir, dist.is_main, stop, kill, log, count_flops=count_flops)
    trainer = Trainer(cfg, dist, hooks, checkpoint_steps=checkpoint_steps, checkpoint_seconds=checkpoint_seconds,
                      progress=progress)
    hooks.trainer = box["trainer"] = trainer
    if cfg.measurement.layer_profile is not None and dist.is_main:
        hooks.layers = LayerProfiler(cfg.measurement.layer_profile, cfg.measurement.layer_profile_steps, dist.device)
    last = checkpoint_path(run_dir, "last")
    previous_energy = None
    state = _resume(trainer, last, run_dir, restart, log) if os.path.exists(last) else None
    if state is not None:
        previous_energy = (state.get("extra") or {}).get("energy")
        if dist.is_main:
            write_metrics(run_dir, trainer.history)
        log(f"resuming {spec.name} at epoch {trainer.epoch + 1}, step {trainer.step} "
            f"(attempt {life.record[JOB]['attempts']})")
    else:
        log(f"starting {spec.name}: {trainer.spec['name']} {trainer.params:,} params, "
            f"{len(trainer.batches)} steps/epoch x {cfg.training.epochs} epochs, global batch "
            f"{trainer.global_batch_size}, lr {trainer.lr:g}, {dist.world_size} process(es) on "
            f"{dist.device.type}")
    nodes = hooks.nodes = box["nodes"] = NodeEnergy(dist)
    meter = hooks.meter = stack.enter_context(_energy_meter(cfg, dist, nodes, previous_energy))
    if dist.is_main:
        fill_setup(life.record, trainer, dist)
        life.write()
    life.tracker = hooks.tracker = Tracker(cfg.to_dict(), run_dir, spec.run_id, spec.name,
                                           recipe_name=life.record[RECIPE], rank=dist.rank,
                                           init_start_ms=init_start_ms)
    if life.tracker is not None:  # a resumed run's tracker logged its set-up in the first attempt
        life.tracker.log_setup(global_batch_size=trainer.global_batch_size,
                               train_samples=len(trainer.batches) * trainer.global_batch_size,
                               eval_samples=trainer.test_n, micro_batch_size=cfg.data.batch_size,
                               precision=cfg.training.precision, world_size=dist.world_size,
                               hardware=life.record[HARDWARE])
    return trainer, meter


def _confirm(life, trainer, cfg, log, dist) -> None:
    """A benchmark run that reached its target confirms that checkpoint on the test set (to_target.confirmation;
    kept across a rerun: its AutoAttack state resumes, a finished one is read back)."""
    target = trainer.target
    if target is None or not target.reached:
        return
    life.record[TO_TARGET]["confirmation"] = confirm_target(
        life.run_dir, cfg, target.benchmark, epoch=target.epoch, device=dist.device.type, log=log)


def _resume(trainer, last: str, run_dir: str, restart: bool, log) -> Optional[Dict[str, Any]]:
    """The trainer resumed from ``last``; with ``restart``, a checkpoint that does not fit the run is set aside
    (as a damaged one is, :func:`benchmarks.recovery.abandon_last`) and the run starts over (None)."""
    try:
        return trainer.resume(last)  # validated whole before any of it is used (training.checkpoint_check)
    except DamagedCheckpointError as err:
        if not restart:
            raise
        if trainer.dist.is_main:  # rank 0 moves the files; every rank starts over
            for note in abandon_last(run_dir, err.reason, "was damaged" if err.fits else "does not fit this run"):
                log(f"robustperf run --restart: {note}")
        return None


def _size_cpu_threads(dist) -> None:
    if dist.device.type == "cpu" and dist.distributed and "OMP_NUM_THREADS" not in os.environ:
        # Every rank on one host shares the cores this process may use (its affinity, not the whole node);
        # oversubscription slows gloo runs to a crawl. A launcher's or user's OMP_NUM_THREADS wins.
        local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size))
        torch.set_num_threads(max(1, cpu_cores() // max(1, min(local, dist.world_size))))


def _fill_progress(life, trainer, nodes, cfg, dist) -> None:
    """Training state and measurements so far into the record (rank 0; the energy summed over nodes)."""
    if dist.is_main and trainer is not None:
        fill_training(life.record, trainer)
        totals = nodes.run_totals() if nodes is not None else None
        fill_measurements(life.record, trainer, totals, cfg, dist, nodes=nodes.nodes if nodes is not None else 1)
        fill_pretraining(life.record, trainer)
        fill_memory(life.record, dist.device)
        if trainer.hooks.layers is not None and trainer.hooks.layers.result is not None:
            life.record[TIMING]["layer_profile"] = trainer.hooks.layers.result


@contextlib.contextmanager
def _energy_meter(cfg, dist, nodes: NodeEnergy, previous: Optional[Dict[str, Any]]):
    """This node's energy meter, on the process that meters it (:class:`.nodes.NodeEnergy`); None elsewhere."""
    if not nodes.meters:
        yield None
        return
    # The GPUs of this process's own node (torchrun's LOCAL_WORLD_SIZE); each node meters its own.
    indices = list(range(min(nodes.local_world, dist.world_size))) if dist.device.type == "cuda" else []
    with EnergyMeter(cfg.measurement, indices, restore=nodes.restore_for_this_node(previous)) as meter:
        nodes.meter = meter
        yield meter
