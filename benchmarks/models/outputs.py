"""Model outputs: a model returns one logits tensor, or a list/tuple of them (one per exit of a multi-exit
network, last = final exit). Attacks, AutoAttack, accuracy and inference use :func:`final_logits` unless a
workload asks for every exit (:func:`all_logits`)."""
from __future__ import annotations

from typing import Any, List

import torch

__all__ = ["final_logits", "all_logits"]


def final_logits(output: Any) -> torch.Tensor:
    """The final logits of a model's output: the tensor itself, or the last of a list/tuple of exits."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)) and output and isinstance(output[-1], torch.Tensor):
        return output[-1]
    raise TypeError(f"a model must return a logits tensor or a non-empty list/tuple of them, not {type(output)!r}")


def all_logits(output: Any) -> List[torch.Tensor]:
    """Every exit's logits, first to last (a single-output model has one)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (list, tuple)) and output and all(isinstance(o, torch.Tensor) for o in output):
        return list(output)
    raise TypeError(f"a model must return a logits tensor or a non-empty list/tuple of them, not {type(output)!r}")


class FinalLogits(torch.nn.Module):
    """Wraps a multi-output model so that calling it returns the final logits only (for code that cannot be
    taught about exits, such as AutoAttack)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return final_logits(self.model(x))
