"""Process-group set-up for runs under ``torchrun``: NCCL on GPUs, gloo on the CPU.

``torchrun`` exports RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous address); without them the run is a
single process and nothing here touches ``torch.distributed``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List, Optional

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors  # DDP's own bucketing helpers

__all__ = ["DistInfo", "init_distributed", "destroy_distributed", "all_reduce_sum", "all_gather_object",
           "broadcast_buffers", "broadcast_object", "barrier"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size, local rank and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files."""
        return self.rank == 0


def init_distributed(device: Optional[str] = None) -> DistInfo:
    """Join the process group when launched by torchrun; pick this process's device.

    Args:
        device: ``cpu``, ``cuda`` or None (CUDA when available).
    """
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world_size,
                                device_id=dev if use_cuda else None)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def destroy_distributed() -> None:
    """Leave the process group (after ``Trainer.close()``: see there)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``values`` over all processes (in place; a no-op for one process)."""
    if info.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather_object(obj: Any, info: DistInfo) -> List[Any]:
    if not info.distributed:
        return [obj]
    out: List[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, one flat broadcast per dtype.

    Each rank updates its running statistics from its own shard of the batch; without this the ranks' evaluated
    (and EMA-averaged) models would drift apart.
    """
    if not info.distributed:
        return
    groups = {}
    for buf in module.buffers():
        groups.setdefault(buf.dtype, []).append(buf)
    for bufs in groups.values():
        flat = _flatten_dense_tensors([b.data for b in bufs])
        dist.broadcast(flat, src=0)
        for buf, synced in zip(bufs, _unflatten_dense_tensors(flat, [b.data for b in bufs])):
            buf.data.copy_(synced)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
