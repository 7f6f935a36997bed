"""The per-update cyclic schedules of the fast-training recipes, behind timm's scheduler face.

* ``cyclic``: the triangular schedule of FGSM-RS (Wong, Rice & Kolter 2020, https://arxiv.org/abs/2001.03994) and
  N-FGSM (de Jorge et al. 2022): the learning rate rises linearly from 0 to the run's rate over the first
  ``training.cycle_peak`` of all optimizer updates and falls linearly back to 0 at the last one; torch's
  ``CyclicLR`` (one cycle, ``triangular``, momentum not cycled), as in both papers' code
  (locuslab/fast_adversarial ``CIFAR10/train_fgsm.py`` lines 85-88 and pdejorge/N-FGSM ``train.py`` lines 177-184
  build exactly this ``CyclicLR``, with the peak at 1/2 of training on CIFAR-10; Wong et al.'s paper and MNIST code
  (``MNIST/train_mnist.py`` line 54) put it at 2/5, this key's default).
* ``onecycle``: Smith & Topin's one-cycle policy of the DAWNBench entries (https://arxiv.org/abs/1708.07120),
  torch's ``OneCycleLR`` with its defaults (cosine annealing from rate/25 up to the rate at ``cycle_peak`` of all
  updates, then down to rate/25/10^4; momentum not cycled: ``training.momentum`` stays the optimizer's).

Both step once per optimizer update (replays included) and ignore ``training.warmup_epochs`` (their rise is the
warm-up). A schedule's state is torch's plain ``state_dict``; :meth:`CycleSchedule.step_update` sets the step
directly (both schedules are closed forms of the step), so a checkpoint's counter never makes it loop.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional

import torch

__all__ = ["CYCLES", "CycleSchedule", "build_cycle"]

#: the ``training.scheduler`` values built here
CYCLES = ("cyclic", "onecycle")


class CycleSchedule:
    """A torch per-iteration schedule with timm's ``step_update`` / ``step`` / ``state_dict`` face.

    Args:
        inner: the torch scheduler (``CyclicLR`` or ``OneCycleLR``).
        total: optimizer updates of the whole run; the schedule holds its last rate past them.
    """

    def __init__(self, inner, total: int):
        self.inner, self.total = inner, int(total)

    def step_update(self, num_updates: int, metric: Optional[float] = None) -> None:
        """Set the rate of update ``num_updates`` (the count done so far)."""
        target = max(0, min(int(num_updates), self.total))
        self.inner.last_epoch = target - 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "step() before optimizer.step()": a resume or a trial
            self.inner.step()

    def step(self, epoch: int, metric: Optional[float] = None) -> None:
        """Per-epoch stepping: nothing (the schedule moves per update)."""

    def state_dict(self) -> Dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


def build_cycle(name: str, optimizer, lr: float, total: int, peak: float) -> CycleSchedule:
    """The ``cyclic`` or ``onecycle`` schedule (see the module docstring) over ``total`` updates peaking at the
    fraction ``peak`` of them at ``lr``."""
    total = max(1, int(total))
    if name == "cyclic":
        up = max(1.0, peak * total)
        inner = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=0.0, max_lr=lr, step_size_up=up,
                                                  step_size_down=max(1.0, total - up), cycle_momentum=False)
    elif name == "onecycle":
        inner = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(2, total),
                                                    pct_start=peak, cycle_momentum=False)
    else:
        raise ValueError(f"unknown cycle {name!r}; valid: {', '.join(CYCLES)}")
    return CycleSchedule(inner, total)
