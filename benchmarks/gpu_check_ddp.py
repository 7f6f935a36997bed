"""``make gpu-check``'s two-GPU section: data-parallel PGD adversarial training across two GPUs against one.

Run only when at least two CUDA devices are visible (else the section is skipped, saying why). The same PGD-AT
step of the check's WideResNet runs on one GPU, then under DDP (NCCL, one process per GPU, the per-GPU batch
unchanged, so the global batch doubles) on two: images/s of each, the **scaling efficiency** (two-GPU images/s
over twice the one-GPU images/s) and the energy of both GPUs over the timed steps (the suite's meter on rank
0 over both devices, as a run's meter is), with joules per image for each. :func:`measure` runs on the CPU with
gloo too, which is how the tests check it here.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from typing import Any, Dict, List, Optional

__all__ = ["check_two_gpus", "measure", "render_lines", "skip_reason"]

SECTION = "two_gpus"


def skip_reason(device) -> Optional[str]:
    """Why the two-GPU section cannot run here, or None when it can."""
    import torch

    if device.type != "cuda":
        return "needs two CUDA devices; this check runs on the CPU"
    count = torch.cuda.device_count()
    return None if count >= 2 else f"needs two CUDA devices; {count} visible"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, plan: Dict[str, Any], device_type: str, out: str) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from benchmarks.attacks import create_attack
    from benchmarks.inference.timing import olympic_mean, synchronizer
    from benchmarks.measurement import EnergyMeter
    from benchmarks.models import WideResNet
    from recipes import MeasurementConfig

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    cuda = device_type == "cuda"
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world,
                                device_id=device if cuda else None)
    torch.manual_seed(0)
    model = WideResNet(depth=plan["depth"], width=plan["width"], num_classes=10, in_chans=3).to(device)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank] if cuda else None) if world > 1 \
        else model
    gen = torch.Generator().manual_seed(rank)
    x = torch.rand(plan["train_batch"], 3, plan["size"], plan["size"], generator=gen).to(device)
    y = torch.randint(0, 10, (plan["train_batch"],), generator=gen).to(device)
    attack = create_attack("pgd", model, norm="linf", eps=8 / 255, steps=plan["pgd_steps"], step_size=2 / 255)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    sync = synchronizer(device)

    def step():
        x_adv = attack(x, y)  # the attack on the plain module: no gradient all-reduce inside PGD
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x_adv), y).backward()
        opt.step()

    for _ in range(plan["warmup_steps"]):
        step()
    sync()
    if world > 1:
        dist.barrier()
    meter = EnergyMeter(MeasurementConfig(), list(range(world)) if cuda else []) if rank == 0 else None
    times: List[float] = []
    with meter if meter is not None else contextlib.nullcontext():
        with meter.window("train") if meter is not None else contextlib.nullcontext() as window:
            for _ in range(plan["timed_steps"]):
                start = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - start)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        images = plan["train_batch"] * world * len(times)
        result = {"gpus": world, "global_batch": plan["train_batch"] * world, "step_ms_olympic_mean":
                  1e3 * olympic_mean(times), "images_per_s": plan["train_batch"] * world / olympic_mean(times),
                  "energy_j": window.energy_j, "energy_seconds": window.seconds, "energy_source": meter.source,
                  "j_per_image": window.energy_j / images if window.energy_j is not None else None}
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(result, fh)


def measure(plan: Dict[str, Any], device_type: str, world: int) -> Dict[str, Any]:
    """PGD-AT steps of ``plan`` on ``world`` processes (one per GPU, or gloo on the CPU): rank 0's figures."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank0.json")
        args = (world, _free_port(), plan, device_type, out)
        if world == 1:
            _worker(0, *args)
        else:
            mp.spawn(_worker, args=args, nprocs=world, join=True)
        with open(out, encoding="utf-8") as fh:
            return json.load(fh)


def check_two_gpus(plan: Dict[str, Any], device_type: str = "cuda") -> Dict[str, Any]:
    """One GPU, then two under DDP: throughput, scaling efficiency and energy (measured)."""
    one = measure(plan, device_type, 1)
    two = measure(plan, device_type, 2)
    efficiency = two["images_per_s"] / (2 * one["images_per_s"])
    return {"model": f"WRN-{plan['depth']}-{plan['width']}", "per_gpu_batch": plan["train_batch"],
            "pgd_steps": plan["pgd_steps"], "precision": "fp32", "one_gpu": one, "two_gpus": two,
            "scaling_efficiency": efficiency,
            "how": "measured: the olympic mean of the timed steps; energy from the suite's meter over the GPUs used"}


def render_lines(section: Dict[str, Any]) -> List[str]:
    """Markdown lines of a measured two-GPU section (nothing when it did not run)."""
    if section.get("status") != "measured":
        return []

    def j(value):
        return "-" if value is None else f"{value:.3f}"

    rows = [section["one_gpu"], section["two_gpus"]]
    return [f"## DDP across two GPUs ({section['model']} PGD-{section['pgd_steps']}, batch {section['per_gpu_batch']}"
            f" per GPU, measured)", "", "| GPUs | images/s | step ms | energy J | J/image | source |",
            "|---:|---:|---:|---:|---:|---|",
            *(f"| {r['gpus']} | {r['images_per_s']:.1f} | {r['step_ms_olympic_mean']:.1f} | {j(r['energy_j'])} | "
              f"{j(r['j_per_image'])} | {r['energy_source']} |" for r in rows),
            "", f"Scaling efficiency (2-GPU images/s over 2 x 1-GPU): {section['scaling_efficiency']:.1%}", ""]
