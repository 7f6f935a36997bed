"""Projected gradient steps on an adversarial input ``x_adv``: the loop the iterative attacks share.

Each step moves ``x_adv`` along the sign (Linf) or the L2-normalised direction (L2) of a gradient, then projects
it onto the eps-ball around the clean ``x`` and onto the image range [0, 1] (:func:`project`). The attacks of
:mod:`.pgd`, :mod:`.fgsm` and DeepSloth's training form (:mod:`.deepsloth`) differ only in their start
(:func:`uniform_start`, :func:`normal_start`) and the objective :func:`iterate` climbs (or descends). While an
attack crafts, the model is in eval mode (:func:`eval_mode`): BatchNorm running statistics stay and dropout is off.
"""
from __future__ import annotations

import contextlib
from typing import Callable, List, Optional

import torch
import torch.nn as nn

from ..models.outputs import all_logits, final_logits

__all__ = ["eval_mode", "flat_norm", "project", "uniform_start", "normal_start", "iterate", "logits_f32",
           "exit_logits_f32", "require"]


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Put ``model`` in eval mode for the block, then restore each module's previous mode."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def flat_norm(v: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each sample of ``v`` (at least 1e-12), shaped to broadcast against ``v``."""
    return v.flatten(1).norm(p=2, dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project(x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, norm: str, eps: float,
            step_size: float) -> torch.Tensor:
    """One signed (linf) or normalised (l2) ascent step from ``x_adv`` along ``grad``, projected onto the eps-ball
    around ``x`` and the image range [0, 1]."""
    if norm == "linf":
        x_adv = x_adv + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps)
    else:
        x_adv = x_adv + step_size * grad / flat_norm(grad)
        delta = x_adv - x
        delta = delta * torch.clamp(eps / flat_norm(delta), max=1.0)
        x_adv = x + delta
    return x_adv.clamp(0.0, 1.0)


def logits_f32(output) -> torch.Tensor:
    """The final logits (float32) of a model output; multi-exit models return one tensor per exit."""
    return final_logits(output).float()


def exit_logits_f32(output) -> List[torch.Tensor]:
    """Every exit's logits (float32); a single-output model has one exit."""
    return [o.float() for o in all_logits(output)]


def uniform_start(x: torch.Tensor, norm: str, eps: float, generator: Optional[torch.Generator]) -> torch.Tensor:
    """A uniform point of the Linf ball, or a uniform direction at a uniform radius of the L2 ball, in [0, 1]."""
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    else:
        delta = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=generator, device=x.device,
                            dtype=x.dtype)
        delta = delta / flat_norm(delta) * radius * eps
    return (x + delta).clamp(0.0, 1.0)


def normal_start(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """x + 0.001 N(0, I) clipped to [0, 1]: the start of TRADES' and MART's attacks (their authors' code)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + 0.001 * noise).clamp(0.0, 1.0)


def iterate(x: torch.Tensor, x_adv: torch.Tensor, steps: int, objective: Callable[[torch.Tensor, int], torch.Tensor],
            norm: str, eps: float, step_size: float, descend: bool = False) -> torch.Tensor:
    """``steps`` gradient steps from ``x_adv``, each projected onto the eps-ball around ``x`` and onto [0, 1]: ascent
    on ``objective(x_adv, i)`` (descent with ``descend``), which runs the model (under the attack's autocast) and
    returns the scalar loss of iterate ``i``. Only input gradients are computed (parameters' ``.grad`` stay)."""
    for i in range(steps):
        x_adv.requires_grad_(True)
        loss = objective(x_adv, i)
        grad, = torch.autograd.grad(loss, [x_adv])
        x_adv = project(x, x_adv.detach(), -grad if descend else grad, norm, eps, step_size)
    return x_adv.detach()


def require(attack: str, **values) -> None:
    """Raise ValueError naming the arguments of ``create_attack`` that ``attack`` needs but was given None."""
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise ValueError(f"attack {attack!r} needs {' and '.join(missing)} (got None)")
