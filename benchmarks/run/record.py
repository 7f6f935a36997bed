"""Filling the result record from a run: its set-up, its training state, and its measurements (FLOPs, time,
energy, cost, CO2)."""
from __future__ import annotations

import os
import resource
from typing import Any, Dict, Optional

from results import Checkpoints, Energy, Method, Timing, Training
from results.groups import Memory, Pretraining
from results.keys import (CHECKPOINTS, CO2_KG, COST, ENERGY, FLOPS, HARDWARE, MEMORY, METHOD, PARAMS, PRETRAINING,
                          PRICING, SEED, SOFTWARE, TIMING, TO_TARGET, TRAINING)

from ..measurement.epochs import epoch_series
from ..measurement import (device_model, forward_flops_per_sample, hardware_info, software_info, summarize,
                           train_flops)

__all__ = ["fill_setup", "fill_training", "fill_measurements", "fill_pretraining", "fill_memory", "EVALUATION_OWNED", "cpu_cores"]

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


def _plus(own, *declared):
    """The run's own figure plus the declared ones that are there; None without its own or any declared one."""
    there = [d for d in declared if d is not None]
    return None if own is None or not there else own + sum(there)


def fill_pretraining(record: Dict[str, Any], trainer) -> None:
    """The ``pretraining`` group: the declared cost of the pre-trained start and of the generated images, and the
    run's training cost with them. Recomputed from the config and the run's own totals at each fill, so the
    declared amounts are added exactly once however often the run resumed."""
    cfg = trainer.cfg
    pre, syn = cfg.model.pretraining or {}, cfg.data.synthetic_cost or {}
    if trainer.init is None and not pre and not syn:
        return
    group = Pretraining(init=cfg.model.init, init_sha256=(trainer.init or {}).get("init_sha256"),
                        flops=pre.get("flops"), kwh=pre.get("kwh"), device_hours=pre.get("device_hours"),
                        source=pre.get("source"), how="declared" if pre or syn else None)
    synthetic = getattr(trainer.batches, "synthetic", None)
    if syn and synthetic is not None:
        n = int(len(synthetic[0]))
        per = {k: syn.get(f"{k}_per_image") for k in ("flops", "kwh", "device_hours")}
        group.synthetic_images = n
        group.synthetic_flops, group.synthetic_kwh, group.synthetic_device_hours = (
            None if per[k] is None else per[k] * n for k in ("flops", "kwh", "device_hours"))
        group.synthetic_source = syn.get("source")
    group.train_flops_with = _plus(record[FLOPS].get("train_total"), group.flops, group.synthetic_flops)
    group.train_kwh_with = _plus(record[ENERGY].get("train_kwh"), group.kwh, group.synthetic_kwh)
    group.device_hours_with = _plus(record[COST].get("device_hours"), group.device_hours, group.synthetic_device_hours)
    record[PRETRAINING].update(group.to_dict())


def _larger(before, now):
    return now if before is None else (before if now is None else max(before, now))


def fill_memory(record: Dict[str, Any], device) -> None:
    """The ``memory`` group: this process's peak RSS and the device's peak allocations so far, each the larger
    of the record's (an earlier session's) and this session's."""
    import torch

    group = record[MEMORY]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    allocated = reserved = None
    if device.type == "cuda":
        allocated = torch.cuda.max_memory_allocated(device) / 2**20
        reserved = torch.cuda.max_memory_reserved(device) / 2**20
    group.update(Memory(
        host_peak_rss_mb=_larger(group.get("host_peak_rss_mb"), rss),
        device_peak_allocated_mb=_larger(group.get("device_peak_allocated_mb"), allocated),
        device_peak_reserved_mb=_larger(group.get("device_peak_reserved_mb"), reserved),
        source="getrusage" + (" + torch.cuda.max_memory_allocated" if device.type == "cuda" else "")).to_dict())
