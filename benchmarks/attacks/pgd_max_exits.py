"""``pgd_max_exits``: PGD-max on a multi-exit model, the training attack of the ``sdn_ic_only_pgd_max`` defence
(DeepSloth's Table 3 "PGD-10 (max)", after Hu et al. 2020's max-average attack).

One PGD per exit i, each ascending that exit's cross-entropy CE(F_i(x'), y) from its own random start (the
paper's code offsets by x instead of noise, a bug); per sample the candidate with the largest summed
cross-entropy over all exits is kept. ``steps`` x K forward-backward passes for K exits.
"""
from __future__ import annotations

from typing import Callable, ContextManager, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ascent import eval_mode, exit_logits_f32, iterate, require, uniform_start

__all__ = ["pgd_max_exits"]


def pgd_max_exits(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool,
                  autocast: Callable[[], ContextManager]):
    """PGD per exit; per sample the candidate with the largest summed cross-entropy of the exits."""
    require("pgd_max_exits", steps=steps, step_size=step_size)

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        x = x.detach()
        with eval_mode(model):
            with torch.no_grad(), autocast():
                k = len(exit_logits_f32(model(x[:1])))
            best = x.clone()
            best_loss = torch.full((x.shape[0],), -float("inf"), device=x.device)
            for i in range(k):
                def objective(x_adv, _step, i=i):
                    with autocast():
                        return F.cross_entropy(exit_logits_f32(model(x_adv))[i], y, reduction="sum")

                start = uniform_start(x, norm, eps, generator) if random_start else x.clone()
                cand = iterate(x, start, steps, objective, norm, eps, step_size)
                with torch.no_grad(), autocast():
                    loss = sum(F.cross_entropy(o, y, reduction="none") for o in exit_logits_f32(model(cand)))
                better = loss > best_loss
                best[better] = cand[better]
                best_loss = torch.where(better, loss, best_loss)
        return best

    return attack
