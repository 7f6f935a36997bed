"""White-box attacks used for adversarial training and the per-epoch robustness check.

* ``pgd``: Madry et al. 2018 (https://arxiv.org/abs/1706.06083), projected gradient ascent on the cross-entropy,
  Linf (signed steps) or L2 (normalised steps), optional uniform random start in the eps-ball.
* ``fgm``: the fast gradient method (Goodfellow et al. 2015, https://arxiv.org/abs/1412.6572; Miyato et al.'s
  L2 form): one step of size eps along the sign (Linf) or the normalised direction (L2) of the input gradient
  of the cross-entropy; ``steps``, ``step_size`` and ``random_start`` are ignored. The evaluation's minimal-eps
  FGM (:func:`benchmarks.evaluation.survival.fgm_min_eps`) walks eps up along the same direction.
* ``pgd_normal_start``: PGD on the cross-entropy from x + 0.001 N(0, I), the training attack of MART (Wang et al.
  2020, https://openreview.net/forum?id=rklOg6EFwS).
* ``trades_kl``: the inner maximisation of TRADES, Zhang et al. 2019 (https://arxiv.org/abs/1901.08573): ascent
  on KL(f(x) || f(x')) from x + 0.001 N(0, I).
* ``fgsm_rs``: the training attack of FGSM-RS (Wong, Rice & Kolter 2020, https://arxiv.org/abs/2001.03994): one
  signed (Linf) or normalised (L2) step of ``step_size`` on the cross-entropy from a uniform point of the eps-ball,
  projected; ``steps`` and ``random_start`` are ignored. Unlike the others it runs the model in the mode the
  caller left it in: during training that is train mode (BatchNorm batch statistics), as the paper's code crafts.

Every builder is registered under its name and shares one signature (:func:`create_attack`); the result is a
callable ``attack(x, y, generator=None) -> x_adv``. Inputs and outputs are images in [0, 1]. While an attack
crafts its examples the model is in eval mode (``fgsm_rs`` excepted, see above), so BatchNorm running statistics
are not updated (and dropout is off); the caller's train/eval mode is restored afterwards. Only input gradients are computed: parameter
``.grad`` fields are left untouched.
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Attack", "create_attack", "list_attacks", "register_attack", "eval_mode", "project"]

Attack = Callable[..., torch.Tensor]
_ATTACKS: Dict[str, Callable[..., Attack]] = {}
NORMS = ("linf", "l2")


def register_attack(fn: Callable[..., Attack]) -> Callable[..., Attack]:
    """Register an attack builder under its function name."""
    _ATTACKS[fn.__name__] = fn
    return fn


def list_attacks():
    return sorted(_ATTACKS)


def create_attack(name: str, model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float,
                  random_start: bool = True, autocast: Optional[Callable[[], ContextManager]] = None) -> Attack:
    """Build the attack ``name`` against ``model``.

    Args:
        name: a registered attack (:func:`list_attacks`).
        model: the network, taking inputs in [0, 1] (not a DistributedDataParallel wrapper).
        norm: ``linf`` or ``l2``.
        eps: perturbation budget.
        steps: gradient steps.
        step_size: size of each step.
        random_start: start from a random point of the eps-ball (``pgd``).
        autocast: factory of the context the forward passes run in (e.g. bf16 autocast); None = fp32.

    Returns:
        ``attack(x, y, generator=None) -> x_adv``; ``generator`` (on the device of x) drives the random start.
    """
    if name not in _ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid: {', '.join(list_attacks())}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")
    return _ATTACKS[name](model, norm=norm, eps=float(eps), steps=int(steps), step_size=float(step_size),
                          random_start=random_start, autocast=autocast or contextlib.nullcontext)


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


def _flat_norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(p=2, dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def _ascend(x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, norm: str, eps: float,
            step_size: float) -> torch.Tensor:
    """One ascent step followed by the projection onto the eps-ball around x and onto [0, 1]."""
    if norm == "linf":
        x_adv = x_adv + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps)
    else:
        x_adv = x_adv + step_size * grad / _flat_norm(grad)
        delta = x_adv - x
        delta = delta * torch.clamp(eps / _flat_norm(delta), max=1.0)
        x_adv = x + delta
    return x_adv.clamp(0.0, 1.0)


def project(x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, norm: str, eps: float,
            step_size: float) -> torch.Tensor:
    """One signed (linf) or normalised (l2) ascent step from ``x_adv`` along ``grad``, projected onto the eps-ball
    around ``x`` and the image range [0, 1]."""
    return _ascend(x, x_adv, grad, norm, eps, step_size)


def _logits(output):
    """The final logits (float32) of a model output; multi-exit models return one tensor per exit."""
    from ..models import final_logits

    return final_logits(output).float()


def _random_start(x: torch.Tensor, norm: str, eps: float, generator: Optional[torch.Generator]) -> torch.Tensor:
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    else:
        delta = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=generator, device=x.device,
                            dtype=x.dtype)
        delta = delta / _flat_norm(delta) * radius * eps
    return (x + delta).clamp(0.0, 1.0)


def _iterate(x: torch.Tensor, x_adv: torch.Tensor, steps: int, objective: Callable[[torch.Tensor, int], torch.Tensor],
             norm: str, eps: float, step_size: float, descend: bool = False) -> torch.Tensor:
    """``steps`` gradient steps from ``x_adv``, each projected onto the eps-ball around ``x`` and onto [0, 1]: ascent
    on ``objective(x_adv, i)`` (descent with ``descend``), which runs the model (under the attack's autocast) and
    returns the scalar loss of iterate ``i``. The iterative attacks below differ only in their start and objective."""
    for i in range(steps):
        x_adv.requires_grad_(True)
        loss = objective(x_adv, i)
        grad, = torch.autograd.grad(loss, [x_adv])
        x_adv = _ascend(x, x_adv.detach(), -grad if descend else grad, norm, eps, step_size)
    return x_adv.detach()


def _normal_start(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """x + 0.001 N(0, I) clipped to [0, 1]: the start of TRADES' and MART's attacks (their authors' code)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + 0.001 * noise).clamp(0.0, 1.0)


@register_attack
def pgd(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool = True,
        autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """PGD on the cross-entropy (Madry et al.): the training attack of ``training.loss: at`` and the evaluation."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None,
               observe: Optional[Callable[[int, torch.Tensor], None]] = None) -> torch.Tensor:
        # observe(i, logits): the logits of iterate i (0 = the start point) as the attack computes them, e.g.
        # to record the first iterate that fools the model (the evaluation's survival data); free of cost.
        def objective(x_adv, i):
            with autocast():
                logits = _logits(model(x_adv))
                loss = F.cross_entropy(logits, y, reduction="sum")
            if observe is not None:
                observe(i, logits.detach())
            return loss

        x = x.detach()
        with eval_mode(model):
            x_adv = _random_start(x, norm, eps, generator) if random_start else x.clone()
            return _iterate(x, x_adv, steps, objective, norm, eps, step_size)

    return attack


@register_attack
def fgsm_rs(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool = True,
            autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """FGSM from a uniform random start in the model's current mode (see the module docstring)."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        x = x.detach()
        x_adv = _random_start(x, norm, eps, generator).requires_grad_(True)
        with autocast():
            loss = F.cross_entropy(_logits(model(x_adv)), y, reduction="sum")
        grad, = torch.autograd.grad(loss, [x_adv])
        return _ascend(x, x_adv.detach(), grad, norm, eps, step_size).detach()

    return attack


@register_attack
def pgd_normal_start(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float,
                     random_start: bool = True,
                     autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """PGD on the cross-entropy from x + 0.001 N(0, I) (MART's training attack); ``random_start`` is ignored."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                return F.cross_entropy(_logits(model(x_adv)), y, reduction="sum")

        x = x.detach()
        with eval_mode(model):
            return _iterate(x, _normal_start(x, generator), steps, objective, norm, eps, step_size)

    return attack


@register_attack
def trades_kl(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool = True,
              autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """TRADES inner maximisation: ascent on KL(f(x) || f(x')) from x + 0.001 N(0, I); labels are not used."""

    def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                log_p_adv = F.log_softmax(_logits(model(x_adv)), dim=1)
            return F.kl_div(log_p_adv, p_natural, reduction="sum")

        x = x.detach()
        with eval_mode(model):
            with torch.no_grad(), autocast():
                p_natural = F.softmax(_logits(model(x)), dim=1)
            return _iterate(x, _normal_start(x, generator), steps, objective, norm, eps, step_size)

    return attack


def fgm_direction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str,
                  autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> torch.Tensor:
    """Unit step of the fast gradient method at x: sign of the input gradient (Linf) or its L2-normalised value."""
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(model):
        with autocast():
            loss = F.cross_entropy(_logits(model(x)), y, reduction="sum")
        grad, = torch.autograd.grad(loss, [x])
    return grad.sign() if norm == "linf" else grad / _flat_norm(grad)


@register_attack
def fgm(model: nn.Module, *, norm: str, eps: float, steps: int = 1, step_size: float = 0.0,
        random_start: bool = False, autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """Fast gradient method: x + eps * (sign of the gradient, or its L2 direction), clipped to [0, 1]."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return (x.detach() + eps * fgm_direction(model, x, y, norm, autocast)).clamp(0.0, 1.0)

    return attack


def _exit_logits(output):
    """Every exit's logits (float32); a single-output model has one exit."""
    from ..models import all_logits

    return [o.float() for o in all_logits(output)]


@register_attack
def pgd_exits(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool = True,
              autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """PGD on the mean cross-entropy of every exit of a multi-exit model (Hu et al. 2020; DeepSloth's PGD-avg):
    the training attack of the ``sdn_*_pgd`` methods (PGD-10 on all exits)."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                outs = _exit_logits(model(x_adv))
            return sum(F.cross_entropy(o, y, reduction="sum") for o in outs) / len(outs)

        x = x.detach()
        with eval_mode(model):
            x_adv = _random_start(x, norm, eps, generator) if random_start else x.clone()
            return _iterate(x, x_adv, steps, objective, norm, eps, step_size)

    return attack


@register_attack
def deepsloth(model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float, random_start: bool = True,
              autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> Attack:
    """DeepSloth (Hong et al. 2021): descent on the cross-entropy of every internal classifier to the uniform
    distribution, so no early exit fires; labels are not used. The crafting attack of ``sdn_ic_only_sloth``
    (the paper's defence); the full slowdown evaluation is :mod:`benchmarks.slowdown.attacks`. The random
    start is U(-step, step), as the paper's code."""

    def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        from ..slowdown.attacks import sloth_loss

        def objective(x_adv, i):
            with autocast():
                outs = _exit_logits(model(x_adv))
            return sloth_loss(outs).sum()

        x = x.detach()
        with eval_mode(model):
            x_adv = x.clone()
            if random_start:
                noise = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1)
                x_adv = (x + noise * min(step_size, eps)).clamp(0.0, 1.0)
            return _iterate(x, x_adv, steps, objective, norm, eps, step_size, descend=True)  # descent on the sloth loss

    return attack
