"""Overhead of the harness (issue 4; target <= 1.02): a measured training step / a bare PyTorch PGD-10 step.

Both arms train WRN-16-1 on the same batch of 128 random 3x32x32 images on the CPU, with PGD-10 (Linf 8/255)
and SGD, each on its own copy of the same initial weights. They alternate step by step in one process; the figure
is the median of the ratios of adjacent pairs (drift on a shared machine cancels within a pair).

* measured arm: the training helper's real ``Trainer.train_step`` (eval-mode attack from the registry,
  ``forward_backward_step``, all-reduce of the stats, optimizer, schedule) inside an energy-meter window with the
  background power sampler running (started and stopped around every step, so its thread costs only this arm),
  and a W&B offline + mllog tracker logging after every step (a pessimistic bound: a real run logs once per
  epoch). On a host without a readable meter a constant power source stands in so the sampler thread runs.
* bare arm: the textbook PyTorch PGD-10 adversarial training step.

The figure is a ratio of CPU time (all threads of the process, the sampler's included, plus child processes
such as wandb-core), with one intra-op torch thread: on a shared 2-core machine wall time swings by tens of
percent with other users' load, and two OpenMP threads spin-wait for each other, tripling CPU time at random,
while one thread's CPU time counts the work each arm does. The wall-time ratio is reported beside it.

The one-time FLOPs count of a run's first step is reported separately (``harness_flops_first_step_ratio``).
Set ``BENCH_HARNESS_PAIRS`` for more pairs (default 15: with 5, single noisy pairs (0.84-1.13 seen here) moved the median by 5 %).
"""
from __future__ import annotations

import copy
import os
import pickle
import statistics
import tempfile
import time

import numpy as np

BATCH = 128
PAIRS = int(os.environ.get("BENCH_HARNESS_PAIRS", "15"))
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _random_cifar(folder: str) -> None:
    rng = np.random.default_rng(0)
    for name in CIFAR_FILES:
        batch = {b"data": rng.integers(0, 256, (BATCH, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, BATCH).tolist()}
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump(batch, fh)


def _bare_step(model, optimizer, x, y, eps, step_size, steps):
    import torch
    import torch.nn.functional as F

    model.eval()
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        grad, = torch.autograd.grad(loss, [x_adv])
        x_adv = torch.min(torch.max(x_adv.detach() + step_size * grad.sign(), x - eps), x + eps).clamp(0, 1)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x_adv), y).backward()
    optimizer.step()


def _cpu_seconds() -> float:
    """CPU time of this process (every thread, the sampler's included) and of its children (wandb-core)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:  # exited between listing and reading
            pass
    return total


def _timed(fn):
    """(CPU seconds, wall seconds) of ``fn()``."""
    cpu, wall = _cpu_seconds(), time.perf_counter()
    fn()
    return _cpu_seconds() - cpu, time.perf_counter() - wall


def _energy_source(cfg) -> str:
    from benchmarks.measurement import EnergyBackend, EnergyMeter, register_energy_backend

    with EnergyMeter(cfg.measurement, device_indices=[]) as probe:
        if probe.sampler is not None:
            return probe.source

    class ConstantPower(EnergyBackend):
        name, has_power, devices = "bench-constant", True, 1

        def power_w(self):
            return 100.0

    register_energy_backend(ConstantPower.name, lambda devices, cfg, clock: ConstantPower())
    return ConstantPower.name


def one_thread(measure) -> dict:
    """``measure()`` with one torch intra-op thread (CPU-time ratios need it), the caller's count restored."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return measure()
    finally:
        torch.set_num_threads(threads)


def run() -> dict:
    return one_thread(_run)


def _run() -> dict:
    import torch

    from benchmarks.measurement import EnergyMeter, count_forward_flops
    from benchmarks.tracking import Tracker
    from benchmarks.training import DistInfo, Trainer
    from recipes import RunConfig

    with tempfile.TemporaryDirectory() as tmp:
        _random_cifar(tmp)
        cfg = RunConfig.from_dict({
            "seed": 0, "data": {"name": "cifar10", "root": tmp, "batch_size": BATCH},
            "model": {"arch": "wrn", "depth": 16, "width": 1},
            "training": {"loss": "at", "epochs": 1, "warmup_epochs": 0, "scheduler": "none", "select_on": "test"},
            "attack": {"eps": "8/255", "steps": 10},
            "tracking": {"wandb": "offline", "mllog": True}})
        trainer = Trainer(cfg, DistInfo(), progress=False)
        x, y = trainer.batches.batch(0, 0)
        bare_model = copy.deepcopy(trainer.model)
        t = cfg.training
        bare_opt = torch.optim.SGD(bare_model.parameters(), lr=trainer.lr, momentum=t.momentum, nesterov=True,
                                   weight_decay=t.weight_decay)
        source = _energy_source(cfg)
        os.environ.setdefault("WANDB_SILENT", "true")
        tracker = Tracker(cfg.to_dict(), os.path.join(tmp, "run"), "bench", "bench-harness", "bench")

        def measured(i):
            with EnergyMeter(cfg.measurement, device_indices=[], source=source) as meter:
                with meter.window("train"):
                    loss, correct, n = trainer.train_step(x, y)
            tracker.log_epoch(i, {"train_loss": loss / n, "train_robust_acc": 100.0 * correct / n})

        def bare(i):
            _bare_step(bare_model, bare_opt, x, y, cfg.attack.eps, cfg.train_step_size, cfg.attack.steps)

        measured(0), bare(0)  # warm-up: allocator, first-call costs
        cpu_ratios, wall_ratios = [], []
        for i in range(1, PAIRS + 1):
            cpu, wall = {}, {}
            for fn in ((measured, bare) if i % 2 else (bare, measured)):
                cpu[fn], wall[fn] = _timed(lambda: fn(i))
            cpu_ratios.append(cpu[measured] / cpu[bare])
            wall_ratios.append(wall[measured] / wall[bare])

        plain, _ = _timed(lambda: trainer.train_step(x, y))
        profiled, _ = _timed(lambda: count_forward_flops(trainer.model, lambda: trainer.train_step(x, y)))
        tracker.finish({"status": "completed"})
    return {"harness_overhead_ratio": round(statistics.median(cpu_ratios), 4),
            "harness_overhead_ratio_spread": [round(min(cpu_ratios), 4), round(max(cpu_ratios), 4)],
            "harness_overhead_wall_ratio": round(statistics.median(wall_ratios), 4),
            "harness_energy_source": source,
            "harness_flops_first_step_ratio": round(profiled / plain, 4)}
