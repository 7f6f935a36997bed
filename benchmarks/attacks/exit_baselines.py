"""The baselines DeepSloth is compared with on a multi-exit model (slowdown role; Hong et al. ICLR 2021, Table 2).

* ``pgd_final``: PGD on the final exit's cross-entropy;
* ``pgd_avg``: PGD on the mean cross-entropy of all exits (Hu et al. 2020);
* ``pgd_max``: one PGD per exit, keeping per sample the candidate with the largest mean cross-entropy;
* ``noise``: a random perturbation of the same budget.

The PGDs run ``settings.baseline_steps`` steps of ``settings.baseline_step_size`` (null: 2.5 eps / steps, so they
can reach eps) from a random point of the ball, in Linf (signed), L2 (normalised) or L1 (sparse, at
``settings.l1_sparsity``) form. Like every slowdown attack they take the ``settings`` option (the
``evaluation.slowdown`` keys) and run in batches of ``settings.batch_size``; ``steps``, ``step_size`` and
``random_start`` of :func:`benchmarks.attacks.create_attack` are the settings'.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .perturbation import delta_gradient, exit_outputs, project_delta, random_delta, row_l2, sparse_direction

__all__ = ["pgd_final", "pgd_avg", "pgd_max", "noise"]


def _batched(craft: Callable[..., torch.Tensor]):
    """The attack builder running ``craft(model, x, y, settings, norm, eps, generator)`` in batches."""

    def build(model, *, norm: str, eps: float, steps=None, step_size=None, random_start: bool = True, autocast=None,
              settings, crafting_set=None):
        def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
            bs = settings.batch_size
            return torch.cat([craft(model, x[i:i + bs], y[i:i + bs], settings, norm, eps, generator)
                              for i in range(0, x.shape[0], bs)])

        return attack

    build.__doc__ = craft.__doc__
    return build


def _baseline_pgd(model, x, settings, norm: str, eps: float, loss_of, generator) -> torch.Tensor:
    steps = settings.baseline_steps
    step = settings.baseline_step_size or 2.5 * eps / steps
    x = x.detach()
    delta = project_delta(x, random_delta(x, norm, eps, generator), norm, eps)
    for _ in range(steps):
        g = delta_gradient(model, x, delta, loss_of)
        if norm == "linf":
            delta = delta + step * g.sign()
        elif norm == "l2":
            delta = delta + step * g / row_l2(g).clamp_min(1e-12)
        else:
            delta = delta + step * sparse_direction(g, settings.l1_sparsity)
        delta = project_delta(x, delta, norm, eps)
    return (x + delta).clamp(0, 1).detach()


def _ce_exits(y: torch.Tensor, which: Optional[int]):
    """Per-sample mean cross-entropy of every exit (``which`` None) or of exit ``which``."""
    def loss(outputs):
        chosen = outputs if which is None else [outputs[which]]
        return torch.stack([F.cross_entropy(o.float(), y, reduction="none") for o in chosen]).mean(0)
    return loss


@_batched
def pgd_final(model, x, y, settings, norm, eps, generator):
    """PGD on the final exit's cross-entropy."""
    return _baseline_pgd(model, x, settings, norm, eps, _ce_exits(y, -1), generator)


@_batched
def pgd_avg(model, x, y, settings, norm, eps, generator):
    """PGD on the mean cross-entropy of the exits."""
    return _baseline_pgd(model, x, settings, norm, eps, _ce_exits(y, None), generator)


@_batched
def pgd_max(model, x, y, settings, norm, eps, generator):
    """One PGD per exit; per sample the candidate with the largest mean cross-entropy of the exits."""
    with torch.no_grad():
        k = len(exit_outputs(model, x[:1]))
    best, best_loss = x.clone(), torch.full((x.shape[0],), -math.inf, device=x.device)
    total = _ce_exits(y, None)
    for i in range(k):
        cand = _baseline_pgd(model, x, settings, norm, eps, _ce_exits(y, i), generator)
        with torch.no_grad():
            loss = total(exit_outputs(model, cand))
        better = loss > best_loss
        best[better] = cand[better]
        best_loss = torch.where(better, loss, best_loss)
    return best


@_batched
def noise(model, x, y, settings, norm, eps, generator):
    """Uniform random noise of the same budget."""
    return (x + project_delta(x, random_delta(x, norm, eps, generator), norm, eps)).clamp(0, 1)
