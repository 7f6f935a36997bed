"""``free``: free adversarial training, Shafahi et al. 2019, "Adversarial training for free!"
(https://arxiv.org/abs/1904.12843).

Every minibatch is replayed m = ``attack.steps`` times in a row. Each replay is one forward and one backward of
the cross-entropy on x + delta (train mode) that yields both the parameter gradient (one optimizer step per
replay) and the input gradient, from which the perturbation is updated: delta <- clip_eps(delta + eps_step *
sign(grad_x)), eps_step = ``attack.step_size`` or, by default, eps (the paper's "FGSM step = eps"). delta starts
at zero and is carried across replays and across minibatches (a smaller batch uses its first rows); it is part
of the checkpoint, so a resumed run continues exactly.

Epochs: ``training.epochs`` counts passes over the data, each with m replays, so a run takes epochs x m
optimizer steps per batch. The paper trains E/m epochs to match the gradient computations of E natural epochs
(CIFAR-10: m = 8); the methods recipe sets ``training.epochs`` accordingly. The learning-rate schedule runs
over all epochs x steps x m updates. Forward passes per sample: m (no separate attack).

Checked against the authors' code, ashafahi/free_adv_train (TensorFlow): ``free_train.py`` keeps one
perturbation variable of batch shape, zero-initialised once and never reset (carried across replays and
minibatches), fetches a new minibatch every ``replay_m`` steps, updates the perturbation by epsilon x the sign of
its gradient and clips it to [-epsilon, epsilon], and takes the parameter step from the same backward;
``free_model.py`` clips x + perturbation to the image range and runs BatchNorm in train mode; ``config.py``
defaults replay_m 8, epsilon 8 (of 255), batch 128, 80,000 steps counting replays. Wong et al.'s PyTorch
reimplementation (locuslab/fast_adversarial ``CIFAR10/train_free.py``, minibatch-replays 8) does the same and also
clamps x + delta into the image range after each update, as here.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from ...attacks import project
from .base import Method


class Free(Method):

    def __init__(self, trainer):
        super().__init__(trainer)
        self.delta: Optional[torch.Tensor] = None

    def updates_per_batch(self) -> int:
        return int(self.cfg.attack.steps)

    def _delta(self, x: torch.Tensor) -> torch.Tensor:
        if self.delta is None or self.delta.shape[1:] != x.shape[1:]:
            self.delta = torch.zeros_like(x)
        if self.delta.shape[0] < x.shape[0]:
            pad = torch.zeros((x.shape[0] - self.delta.shape[0], *x.shape[1:]), dtype=x.dtype, device=x.device)
            self.delta = torch.cat([self.delta, pad])
        return self.delta[:x.shape[0]].to(x.device)

    def step(self, x, y, generator):
        trainer, a = self.trainer, self.cfg.attack
        step_size = a.step_size or a.eps
        model = trainer.forward_model
        delta = self._delta(x)
        for _ in range(self.updates_per_batch()):
            trainer.model.train()
            x_adv = (x + delta).clamp(0.0, 1.0).requires_grad_(True)
            trainer.optimizer.zero_grad(set_to_none=True)
            logits = self.forward(model, x_adv)
            loss = F.cross_entropy(logits, y)
            trainer.backward(loss)
            grad = torch.nan_to_num(x_adv.grad.detach())
            delta = project(x, x_adv.detach(), grad, a.norm, a.eps, step_size) - x
            trainer.apply_gradients(loss, logits.detach(), y)
        self.delta[:x.shape[0]] = delta.detach()

    def state_dict(self) -> Dict[str, Any]:
        return {"delta": None if self.delta is None else self.delta.detach().cpu().clone()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        delta = state.get("delta")
        self.delta = None if delta is None else delta.to(self.trainer.device)

    def check_state_dict(self, state: Dict[str, Any], where: str) -> None:
        from ..checkpoint_check import CheckpointMismatch, describe

        delta, info = state.get("delta"), self.trainer.info
        image = (info.in_chans, info.size, info.size)
        if delta is not None and not (isinstance(delta, torch.Tensor) and delta.dtype == torch.float32
                                      and delta.dim() == 4 and delta.shape[0] >= 1 and tuple(delta.shape[1:]) == image):
            raise CheckpointMismatch(f"{where}['delta']", f"is {describe(delta)}, expected None or a float32 tensor "
                                                          f"of shape (N, {', '.join(map(str, image))}), as the images")
