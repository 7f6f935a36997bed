"""FLOP accounting of a training run, step shape by step shape.

Every distinct step shape (the method's phase, such as AWP on or off, and the batch size: ``"awp|b128"``) is
profiled once, on the first step that has it (the hooks' ``count_flops``); the executed steps of each shape are
counted, and the run's forward FLOPs are the sum over shapes, over resumed sessions (all of it lives in the
checkpoint) and over ranks. Executed training FLOPs (forward and backward) are estimated per shape from its
measured forward FLOPs and the method's :meth:`~benchmarks.training.methods.Method.executed_factor`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .distributed import DistInfo, all_reduce_sum

__all__ = ["StepFlops"]


class StepFlops:
    """This rank's forward FLOPs of one step of each shape, the steps of each shape executed, the executed-FLOPs
    factor of each shape (None = not modelled) and the training samples drawn (replays count once)."""

    def __init__(self):
        self.step_flops: Dict[str, Optional[int]] = {}
        self.step_counts: Dict[str, int] = {}
        self.step_factors: Dict[str, Optional[float]] = {}
        self.samples_seen = 0

    def run(self, key: str, step: Callable[[], Any], factor: Callable[[], Optional[float]],
            count_flops: Callable[[Callable[[], Any]], Optional[int]]) -> Any:
        """Run ``step`` as one step of shape ``key``, profiled by ``count_flops`` when the shape is new."""
        if key in self.step_flops:
            result = step()
        else:
            box: List[Any] = []
            self.step_factors[key] = factor()
            flops = count_flops(lambda: box.append(step()))
            self.step_flops[key] = None if flops is None else int(flops)
            result = box[0]
        self.step_counts[key] = self.step_counts.get(key, 0) + 1
        return result

    def forward_executed(self) -> Tuple[Optional[int], int]:
        """``(forward FLOPs, training samples)`` executed so far; FLOPs None when a shape was not counted."""
        total = 0
        for key, count in self.step_counts.items():
            flops = self.step_flops.get(key)
            if flops is None:
                return None, self.samples_seen
            total += flops * count
        return total, self.samples_seen

    def training_estimate(self) -> Optional[float]:
        """Forward and backward FLOPs executed so far (see the module docstring); None when a shape was not
        counted or not modelled."""
        total = 0.0
        for key, count in self.step_counts.items():
            flops, factor = self.step_flops.get(key), self.step_factors.get(key)
            if flops is None or factor is None:
                return None
            total += flops * factor * count
        return total

    def summed(self, dist: DistInfo, device: torch.device) -> Dict[str, Any]:
        """Collective: ``{"forward", "samples", "executed"}`` summed over ranks (None where some rank lacks it)."""
        flops, samples = self.forward_executed()
        executed = self.training_estimate()
        t = torch.tensor([float(flops or 0), float(flops is None), float(samples), float(executed or 0),
                          float(executed is None)], dtype=torch.float64, device=device)
        t = all_reduce_sum(t, dist).cpu()
        return {"forward": None if float(t[1]) > 0 else int(round(float(t[0]))),
                "samples": int(round(float(t[2]))),
                "executed": None if float(t[4]) > 0 else float(t[3])}

    def state_dict(self) -> Dict[str, Any]:
        return {"step_flops": dict(self.step_flops), "step_counts": dict(self.step_counts),
                "step_factors": dict(self.step_factors), "samples_seen": self.samples_seen}

    def load_state_dict(self, checkpoint: Dict[str, Any], *, batch_size: int, global_step: int) -> None:
        """Restore from a trainer checkpoint (one written before FLOPs were counted per shape too)."""
        flops = checkpoint.get("flops")
        if flops is None:  # written before FLOPs were counted per step shape: every step had the first one's
            per_step = checkpoint.get("forward_flops_per_step")
            key = f"plain|b{batch_size}"
            flops = {"step_flops": {key: per_step} if per_step is not None else {},
                     "step_counts": {key: global_step} if per_step is not None else {},
                     "samples_seen": global_step * batch_size}
        self.step_flops = dict(flops["step_flops"])
        self.step_counts = dict(flops["step_counts"])
        self.step_factors = dict(flops.get("step_factors") or {})  # absent before: executed FLOPs stay unknown
        self.samples_seen = int(flops["samples_seen"])
