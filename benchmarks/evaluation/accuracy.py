"""Clean and robust accuracy on a whole test set, read in batches (:class:`benchmarks.datasets.EvalSet`).

The robust accuracy is the evaluation's attack (``evaluation.attack``): by default PGD, Madry et al. 2018
(https://arxiv.org/abs/1706.06083), the suite's registered ``pgd`` attack (:mod:`benchmarks.attacks`, the same
code as the training attack) with the evaluation's steps and step size and a uniform random start; its random
start is drawn from one generator seeded with the run seed, so a rerun gives the same answer. Forward passes run
in float32 whatever the training precision, as AutoAttack does.
"""
from __future__ import annotations

from typing import Optional, Union

import torch

from ..datasets.evalset import as_eval_set
from ..models.outputs import final_logits
from .survival import pgd_trace, point_losses

__all__ = ["clean_correct", "pgd_correct", "point_losses"]


def _device_of(model: torch.nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def clean_correct(model: torch.nn.Module, x, y: Optional[torch.Tensor] = None, *, batch_size: int,
                  device: Optional[Union[str, torch.device]] = None,
                  losses: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-point correctness (bool, on the CPU) of ``model`` on ``x`` (an :class:`benchmarks.datasets.EvalSet`, or
    images with labels ``y``), read in batches of ``batch_size``. ``losses`` (a CPU tensor of n floats), when
    given, is filled with each point's cross-entropy (of the same logits)."""
    data = as_eval_set(x, y)
    device = device or _device_of(model)
    out = torch.empty(data.n, dtype=torch.bool)
    start = 0
    for xb, yb in data.batches(batch_size):
        xb, yb = xb.to(device), yb.to(device)
        logits = final_logits(model(xb))
        out[start:start + xb.shape[0]] = logits.argmax(1).eq(yb).cpu()
        if losses is not None:
            losses[start:start + xb.shape[0]] = point_losses(logits, yb)
        start += xb.shape[0]
    return out


def pgd_correct(model: torch.nn.Module, x, y: Optional[torch.Tensor] = None, *, norm: str, eps: float, steps: int,
                step_size: float, batch_size: int, seed: int, random_start: bool = True,
                device: Optional[Union[str, torch.device]] = None, attack: str = "pgd") -> torch.Tensor:
    """Per-point robustness (bool, on the CPU) of ``model`` against ``attack`` (PGD-``steps`` by default) on
    ``(x, y)``.

    A point counts as robust when the model classifies both it and its adversarial example correctly: the
    pointwise worst case over {clean, attack}, as AutoAttack counts (it attacks only the points classified
    correctly), so this accuracy never exceeds clean accuracy.
    """
    return pgd_trace(model, x, y, norm=norm, eps=eps, steps=steps, step_size=step_size, batch_size=batch_size,
                     seed=seed, random_start=random_start, device=device, attack=attack)[0]
