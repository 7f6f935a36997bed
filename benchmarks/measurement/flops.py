"""Forward FLOPs actually executed, counted by DeepSpeed's flops profiler.

DeepSpeed patches ``torch.nn.functional`` (conv, linear, batch norm, activations, pooling, softmax, ...) and a
few tensor methods (matmul, mm, bmm, addmm, mul, add, einsum), and adds up, per module, the operations called
inside that module's forward (Rasley et al., "DeepSpeed", KDD 2020; the profiler's docs). Its convention:

* conv / linear: ``2 x MACs`` (a conv bias adds one FLOP per output element; a linear bias nothing);
* batch norm: 2 FLOPs per element in eval mode, 5 per element in train mode (batch statistics), affine;
* ReLU/GELU/SiLU and pooling: one FLOP per element;
* Python operators (``x + y`` on tensors) and anything outside a module's forward (the loss, the PGD update)
  are not counted, and neither is the backward pass.

So WRN-28-10 at 3x32x32 is 10.49 GFLOPs (5.24 GMACs), WRN-70-16 77.56 GFLOPs. Training FLOPs follow the study's
convention: backward = 2 x forward, so one step costs 3 x its executed forward FLOPs (Kaplan et al. 2020).

DeepSpeed is imported lazily (seconds), with ``DS_ACCELERATOR=cpu`` when no CUDA device is present: without it
DeepSpeed probes for accelerators and fails on CPU-only hosts.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, Sequence

import torch

#: Backward costs twice the forward (the study's convention), so one training step is 3 x its forward.
TRAIN_FLOPS_PER_FORWARD_FLOP = 3
SOURCE = "deepspeed"


def _flops_profiler_cls():
    if "DS_ACCELERATOR" not in os.environ and not torch.cuda.is_available():
        os.environ["DS_ACCELERATOR"] = "cpu"
    # DeepSpeed deferred: seconds to import, and only the FLOP count needs it
    from deepspeed.profiling.flops_profiler import FlopsProfiler

    return FlopsProfiler


class _Profiled:
    """DeepSpeed's profiler attached to ``model`` for the duration of a ``with`` block."""

    def __init__(self, model):
        self.profiler = _flops_profiler_cls()(model)

    def __enter__(self):
        self.profiler.start_profile()
        return self.profiler

    def __exit__(self, *exc):
        # end_profile restores torch.nn.functional and removes the hooks even when fn() raised.
        self.profiler.end_profile()
        return False


def count_forward_flops(model, fn: Callable[[], Any]) -> int:
    """Run ``fn()`` with DeepSpeed's profiler on ``model``; return the forward FLOPs ``model`` executed.

    Every forward through ``model`` inside ``fn`` counts once (attack forwards, TRADES' extra clean forward,
    the training forward); backward passes and arithmetic outside the model do not. Call it on the exact
    training step of a run to get its executed forward FLOPs per step.

    Args:
        model: the ``torch.nn.Module`` whose forwards are counted (the unwrapped module, not a DDP wrapper:
            hooks on the inner module see every call DDP forwards to it).
        fn: a callable running the work, e.g. ``lambda: train_step(batch)``.

    Returns:
        Forward FLOPs executed, an int.
    """
    with _Profiled(model) as profiler:
        fn()
        return int(profiler.get_total_flops())


def _bn_buffers(model) -> Dict[str, Any]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}


def forward_flops_per_sample(model, input_shape: Sequence[int], *, train: bool = False) -> Dict[str, int]:
    """Parameters, MACs and FLOPs of one forward of one sample of ``input_shape`` (C, H, W).

    Args:
        model: a ``torch.nn.Module``; its mode and batch-norm statistics are left as they were.
        input_shape: one sample's shape, e.g. ``(3, 32, 32)``.
        train: count a train-mode forward (batch norm on batch statistics: 5 FLOPs per element instead of 2).

    Returns:
        ``{"params", "forward_macs", "forward_flops"}``, ints.
    """
    # A train-mode batch norm on a 1x1 feature map refuses a batch of one, so train mode counts two samples and
    # halves: every counted operation is linear in the batch size, so the halving is exact.
    batch = 2 if train else 1
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros((batch, *input_shape), device=device, dtype=dtype)
    was_training = model.training
    saved = _bn_buffers(model) if train else {}
    model.train(train)
    try:
        with _Profiled(model) as profiler, torch.no_grad():
            model(x)
            flops, macs = int(profiler.get_total_flops()), int(profiler.get_total_macs())
    finally:
        model.train(was_training)
        if saved:
            model.load_state_dict(saved, strict=False)
    return {"params": sum(p.numel() for p in model.parameters()), "forward_macs": macs // batch,
            "forward_flops": flops // batch}


def exit_forward_flops(model, input_shape: Sequence[int]) -> Dict[str, Any]:
    """Cumulative forward FLOPs of one sample up to each exit of a multi-exit model (``model.exits(x)``).

    One eval-mode forward of one sample runs under the profiler, exit by exit; after exit i the total so far is
    c_i: the backbone up to that exit plus every IC head evaluated on the way (the heads of earlier exits too,
    as early-exit inference computes them). The last value is the whole multi-exit network.

    Returns:
        ``{"exit_cumulative_flops": [c_1, ..., c_K], "params", "forward_flops"}`` (ints; forward = c_K).
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros((1, *input_shape), device=device, dtype=dtype)
    was_training = model.training
    model.eval()
    cumulative = []
    try:
        with _Profiled(model) as profiler, torch.no_grad():
            for _ in model.exits(x):
                cumulative.append(int(profiler.get_total_flops()))
    finally:
        model.train(was_training)
    return {"exit_cumulative_flops": cumulative, "params": sum(p.numel() for p in model.parameters()),
            "forward_flops": cumulative[-1]}


def train_flops(forward_flops_per_step: int, steps: int, world_size: int = 1) -> int:
    """Training FLOPs of a run: 3 x executed forward FLOPs per step x steps, summed over ``world_size`` ranks.

    Args:
        forward_flops_per_step: forward FLOPs one rank executes in one step (:func:`count_forward_flops`).
        steps: optimizer steps each rank ran.
        world_size: ranks, each running the same per-rank batch.
    """
    return TRAIN_FLOPS_PER_FORWARD_FLOP * int(forward_flops_per_step) * int(steps) * int(world_size)
