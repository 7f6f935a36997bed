"""``fgsm_rs``: FGSM adversarial training from a random start, Wong, Rice & Kolter 2020, "Fast is better than
free: Revisiting adversarial training" (https://arxiv.org/abs/2001.03994).

Each batch: delta ~ U(-eps, eps) (x + delta clipped to the image range), one signed-gradient step of alpha =
1.25 eps (``training.fgsm_alpha``, the paper's 10/255 at eps 8/255) on the cross-entropy, projected back onto the
eps-ball and the image range; then cross-entropy on x + delta. The registered attack ``fgsm_rs`` crafts it,
whatever ``attack.steps`` says: one attack forward and one training forward per sample. As in the paper's code
the attack's forward runs in train mode (BatchNorm uses, and updates, the batch statistics), not in eval mode as
the PGD-based methods' attacks do. The paper pairs it with a cyclic learning rate, mixed precision and 15 epochs
(CIFAR-10); those are the run's shared ``training.*`` settings (``scheduler: cyclic``, ``cycle_peak``,
``precision``, ``epochs``), which ``recipes/fast-cifar10.yaml`` sets as the paper does (lr up to 0.2 at 2/5 of
training, fp16, 15 epochs, batch 128).

Checked against the authors' code, locuslab/fast_adversarial (commit 54f7287), ``CIFAR10/train_fgsm.py``: alpha
defaults to 10 (/255) with epsilon 8 (/255); ``--delta-init random`` draws delta uniformly in [-eps, eps] per
channel and clamps x + delta into the image range before the step; after the signed step delta is clamped to
[-eps, eps] and x + delta again into the image range; the model is in train mode for both forwards; 15 epochs,
cyclic learning rate up to 0.2, batch 128. The attack forward used to run in eval mode here; it now runs in
train mode like the reference.
"""
from __future__ import annotations

from .at import at_loss
from .base import Method


class FgsmRandomStart(Method):
    attack_mode = "train"

    def attack_kwargs(self):
        a = self.cfg.attack
        return dict(norm=a.norm, eps=a.eps, steps=1, step_size=self.cfg.training.fgsm_alpha * a.eps,
                    random_start=True)

    def craft(self, x, y, generator):
        self.trainer.model.train()  # the attack's forward uses the batch statistics, as the paper's code
        return self.attack(x, y, generator=generator)

    def loss(self, model, x, y, x_adv):
        logits = self.forward(model, x_adv)
        return at_loss(logits, y), logits.detach()
