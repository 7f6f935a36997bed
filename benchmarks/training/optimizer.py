"""The run's optimizer and learning-rate schedule: timm's ``create_optimizer_v2`` / ``create_scheduler_v2`` (torch's
cyclic schedules for ``cyclic`` / ``onecycle``, :mod:`.cycles`) from the ``training.*`` keys, and the schedule's
state in checkpoints."""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Optional, Tuple

import torch.nn as nn

from .._compat import import_timm
from .cycles import CYCLES, build_cycle

import_timm()  # timm only through the suite's workaround (benchmarks._compat)
from timm.optim import create_optimizer_v2  # noqa: E402
from timm.scheduler import create_scheduler_v2  # noqa: E402

__all__ = ["build_optimizer", "scheduler_state", "load_scheduler_state", "try_schedule"]


def build_optimizer(training, model: nn.Module, lr: float, updates_per_epoch: int) -> Tuple[Any, Any, bool]:
    """``(optimizer, scheduler or None, whether the scheduler steps per epoch)`` for the ``training`` section.

    ``lr`` is the run's scaled learning rate; ``updates_per_epoch`` the optimizer steps of one epoch (replays
    included). ``step`` decays by 10x every third of training, ``multistep`` at 50 % and 75 % (Madry / Rice);
    ``plateau`` steps once per epoch on the per-epoch check's robust accuracy; ``cyclic`` and ``onecycle`` (torch's,
    :mod:`.cycles`) once per update.
    """
    t = training
    optimizer = create_optimizer_v2(model, opt=t.optimizer, lr=lr, weight_decay=t.weight_decay, momentum=t.momentum)
    if t.scheduler == "none":
        return optimizer, None, False
    if t.scheduler in CYCLES:
        return optimizer, build_cycle(t.scheduler, optimizer, lr, t.epochs * updates_per_epoch, t.cycle_peak), False
    per_epoch = t.scheduler == "plateau"
    kwargs = dict(sched=t.scheduler, num_epochs=t.epochs, warmup_epochs=t.warmup_epochs, min_lr=0.0,
                  step_on_epochs=per_epoch, updates_per_epoch=updates_per_epoch,
                  decay_epochs=max(1, t.epochs // 3),
                  decay_milestones=sorted({max(1, t.epochs // 2), max(1, (3 * t.epochs) // 4)}))
    if per_epoch:
        kwargs["plateau_mode"] = "max"
    with warnings.catch_warnings():
        # timm warns that PlateauLRScheduler's metric state is not checkpointed; scheduler_state saves it.
        warnings.simplefilter("ignore", FutureWarning)
        scheduler, _ = create_scheduler_v2(optimizer, **kwargs)
    return optimizer, scheduler, per_epoch


def scheduler_state(scheduler) -> Optional[Dict[str, Any]]:
    """The schedule's state for a checkpoint (plateau: torch's ReduceLROnPlateau inside holds the metric's)."""
    if scheduler is None:
        return None
    state = {"timm": scheduler.state_dict()}
    inner = getattr(scheduler, "lr_scheduler", None)
    if inner is not None:
        state["plateau"] = inner.state_dict()
    return state


def load_scheduler_state(scheduler, state: Dict[str, Any]) -> None:
    scheduler.load_state_dict(state["timm"])
    if "plateau" in state:
        scheduler.lr_scheduler.load_state_dict(state["plateau"])


def try_schedule(training, lr: float, updates_per_epoch: int, state: Dict[str, Any], epoch: int,
                 global_step: int) -> None:
    """Load a checkpoint's schedule ``state`` into a scratch copy of the run's schedule (over a one-weight model)
    and step it where the run goes on: raises what timm or torch raise for a state they cannot use (a mode
    that is none, a length of 0), or ValueError for a learning rate that is not a finite number >= 0."""
    scratch = nn.Linear(1, 1, device="meta")  # no memory, and the global RNG is not drawn from
    optimizer, scheduler, per_epoch = build_optimizer(training, scratch, lr, updates_per_epoch)
    load_scheduler_state(scheduler, state)
    if per_epoch:
        scheduler.step(epoch + 1, metric=0.0)
    else:
        scheduler.step_update(num_updates=global_step + 1)
    rates = [group["lr"] for group in optimizer.param_groups]
    if not all(isinstance(r, (int, float)) and math.isfinite(r) and r >= 0 for r in rates):
        raise ValueError(f"it gives the learning rates {rates}")
