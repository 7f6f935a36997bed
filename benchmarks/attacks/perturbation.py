"""Perturbations ``delta`` in the Linf, L2 and L1 balls: projections (onto a ball intersected with the [0, 1] box),
random draws, the sparse L1 step direction and input gradients - the pieces the slowdown attacks
(:mod:`.deepsloth`, :mod:`.exit_baselines`) build their schedules from.

Unlike :mod:`.ascent`, which moves the adversarial input itself, these keep the perturbation and evaluate the
model at ``(x + delta).clamp(0, 1)``; a universal perturbation has no ``x`` of its own (``x=None``: the ball only).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence

import torch

from recipes.catalog import NORMS

from ..models.outputs import all_logits

__all__ = ["row_l2", "project_delta", "project_l1_box", "random_delta", "sparse_direction", "delta_gradient",
           "exit_outputs"]


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def row_l2(v: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each sample of ``v``, shaped to broadcast against ``v``."""
    return _view(v.flatten(1).norm(p=2, dim=1), v)


def project_l1_box(v: torch.Tensor, eps: float, upper: Optional[torch.Tensor] = None, iters: int = 60
                   ) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` onto {d : ||d||_1 <= eps, |d_j| <= upper_j (sign-wise)}.

    The solution is d_j = sign(v_j) * clip(|v_j| - theta, 0, upper_j) with the smallest theta >= 0 meeting the
    budget (KKT of the separable problem); theta is found by bisection to float64 precision and the upper end
    of the bracket is used, so the budget is never exceeded. ``upper`` is the box's room in each coordinate's
    direction (for x + d in [0, 1]: 1 - x where v > 0, x where v < 0); None = no box.
    """
    shape = v.shape
    a = v.detach().flatten(1).abs().double()
    u = upper.flatten(1).double() if upper is not None else torch.full_like(a, math.inf)
    clipped = torch.minimum(a, u)
    need = clipped.sum(1) > eps
    theta_lo = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    theta_hi = a.amax(1)
    for _ in range(iters):
        mid = (theta_lo + theta_hi) / 2
        total = torch.minimum((a - mid[:, None]).clamp_min(0), u).sum(1)
        over = total > eps
        theta_lo = torch.where(over, mid, theta_lo)
        theta_hi = torch.where(over, theta_hi, mid)
    theta = torch.where(need, theta_hi, torch.zeros_like(theta_hi))
    mag = torch.minimum((a - theta[:, None]).clamp_min(0), u)
    return (torch.sign(v.detach().flatten(1)).double() * mag).to(v.dtype).view(shape)


def project_delta(x: Optional[torch.Tensor], delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """``delta`` moved into the eps-ball of ``norm``, and (when ``x`` is given) so that x + delta is in [0, 1]."""
    if norm == "linf":
        d = delta.clamp(-eps, eps)
        return d if x is None else (x + d).clamp(0, 1) - x
    if norm == "l2":
        d = delta * torch.clamp(eps / row_l2(delta).clamp_min(1e-12), max=1.0)
        return d if x is None else (x + d).clamp(0, 1) - x   # clipping to the box only shrinks the norm
    if norm == "l1":
        upper = None if x is None else torch.where(delta > 0, 1 - x, x)
        return project_l1_box(delta, eps, upper)
    raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


def sparse_direction(g: torch.Tensor, sparsity: float) -> torch.Tensor:
    """sign(g) on the coordinates with |g| at or above the sparsity-th percentile, scaled to unit L1 norm."""
    flat = g.flatten(1).abs()
    k = max(1, int(round(flat.shape[1] * (1.0 - sparsity / 100.0))))
    thresh = flat.topk(k, dim=1).values[:, -1:]
    mask = (flat >= thresh).float()
    e = torch.sign(g.flatten(1)) * mask / mask.sum(1, keepdim=True).clamp_min(1.0)
    return e.view_as(g)


def random_delta(x: torch.Tensor, norm: str, radius: float, generator) -> torch.Tensor:
    """A random perturbation of the shape of ``x``: uniform in the Linf ball of ``radius``; on the L2 sphere; on the
    L1 sphere along a Laplace direction."""
    if norm == "linf":
        return (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * radius
    if norm == "l2":
        d = torch.randn(x.shape, generator=generator, device=x.device)
        return d / row_l2(d).clamp_min(1e-12) * radius
    u = torch.rand(x.shape, generator=generator, device=x.device).clamp(1e-7, 1 - 1e-7) - 0.5
    d = -torch.sign(u) * torch.log1p(-2 * u.abs())   # Laplace(0, 1)
    return d / _view(d.flatten(1).abs().sum(1), d).clamp_min(1e-12) * radius


def delta_gradient(model, x: torch.Tensor, delta: torch.Tensor,
                   loss_fn: Callable[[Sequence[torch.Tensor]], torch.Tensor]) -> torch.Tensor:
    """The gradient w.r.t. ``delta`` of ``loss_fn(every exit's logits at (x + delta).clamp(0, 1)).sum()``."""
    delta = delta.detach().requires_grad_(True)
    loss = loss_fn(exit_outputs(model, (x + delta).clamp(0, 1))).sum()
    g, = torch.autograd.grad(loss, [delta])
    return g


def exit_outputs(model, x: torch.Tensor) -> List[torch.Tensor]:
    """Every exit's logits of ``model`` at ``x`` (one for a single-output model)."""
    return all_logits(model(x))
