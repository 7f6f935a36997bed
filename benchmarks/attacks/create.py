"""Build any attack by name through one signature: :func:`create_attack`.

The attacks are the ``attacks`` plug-ins of :mod:`recipes.catalog` (the built-ins declared in :mod:`.catalog`):
an entry names its builder and the threat models it supports. Training (a method's ``train_attack``), the
per-epoch check (``training.select_attack``), the final evaluation (``evaluation.attack``) and the slowdown
evaluation (``evaluation.slowdown.attacks``) all build theirs here. A new attack is a builder plus its
:class:`recipes.catalog.AttackEntry` (under the ``robustperf.attacks`` entry-point group, or
``catalog.register(AttackEntry(name=..., impl=builder, norms=..., roles=...))`` in-process).

A builder is called as ``builder(model, *, norm, eps, steps, step_size, random_start, autocast, **options)`` and
returns the attack: ``attack(x, y, generator=None) -> x_adv``. An attack may carry ``budget``, the perturbation
size it ends with (DeepSloth's L2 radius decays); :func:`create_attack` sets it to ``eps`` otherwise.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, List, Optional

import torch
import torch.nn as nn

from recipes import catalog

__all__ = ["Attack", "create_attack", "list_attacks"]

#: ``attack(x, y, generator=None) -> x_adv``, with a ``budget`` attribute (see the module docstring).
Attack = Callable[..., torch.Tensor]


def list_attacks() -> List[str]:
    """The registered attacks' names, sorted."""
    return sorted(catalog.names("attacks"))


def create_attack(name: str, model: nn.Module, *, norm: str, eps: float, steps: Optional[int] = None,
                  step_size: Optional[float] = None, random_start: bool = True,
                  autocast: Optional[Callable[[], ContextManager]] = None, **options: Any) -> Attack:
    """Build the attack ``name`` against ``model``.

    Args:
        name: a registered attack (``robustperf plugins --kind attacks``).
        model: the network, taking inputs in [0, 1] (not a DistributedDataParallel wrapper); a slowdown
            attack's may be a :class:`benchmarks.slowdown.counter.ForwardCounter` around it.
        norm: the threat model, one of the attack's ``norms`` (keys of :data:`recipes.catalog.NORMS`).
        eps: perturbation budget.
        steps: gradient steps; None for attacks that take theirs from an option or take one (``fgm``).
        step_size: size of each step; None likewise.
        random_start: start from a random point of the eps-ball (``pgd``, ``pgd_exits``, ``deepsloth``).
        autocast: factory of the context the forward passes run in (e.g. bf16 autocast); None = fp32.
        options: attack-specific options, documented by each attack. The slowdown attacks (role ``slowdown``)
            take ``settings``, the ``evaluation.slowdown`` keys (:class:`recipes.SlowdownConfig`: their steps,
            schedules and batch size), and ``crafting_set``, the attacker's ``(images, labels)`` that universal
            perturbations are crafted on.

    Returns:
        ``attack(x, y, generator=None) -> x_adv``; ``generator`` (on the device of x) drives the random start.

    Raises:
        PluginError: no attack of that name is registered (the message names near matches).
        ValueError: the attack does not support ``norm``.
    """
    entry = catalog.get("attacks", name)
    if norm not in entry.norms:
        raise ValueError(f"attack {name!r} does not support the norm {norm!r}; valid: {', '.join(entry.norms)}")
    attack = entry.load()(model, norm=norm, eps=float(eps), steps=None if steps is None else int(steps),
                          step_size=None if step_size is None else float(step_size), random_start=random_start,
                          autocast=autocast or contextlib.nullcontext, **options)
    if getattr(attack, "budget", None) is None:
        attack.budget = float(eps)
    return attack
