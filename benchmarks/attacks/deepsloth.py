"""DeepSloth (Hong et al., ICLR 2021, https://arxiv.org/abs/2010.02432): the slowdown attack on multi-exit models.

Descent on the sloth loss: the cross-entropy of every internal classifier's softmax to the uniform distribution,
CE(u, p_i) = -(1/C) sum_c log p_i,c, summed over the ICs (the final exit excluded, as in the paper's code)
(:func:`sloth_loss`). Uniform outputs have the lowest confidence and the highest entropy, so no IC fires under
either exit rule and every sample runs the whole network. Labels are not used.

One attack, ``deepsloth``, crafted per sample, on two schedules:

* without the ``settings`` option (a method's training attack, e.g. ``sdn_ic_only_sloth``; ``attack.*`` keys):
  ``steps`` signed (Linf) or normalised (L2) descent steps of ``step_size`` on the adversarial input, from
  U(-min(step_size, eps), +) around x when ``random_start`` (the paper's code); under the caller's ``autocast``;
* with ``settings`` (the ``evaluation.slowdown`` keys, :class:`recipes.SlowdownConfig`; ``steps``, ``step_size``
  and ``random_start`` are then the settings'), the paper's schedules in batches of ``settings.batch_size``:
  ``linf``: signed descent, start U(-step, step) (the code's), U(-eps, eps) or none (``linf_random_start``);
  ``l2``: normalised steps with a cosine-annealed step size and a radius that decays by (1 - gamma) every
  ``decay_every`` iterations (adapted DDN; the final radius is the attack's ``budget``); ``l1``: sparse steps on
  the top (100 - sparsity) % of gradient coordinates with an exact projection onto the L1 ball intersected with
  the [0, 1] box (adapted SLIDE; the paper's code rescales instead).

``deepsloth_universal`` crafts one perturbation on ``settings.universal_n`` samples of the ``crafting_set``
option (the attacker's training data, ``(images, labels)``) and applies it to every input;
``deepsloth_class_universal`` one per class, crafted on that class's samples, applied to that class's inputs.
"""
from __future__ import annotations

import math
from typing import Callable, ContextManager, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ascent import eval_mode, exit_logits_f32, iterate, require
from .perturbation import delta_gradient, project_delta, random_delta, row_l2, sparse_direction

__all__ = ["sloth_loss", "deepsloth", "deepsloth_universal", "deepsloth_class_universal", "deepsloth_per_sample",
           "universal_delta"]


