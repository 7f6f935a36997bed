"""Adversarial weight perturbation (AWP), Wu, Xia & Wang 2020, "Adversarial Weight Perturbation Helps Robust
Generalization" (NeurIPS 2020, https://arxiv.org/abs/2004.05884): the option ``training.awp_gamma`` of the
``at``, ``trades`` and ``mart`` methods.

Before each optimizer step (once ``training.awp_warmup`` epochs have passed) the weights w of every conv and
linear layer move to w + gamma * ||w|| * g / ||g||, g the gradient of the method's own loss on the batch's
adversarial examples (one extra train-mode forward and backward; the paper takes it on a proxy copy with one
SGD step, whose per-layer normalisation makes its learning rate irrelevant). The training loss is then taken
at the perturbed weights, the optimizer steps, and the same perturbation is subtracted again. The extra pass
leaves BatchNorm's running statistics alone (the proxy's never reached the model either). Paper settings:
gamma 0.01 without warm-up for AT, gamma 0.005 after 10 warm-up epochs for TRADES.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import torch
import torch.distributed as tdist
import torch.nn as nn

EPS = 1e-20


class WeightPerturbation:
    def __init__(self, trainer, gamma: float):
        self.trainer = trainer
        self.gamma = float(gamma)

    def _targets(self, model: nn.Module) -> List[Tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.dim() > 1 and "weight" in n]

    def perturb(self, loss_fn: Callable[[nn.Module], torch.Tensor]) -> Callable[[], None]:
        """Perturb the weights in place; return the function that removes the perturbation again."""
        trainer = self.trainer
        model = trainer.model  # unwrapped: the gradient is all-reduced by hand below
        targets = self._targets(model)
        buffers: Dict[str, torch.Tensor] = {k: v.clone() for k, v in model.named_buffers()}
        loss = loss_fn(model)
        scale = trainer.scaler.get_scale() if trainer.scaler is not None else 1.0
        grads = torch.autograd.grad(loss * scale, [p for _, p in targets], allow_unused=True)
        with torch.no_grad():
            for name, value in model.named_buffers():
                value.copy_(buffers[name])
            grads = [torch.zeros_like(p) if g is None else g for (_, p), g in zip(targets, grads)]
            if trainer.dist.distributed:
                flat = torch.cat([g.flatten() for g in grads])
                tdist.all_reduce(flat)
                grads = [chunk.view_as(g) for chunk, g in zip(flat.split([g.numel() for g in grads]), grads)]
            deltas = []
            for (_, p), g in zip(targets, grads):
                if not torch.isfinite(g).all():
                    deltas.append(None)
                    continue
                v = self.gamma * p.norm() / (g.norm() + EPS) * g
                p.add_(v)
                deltas.append(v)

        def restore() -> None:
            with torch.no_grad():
                for (_, p), v in zip(targets, deltas):
                    if v is not None:
                        p.sub_(v)

        return restore
