"""Weight averaging of a run: EMA (timm's ``ModelEmaV3``, ``training.ema_decay``) or SWA (``training.swa_start``).

SWA, stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better
Generalization", https://arxiv.org/abs/1803.05407): from epoch ``training.swa_start`` (1-based) on, the weights at
the end of each epoch enter an equal-weight running mean (torch's ``AveragedModel``), and the averaged network's
BatchNorm statistics are recomputed by one forward pass over that epoch's training batches (torch's
``update_bn``: a cumulative mean over batches, as the paper's ``bn_update``); ``training.swa_lr`` (scaled to the
global batch as ``training.lr`` is) then holds the learning rate constant, the paper's SWA phase (null: the
run's schedule goes on). The averaged network is what the per-epoch check, the ``best`` / ``last`` checkpoints
and the final evaluation use, in the checkpoint's ``ema`` entry (the evaluated weights); before the first
average it is the model itself. The BatchNorm pass is training cost (a forward per training image per
averaged epoch) and is timed with the epoch's training. ``swa`` in a checkpoint holds the count of averaged
epochs, so a resumed run averages each epoch exactly once.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, update_bn

from .._compat import import_timm
from .distributed import broadcast_buffers

import_timm()  # timm only through the suite's workaround (benchmarks._compat)
from timm.utils import ModelEmaV3  # noqa: E402

__all__ = ["build_average", "SwaAverage"]


def build_average(trainer):
    """The run's weight average: a ``ModelEmaV3``, a :class:`SwaAverage`, or None."""
    t = trainer.cfg.training
    if t.ema_decay:
        return ModelEmaV3(trainer.model, decay=t.ema_decay)
    if t.swa_start is not None:
        return SwaAverage(trainer, t.swa_start,
                          None if t.swa_lr is None else t.swa_lr * trainer.global_batch_size / t.lr_base_batch_size)
    return None


class SwaAverage:
    """Equal-weight average of the end-of-epoch weights from epoch ``start`` (1-based) on.

    Attributes:
        module: the evaluated network: the averaged one once an epoch was averaged, else the model itself.
    """

    def __init__(self, trainer, start: int, lr: Optional[float]):
        self.trainer, self.model, self.start, self.lr = trainer, trainer.model, int(start), lr
        self.averaged = AveragedModel(trainer.model)
        self.epochs = 0  # epochs averaged so far (the last one is start - 1 + epochs)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module if self.epochs else self.model

    def update(self, model: nn.Module, step: int) -> None:
        """After each optimizer step and the schedule's: in the SWA phase with ``swa_lr``, the constant SWA rate
        (SWA averages once per epoch, in :meth:`epoch_end`)."""
        if self.lr is not None and self.active(self.trainer.epoch):
            for group in self.trainer.optimizer.param_groups:
                group["lr"] = self.lr

    def active(self, epoch: int) -> bool:
        """Whether the 0-based ``epoch`` is in the SWA phase."""
        return epoch + 1 >= self.start

    def epoch_end(self, t0: float) -> float:
        """Average the weights of the 0-based epoch ``trainer.epoch`` (once) and recompute BatchNorm statistics;
        returns ``t0`` (the caller times the work from it)."""
        trainer = self.trainer
        epoch = trainer.epoch
        if not self.active(epoch) or self.start - 1 + self.epochs > epoch:
            return t0
        self.averaged.update_parameters(self.model)
        self.epochs += 1
        batches = (x for _, x, _ in trainer.batches.epoch(epoch, 0, trainer.device))
        update_bn(batches, self.averaged.module, device=trainer.device)
        broadcast_buffers(self.averaged.module, trainer.dist)
        return t0

    def state_dict(self) -> Dict[str, Any]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state: Optional[Dict[str, Any]]) -> None:
        self.epochs = int((state or {}).get("epochs", 0))
        self.averaged.n_averaged.fill_(self.epochs)
