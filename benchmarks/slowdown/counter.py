"""Counting the forward passes of the slowdown attacks, for the attacker's crafting FLOPs."""
from __future__ import annotations

import torch

__all__ = ["ForwardCounter"]


class ForwardCounter:
    """Calls the model and counts the samples it forwarded, with and without gradients (for crafting FLOPs)."""

    def __init__(self, model):
        self.model = model
        self.grad_rows = 0
        self.nograd_rows = 0

    def __call__(self, x: torch.Tensor):
        if torch.is_grad_enabled():
            self.grad_rows += int(x.shape[0])
        else:
            self.nograd_rows += int(x.shape[0])
        return self.model(x)

    def flops(self, forward_flops: float, train_factor: int = 3) -> float:
        """Forward FLOPs x rows, x ``train_factor`` (forward + backward = 3 x forward) for rows with gradients."""
        return float(forward_flops) * (train_factor * self.grad_rows + self.nograd_rows)