def sloth_loss(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-sample sum over the ICs (every exit but the last) of CE(uniform, softmax(logits)); shape (N,)."""
    ics = outputs[:-1] if len(outputs) > 1 else outputs
    return torch.stack([-F.log_softmax(o.float(), dim=-1).mean(dim=-1) for o in ics]).sum(dim=0)


def deepsloth(model: nn.Module, *, norm: str, eps: float, steps: Optional[int], step_size: Optional[float],
              random_start: bool, autocast: Callable[[], ContextManager], settings=None, crafting_set=None):
    """Per-sample DeepSloth on the ``attack.*`` schedule, or on the paper's with ``settings`` (module docstring);
    a per-sample attack crafts on nothing but its inputs (``crafting_set`` is not used)."""
    if settings is not None:
        def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
            bs = settings.batch_size
            return torch.cat([deepsloth_per_sample(model, x[i:i + bs], settings, norm, eps, generator)
                              for i in range(0, x.shape[0], bs)])

        if norm == "l2":
            attack.budget = final_l2_radius(settings, eps)
        return attack
    require("deepsloth", steps=steps, step_size=step_size)
    if norm == "l1":
        raise ValueError("deepsloth in l1 runs on the slowdown schedule only (the settings option)")

    def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        def objective(x_adv, i):
            with autocast():
                outs = exit_logits_f32(model(x_adv))
            return sloth_loss(outs).sum()

        x = x.detach()
        with eval_mode(model):
            x_adv = x.clone()
            if random_start:
                noise = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1)
                x_adv = (x + noise * min(step_size, eps)).clamp(0.0, 1.0)
            return iterate(x, x_adv, steps, objective, norm, eps, step_size, descend=True)

    return attack


def deepsloth_per_sample(model, x: torch.Tensor, settings, norm: str, eps: float, generator=None, *,
                         loss=sloth_loss, linf_steps: Optional[int] = None,
                         linf_step_size: Optional[float] = None) -> torch.Tensor:
    """DeepSloth on the paper's schedule of ``norm`` (``settings``; the model in eval mode); x_adv in [0, 1].

    ``loss`` (per-sample, of every exit's logits; default :func:`sloth_loss`) is what the steps descend;
    ``linf_steps`` / ``linf_step_size`` replace the settings' Linf schedule (the accuracy-aware variants')."""
    x = x.detach()
    if norm == "linf":
        step = settings.linf_step_size if linf_step_size is None else linf_step_size
        start = {"step": step, "eps": eps, "none": 0.0}[settings.linf_random_start]
        delta = project_delta(x, random_delta(x, "linf", start, generator), "linf", eps)
        for _ in range(settings.linf_steps if linf_steps is None else linf_steps):
            g = delta_gradient(model, x, delta, loss)
            delta = project_delta(x, delta - step * g.sign(), "linf", eps)
    elif norm == "l2":
        radius = eps
        delta = project_delta(x, random_delta(x, "l2", radius, generator), "l2", radius)
        steps = settings.l2_steps
        for t in range(steps):
            if t > 0 and t % settings.l2_decay_every == 0:
                radius *= 1.0 - settings.l2_gamma
            lr = settings.l2_lr_min + (settings.l2_lr - settings.l2_lr_min) * (1 + math.cos(math.pi * t / steps)) / 2
            g = delta_gradient(model, x, delta, loss)
            delta = project_delta(x, delta - lr * g / row_l2(g).clamp_min(1e-12), "l2", radius)
    elif norm == "l1":
        delta = project_delta(x, random_delta(x, "l1", eps, generator), "l1", eps)
        for _ in range(settings.l1_steps):
            g = delta_gradient(model, x, delta, loss)
            delta = project_delta(x, delta + settings.l1_step_size * sparse_direction(-g, settings.l1_sparsity),
                                  "l1", eps)
    else:
        raise ValueError(f"deepsloth has no {norm!r} schedule; its norms: linf, l2, l1")
    return (x + delta).clamp(0, 1).detach()


def final_l2_radius(settings, eps: float) -> float:
    """The L2 radius per-sample DeepSloth ends with: eps x (1 - gamma)^(decays in l2_steps iterations)."""
    decays = max(0, (settings.l2_steps - 1) // settings.l2_decay_every)
    return eps * (1.0 - settings.l2_gamma) ** decays


def universal_delta(model, xs: torch.Tensor, settings, norm: str, eps: float, generator=None) -> torch.Tensor:
    """One perturbation (shape of one sample) minimising the IC losses over the crafting samples ``xs``."""
    bs = settings.universal_batch_size
    batches = [xs[i:i + bs] for i in range(0, xs.shape[0], bs)]
    one = xs[:1]
    if norm == "linf":
        v = random_delta(one, "linf", eps, generator)
        for it in range(settings.universal_linf_steps):
            step = settings.universal_linf_step_size * settings.universal_linf_decay ** (
                it // settings.universal_linf_decay_every)
            for xb in batches:
                g = delta_gradient(model, xb, v.expand_as(xb), sloth_loss)
                v = project_delta(None, v - step * g.sum(0, keepdim=True).sign(), "linf", eps)
    elif norm == "l2":
        radius, lr = eps, settings.universal_l2_lr
        v = random_delta(one, "l2", radius, generator)
        for _ in range(settings.universal_l2_epochs):
            for xb in batches:
                for _ in range(settings.universal_l2_steps):
                    g = delta_gradient(model, xb, v.expand_as(xb), sloth_loss).sum(0, keepdim=True)
                    v = project_delta(None, v - lr * g / row_l2(g).clamp_min(1e-12), "l2", radius)
            radius *= 1.0 - settings.l2_gamma
            lr *= 1.0 - settings.l2_gamma
            v = project_delta(None, v, "l2", radius)
    elif norm == "l1":
        v = random_delta(one, "l1", eps, generator)
        for _ in range(settings.universal_l1_steps):
            for xb in batches:
                g = delta_gradient(model, xb, v.expand_as(xb), sloth_loss).sum(0, keepdim=True)
                v = project_delta(None, v + settings.l1_step_size * sparse_direction(
                    -g, settings.universal_l1_sparsity), "l1", eps)
    else:
        raise ValueError(f"universal deepsloth has no {norm!r} schedule; its norms: linf, l2, l1")
    return v.detach()


def _universal_budget(settings, norm: str, eps: float) -> float:
    """The budget a universal perturbation ends with (L2: the radius after every epoch's decay)."""
    return eps * (1.0 - settings.l2_gamma) ** settings.universal_l2_epochs if norm == "l2" else eps


def crafting_sample(crafting_set, n: int, generator, label: Optional[int] = None) -> torch.Tensor:
    """``n`` images of the crafting set (of class ``label``), drawn without replacement by ``generator``.

    The crafting set is ``(images, labels)`` or an :class:`~benchmarks.datasets.EvalSet` (a folder dataset's
    training split: only the drawn images are decoded)."""
    if isinstance(crafting_set, (tuple, list)):
        tx, ty = crafting_set
    else:
        tx, ty = None, crafting_set.labels
    idx = torch.arange(ty.shape[0]) if label is None else (ty == label).nonzero().view(-1)
    perm = torch.randperm(idx.numel(), generator=_cpu_generator(generator))
    chosen = idx[perm[:n]]
    if tx is not None:
        return tx[chosen]
    if chosen.numel() == 0:
        return torch.empty((0, *crafting_set.shape))
    return torch.cat([xb for xb, _ in crafting_set.subset(chosen.tolist()).batches(chosen.numel())])


def _cpu_generator(generator) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
                  if generator is not None else 0)
    return g


def deepsloth_universal(model, *, norm: str, eps: float, steps=None, step_size=None, random_start: bool = True,
                        autocast=None, settings, crafting_set: Tuple[torch.Tensor, torch.Tensor]):
    """One DeepSloth perturbation for every input, crafted on the ``crafting_set`` (module docstring)."""

    def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        xs = crafting_sample(crafting_set, settings.universal_n, generator).to(x.device)
        v = universal_delta(model, xs, settings, norm, eps, generator)
        return (x + v).clamp(0, 1)

    attack.budget = _universal_budget(settings, norm, eps)
    return attack


def deepsloth_class_universal(model, *, norm: str, eps: float, steps=None, step_size=None, random_start: bool = True,
                              autocast=None, settings, crafting_set: Tuple[torch.Tensor, torch.Tensor]):
    """One DeepSloth perturbation per class, crafted on that class's samples of the ``crafting_set``."""

    def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        out = x.clone()
        for c in torch.unique(y).tolist():
            xs = crafting_sample(crafting_set, settings.universal_n, generator, label=int(c)).to(x.device)
            if xs.shape[0] == 0:
                continue
            v = universal_delta(model, xs, settings, norm, eps, generator)
            mask = y == c
            out[mask] = (x[mask] + v).clamp(0, 1)
        return out

    attack.budget = _universal_budget(settings, norm, eps)
    return attack
