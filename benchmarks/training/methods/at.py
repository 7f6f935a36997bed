"""``at``: PGD adversarial training, Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial
Attacks" (https://arxiv.org/abs/1706.06083).

min_theta E[max_{||delta|| <= eps} CE(f(x + delta), y)]: the inner maximisation is ``attack.steps`` PGD steps
(registered attack ``pgd``, uniform random start, step ``attack.step_size``, default 1.5 eps / steps); the outer
step is cross-entropy on the adversarial batch. The paper's CIFAR-10 setting is eps 8/255, 7 steps of 2/255;
PGD-10 at 2/255 (Rice et al. 2020) is the common modern default and this suite's ``attack.steps`` default.
``training.awp_gamma`` adds adversarial weight perturbation (Wu et al. 2020; their AT setting: gamma 0.01,
no warm-up).
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import Method


def at_loss(adv_logits, y):
    """Cross-entropy on the adversarial logits (float32)."""
    return F.cross_entropy(adv_logits, y)


class AdversarialTraining(Method):

    def loss(self, model, x, y, x_adv):
        logits = self.forward(model, x_adv)
        return at_loss(logits, y), logits.detach()
