"""``mart``: misclassification-aware adversarial training, Wang et al. 2020, "Improving Adversarial Robustness
Requires Revisiting Misclassified Examples" (ICLR 2020, https://openreview.net/forum?id=rklOg6EFwS).

Loss = BCE(f(x'), y) + beta * KL(f(x) || f(x')) * (1 - p_y(x)), where the boosted cross-entropy BCE is
CE(f(x'), y) - log(1 - max_{k != y} p_k(x')) and the KL is weighted per sample by one minus the clean
probability of the true class. x' comes from ``attack.steps`` PGD steps on the cross-entropy from
x + 0.001 N(0, I) (registered attack ``pgd_normal_start``). Defaults of the paper's code (CIFAR-10): beta = 6
(``training.mart_beta``), eps 0.031, 10 steps of 0.007, as checked in the authors' YisenWang/MART
``train_wideresnet.py`` (epsilon 0.031, num-steps 10, step-size 0.007, beta 6.0). As for TRADES, the step is
``attack.step_size`` (null: the suite's shared 1.5 eps / steps) and ``recipes/methods-cifar10.yaml`` sets the
paper's 0.007. Clean and adversarial halves go through one forward of the concatenated batch, as for TRADES.
``training.awp_gamma`` adds adversarial weight perturbation (Wu et al. 2020 report MART-AWP).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Method


def mart_loss(natural, adv_logits, y, beta: float):
    """MART's objective on float32 logits (batch mean)."""
    adv_probs = F.softmax(adv_logits, dim=1)
    top2 = adv_probs.argsort(dim=1)[:, -2:]
    wrong = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])  # most likely wrong class
    boosted = F.cross_entropy(adv_logits, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), wrong)
    nat_probs = F.softmax(natural, dim=1)
    true_probs = nat_probs.gather(1, y.unsqueeze(1)).squeeze(1)
    kl = F.kl_div(torch.log(adv_probs + 1e-12), nat_probs, reduction="none").sum(dim=1)
    return boosted + beta * (kl * (1.0000001 - true_probs)).mean()


class Mart(Method):

    def train_passes(self) -> int:
        return 2

    def loss(self, model, x, y, x_adv):
        natural, adv = self.forward(model, torch.cat([x, x_adv])).chunk(2)
        return mart_loss(natural, adv, y, self.cfg.training.mart_beta), adv.detach()
