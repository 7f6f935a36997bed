"""The iterative attacks on a classification loss: PGD and the training attacks of TRADES, MART and multi-exit SDNs.

* ``pgd``: Madry et al. 2018 (https://arxiv.org/abs/1706.06083), projected gradient ascent on the cross-entropy,
  Linf (signed steps) or L2 (normalised steps), optional uniform random start in the eps-ball;
* ``pgd_normal_start``: PGD on the cross-entropy from x + 0.001 N(0, I), the training attack of MART (Wang et al.
  2020, https://openreview.net/forum?id=rklOg6EFwS); ``random_start`` is ignored;
* ``trades_kl``: the inner maximisation of TRADES, Zhang et al. 2019 (https://arxiv.org/abs/1901.08573): ascent
  on KL(f(x) || f(x')) from x + 0.001 N(0, I); labels and ``random_start`` are not used;
* ``pgd_exits``: PGD on the mean cross-entropy of every exit of a multi-exit model (Hu et al. 2020; DeepSloth's
  PGD-avg), the training attack of the ``sdn_*_pgd`` methods.

Built by :func:`benchmarks.attacks.create_attack` (the builders' arguments are documented there). The model is in
eval mode while they craft (:func:`.ascent.eval_mode`); the caller's mode comes back afterwards.
"""
from __future__ import annotations

from typing import Callable, ContextManager, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ascent import eval_mode, exit_logits_f32, iterate, logits_f32, normal_start, require, uniform_start

__all__ = ["pgd", "pgd_normal_start", "trades_kl", "pgd_exits"]


def pgd(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool,
        autocast: Callable[[], ContextManager]):
    """PGD on the cross-entropy (Madry et al.): the training attack of ``training.loss: at`` and the evaluation's.

    The attack also takes ``observe(i, logits)``: called with the logits of iterate i (0 = the start point) as the
    attack computes them, e.g. to record the first iterate that fools the model (the evaluation's survival data);
    free of cost.
    """
    require("pgd", steps=steps, step_size=step_size)

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None,
               observe: Optional[Callable[[int, torch.Tensor], None]] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                logits = logits_f32(model(x_adv))
                loss = F.cross_entropy(logits, y, reduction="sum")
            if observe is not None:
                observe(i, logits.detach())
            return loss

        x = x.detach()
        with eval_mode(model):
            x_adv = uniform_start(x, norm, eps, generator) if random_start else x.clone()
            return iterate(x, x_adv, steps, objective, norm, eps, step_size)

    return attack


def pgd_normal_start(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool,
                     autocast: Callable[[], ContextManager]):
    """PGD on the cross-entropy from x + 0.001 N(0, I) (MART's training attack)."""
    require("pgd_normal_start", steps=steps, step_size=step_size)

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                return F.cross_entropy(logits_f32(model(x_adv)), y, reduction="sum")

        x = x.detach()
        with eval_mode(model):
            return iterate(x, normal_start(x, generator), steps, objective, norm, eps, step_size)

    return attack


def trades_kl(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool,
              autocast: Callable[[], ContextManager]):
    """TRADES inner maximisation: ascent on KL(f(x) || f(x')) from x + 0.001 N(0, I)."""
    require("trades_kl", steps=steps, step_size=step_size)

    def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                log_p_adv = F.log_softmax(logits_f32(model(x_adv)), dim=1)
            return F.kl_div(log_p_adv, p_natural, reduction="sum")

        x = x.detach()
        with eval_mode(model):
            with torch.no_grad(), autocast():
                p_natural = F.softmax(logits_f32(model(x)), dim=1)
            return iterate(x, normal_start(x, generator), steps, objective, norm, eps, step_size)

    return attack


def pgd_exits(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool,
              autocast: Callable[[], ContextManager]):
    """PGD on the mean cross-entropy of every exit of a multi-exit model (PGD-10 on all exits)."""
    require("pgd_exits", steps=steps, step_size=step_size)

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                outs = exit_logits_f32(model(x_adv))
            return sum(F.cross_entropy(o, y, reduction="sum") for o in outs) / len(outs)

        x = x.detach()
        with eval_mode(model):
            x_adv = uniform_start(x, norm, eps, generator) if random_start else x.clone()
            return iterate(x, x_adv, steps, objective, norm, eps, step_size)

    return attack
