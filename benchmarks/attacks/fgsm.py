"""The single-step attacks: FGSM from a random start (a training attack) and the fast gradient method.

* ``fgsm_rs``: the training attack of FGSM-RS (Wong, Rice & Kolter 2020, https://arxiv.org/abs/2001.03994): one
  signed (Linf) or normalised (L2) step of ``step_size`` on the cross-entropy from a uniform point of the eps-ball,
  projected; ``steps`` and ``random_start`` are ignored. Unlike the other attacks it runs the model in the mode the
  caller left it in: during training that is train mode (BatchNorm batch statistics), as the paper's code crafts.
* ``fgm``: the fast gradient method (Goodfellow et al. 2015, https://arxiv.org/abs/1412.6572; Miyato et al.'s
  L2 form): one step of size eps along the sign (Linf) or the normalised direction (L2) of the input gradient
  of the cross-entropy; ``steps``, ``step_size`` and ``random_start`` are ignored. The evaluation's minimal-eps
  FGM (:func:`benchmarks.evaluation.survival.fgm_min_eps`) walks eps up along the same :func:`fgm_direction`.
* ``n_fgsm``: the training attack of N-FGSM (de Jorge et al. 2022, "Make Some Noise", https://arxiv.org/abs/2206.00614):
  one signed (Linf) or normalised (L2) step of ``step_size`` from x + eta, eta uniform in the ``noise`` x eps ball
  (option ``noise``, k), with no projection onto the eps-ball (option ``clip``: a radius as a multiple of eps,
  None = none); only the image range [0, 1] is kept. Its perturbation can so reach (k + alpha/eps) x eps in Linf
  (its ``budget``: k x eps + step_size, or clip x eps).
  Like ``fgsm_rs`` it runs the model in the caller's mode (train mode during training, as the authors' code).
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ascent import eval_mode, flat_norm, logits_f32, project, require, uniform_start

__all__ = ["fgsm_rs", "n_fgsm", "fgm", "fgm_direction"]


def fgsm_rs(model: nn.Module, *, norm: str, eps: float, steps: Optional[int], step_size: float, random_start: bool,
            autocast: Callable[[], ContextManager]):
    """FGSM from a uniform random start in the model's current mode (see the module docstring)."""
    require("fgsm_rs", step_size=step_size)

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        x = x.detach()
        x_adv = uniform_start(x, norm, eps, generator).requires_grad_(True)
        with autocast():
            loss = F.cross_entropy(logits_f32(model(x_adv)), y, reduction="sum")
        grad, = torch.autograd.grad(loss, [x_adv])
        return project(x, x_adv.detach(), grad, norm, eps, step_size).detach()

    return attack


def n_fgsm(model: nn.Module, *, norm: str, eps: float, steps: Optional[int], step_size: float, random_start: bool,
           autocast: Callable[[], ContextManager], noise: float = 2.0, clip: Optional[float] = None):
    """N-FGSM: one step from a point of the ``noise`` x eps ball, unprojected (see the module docstring)."""
    require("n_fgsm", step_size=step_size)

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        x = x.detach()
        # noise 0: the step starts at x itself (the authors' --unif 0)
        start = uniform_start(x, norm, noise * eps, generator) if noise > 0 else x.clone()
        x_adv = start.requires_grad_(True)
        with autocast():
            loss = F.cross_entropy(logits_f32(model(x_adv)), y, reduction="sum")
        grad, = torch.autograd.grad(loss, [x_adv])
        if clip is None:  # no projection onto a ball: only the image range
            if norm == "linf":
                moved = x_adv.detach() + step_size * grad.sign()
            else:
                moved = x_adv.detach() + step_size * grad / flat_norm(grad)
            return moved.clamp(0.0, 1.0).detach()
        return project(x, x_adv.detach(), grad, norm, clip * eps, step_size).detach()

    # the perturbation it can end with: the noise's radius plus the step, or the projection's radius
    attack.budget = clip * eps if clip is not None else noise * eps + step_size
    return attack


def fgm_direction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
                  autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> torch.Tensor:
    """Unit step of the fast gradient method at x: sign of the input gradient (Linf) or its L2-normalised value."""
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(model):
        with autocast():
            loss = F.cross_entropy(logits_f32(model(x)), y, reduction="sum")
        grad, = torch.autograd.grad(loss, [x])
    return grad.sign() if norm == "linf" else grad / flat_norm(grad)


def fgm(model: nn.Module, *, norm: str, eps: float, steps: Optional[int], step_size: Optional[float],
        random_start: bool, autocast: Callable[[], ContextManager]):
    """Fast gradient method: x + eps * (sign of the gradient, or its L2 direction), clipped to [0, 1]."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return (x.detach() + eps * fgm_direction(model, x, y, norm, autocast)).clamp(0.0, 1.0)

    return attack
