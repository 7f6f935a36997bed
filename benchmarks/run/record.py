"""Filling the result record from a run: its set-up, its training state, and its measurements (FLOPs, time,
energy, cost, CO2)."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from results import Checkpoints, Energy, Method, Timing, Training
from results.keys import (CHECKPOINTS, CO2_KG, COST, ENERGY, FLOPS, HARDWARE, METHOD, PARAMS, PRICING, SEED, SOFTWARE,
                          TIMING, TO_TARGET, TRAINING)

from ..measurement.epochs import epoch_series
from ..measurement import (device_model, forward_flops_per_sample, hardware_info, software_info, summarize,
                           train_flops)

__all__ = ["fill_setup", "fill_training", "fill_measurements", "EVALUATION_OWNED", "cpu_cores"]

#: Record fields the evaluation fills itself, summed over its resumed sessions.
EVALUATION_OWNED = {TIMING: Timing.names("eval_seconds", "attack_seconds"),
                    ENERGY: Energy.names("eval_kwh", "attack_kwh", "eval_j", "attack_j")}


def cpu_cores() -> int:
    """The cores this process may use (its affinity, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def fill_setup(record: Dict[str, Any], trainer, dist) -> None:
    """Parameters, seed, hardware, software and the training state, once the trainer is built."""
    record[PARAMS] = trainer.params
    record[SEED] = trainer.cfg.seed
    indices = [dist.device.index or 0] if dist.device.type == "cuda" else []
    record[HARDWARE] = hardware_info(indices)
    if dist.device.type == "cuda":
        record[HARDWARE]["count"] = dist.world_size
    record[SOFTWARE] = software_info()
    fill_training(record, trainer)


def _train_size(batches) -> Optional[int]:
    """Distinct training images of the run (after holdout, the check's validation images and ``data.train_size``);
    None for a dataset plug-in whose stream does not say."""
    labels = getattr(batches, "labels", None)
    return None if labels is None else int(len(labels))


def _samples_seen(batches, epochs: Optional[int]) -> Optional[int]:
    size = _train_size(batches)
    return None if size is None or epochs is None else size * int(epochs)


def fill_training(record: Dict[str, Any], trainer) -> None:
    """The ``training``, ``method`` and ``checkpoints`` groups from the trainer's state."""
    cfg = trainer.cfg
    history = trainer.history
    record[TRAINING].update(Training(
        epochs=cfg.training.epochs, epochs_completed=trainer.epoch, global_batch_size=trainer.global_batch_size,
        world_size=trainer.dist.world_size, best_epoch=trainer.best["epoch"],
        best_pgd_subset=trainer.best["pgd_subset"], final_train_loss=history[-1]["train_loss"] if history else None,
        precision=cfg.training.precision, train_size=_train_size(trainer.batches),
        samples_seen=_samples_seen(trainer.batches, trainer.epoch)).to_dict())
    record[METHOD] = Method(**trainer.method.describe()).to_dict()
    if trainer.target is not None:  # the benchmark's target (benchmarks.training.target)
        record[TO_TARGET].update(trainer.target.group(cfg.measurement))
    record[CHECKPOINTS].update(Checkpoints(
        best="checkpoint-best.pt" if trainer.best["epoch"] is not None else None,
        last="checkpoint-last.pt" if history or trainer.step else None,
        target="checkpoint-target.pt" if trainer.target is not None and trainer.target.reached else None).to_dict())


def fill_measurements(record: Dict[str, Any], trainer, totals, cfg, dist, nodes: int = 1) -> None:
    """FLOPs (summed over step shapes, resumed sessions and ranks), time, energy, cost and CO2.

    ``totals``: the run's :meth:`EnergyMeter.totals`, summed over its ``nodes`` (None where nothing meters)."""
    flops = record[FLOPS]
    executed = trainer.flops_total or {"forward": None, "samples": trainer.flops.samples_seen * dist.world_size}
    flops.update(steps=trainer.global_step, train_samples=executed["samples"])
    if executed["forward"] is not None and executed["samples"]:
        flops.update(source="deepspeed", train_forward_per_sample=executed["forward"] / executed["samples"],
                     train_total=train_flops(executed["forward"], 1), train_executed=executed.get("executed"))
    if flops.get("forward_per_sample") is None and executed["forward"] is not None:
        info = trainer.info
        counted = forward_flops_per_sample(trainer.eval_model, (info.in_chans, info.size, info.size))
        flops.update(forward_per_sample=counted["forward_flops"], forward_macs_per_sample=counted["forward_macs"])
    timing = record[TIMING]
    if totals is None:
        timing["train_seconds"] = trainer.seconds["train"]
        return
    devices = dist.world_size if dist.device.type == "cuda" else max(1, cpu_cores()) * max(1, nodes)
    summary = summarize(totals, cfg.measurement, device_model(record[HARDWARE] or {}), devices)
    # The evaluation sums its own time and energy over every session it resumed (a SIGKILL mid-attack
    # loses the meter's window but not the evaluation's state): where it reported them, they win.
    for group, keys in EVALUATION_OWNED.items():
        for key in keys:
            if record[group].get(key) is not None:
                summary[group].pop(key, None)
    record[ENERGY].update(summary[ENERGY], epochs=epoch_series(trainer.history))
    record[COST].update(summary[COST])
    record[CO2_KG] = summary[CO2_KG]
    record[PRICING] = summary[PRICING]
    for key, value in summary[TIMING].items():
        if value is not None or timing.get(key) is None:
            timing[key] = value
