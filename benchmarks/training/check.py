"""The per-epoch check that chooses the ``best`` checkpoint (Rice et al. 2020, early stopping on robust accuracy).

After every epoch the evaluated weights (the EMA when the run keeps one) are attacked on the check set: the first
``training.select_subset`` test images, or the held-out training images with ``training.select_on: validation``.
The attack is ``training.select_attack`` (an attacks plug-in with the ``check`` role; default ``pgd``) with
``training.select_pgd_steps`` steps, the run's ``attack.norm``, ``attack.eps`` and ``attack.random_start`` and the
check's step size (``training.select_pgd_step_size``). Under DDP each rank checks its share; the counts are summed.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..attacks import create_attack
from ..datasets import as_eval_set, seed_of
from ..models.outputs import final_logits
from .distributed import all_reduce_sum

__all__ = ["evaluate_subset", "check_accuracy"]


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, autocast) -> torch.Tensor:
    with autocast():
        return final_logits(model(x)).argmax(1)


def evaluate_subset(model: nn.Module, data, labels: Optional[torch.Tensor], attack, batch_size: int,
                    autocast, device: torch.device, generator: Optional[torch.Generator] = None
                    ) -> Tuple[int, int, int]:
    """Clean and robust correct counts of ``model`` (in eval mode) on a set: ``(clean, robust, n)``.

    ``data``: an :class:`benchmarks.datasets.EvalSet` (read in batches of ``batch_size``; ``labels`` None) or
    images with their ``labels``.
    """
    data = as_eval_set(data, labels)
    was_training = model.training
    model.eval()
    clean = robust = 0
    try:
        for x, y in data.batches(batch_size):
            x, y = x.to(device), y.to(device)
            clean += int((_predict(model, x, autocast) == y).sum())
            x_adv = attack(x, y, generator=generator)
            robust += int((_predict(model, x_adv, autocast) == y).sum())
    finally:
        model.train(was_training)
    return clean, robust, data.n


def check_accuracy(trainer) -> Tuple[float, float]:
    """Clean and robust accuracy (%) of ``trainer.eval_model`` on its check set, summed over ranks."""
    cfg, t = trainer.cfg, trainer.cfg.training
    model = trainer.eval_model
    # attack.random_start is the method's key: only a method that reads it (and so keeps it in its runs' ids) may
    # turn the check's random start off; for the others a different value must not pick another best epoch.
    random_start = cfg.attack.random_start if "attack.random_start" in trainer.method.entry.all_reads() else True
    attack = create_attack(t.select_attack, model, norm=cfg.attack.norm, eps=cfg.attack.eps,
                           steps=t.select_pgd_steps, step_size=cfg.select_step_size,
                           random_start=random_start, autocast=trainer.autocast)
    generator = torch.Generator(device=trainer.device)
    generator.manual_seed(seed_of(cfg.seed, 5, trainer.epoch, trainer.dist.rank))
    clean, robust, n = evaluate_subset(model, trainer.check_set, None, attack, t.select_batch_size,
                                       trainer.autocast, trainer.device, generator)
    counts = all_reduce_sum(torch.tensor([clean, robust, n], dtype=torch.float64, device=trainer.device),
                            trainer.dist).cpu()
    return 100.0 * float(counts[0]) / float(counts[2]), 100.0 * float(counts[1]) / float(counts[2])
