"""``n_fgsm``: N-FGSM adversarial training, de Jorge et al. 2022, "Make Some Noise: Reliable and Efficient
Single-Step Adversarial Training" (https://arxiv.org/abs/2206.00614).

Each batch: eta ~ U(-k eps, k eps) (k = ``training.nfgsm_noise``, default 2; x + eta clipped to the image range),
one signed-gradient step of alpha = ``training.nfgsm_alpha`` x eps (default 1: alpha = eps) on the cross-entropy,
and, unlike FGSM-RS, no projection back onto the eps-ball: the training perturbation x_adv - x can reach
(k + alpha/eps) eps in Linf (3 eps at the defaults), bounded only by the image range. ``training.nfgsm_clip``
(a multiple of eps) restores a projection, the authors' ``--clip`` option. Then cross-entropy on x_adv. The
registered attack ``n_fgsm`` crafts it; both forwards run in train mode, as in the authors' code. The paper
pairs it with a cyclic learning rate up to 0.2 over 30 epochs (CIFAR-10): the run's shared ``training.*`` keys
(``scheduler: cyclic``, ``epochs``).

Checked against the authors' code, pdejorge/N-FGSM (commit 0a9e4f0), ``train.py``: ``--unif`` defaults to 2.0
(line 51, "k -> U(-k*eps, k*eps)"), ``--alpha`` to 8 (/255, line 50) with ``--epsilon`` 8, so alpha = eps, and
``--clip`` to -1, "no clipping" (lines 57-60); the noise is drawn per channel and clamped so that X + eta stays in
the image range (lines 217-221); delta = eta + alpha sign(grad) is clamped to the image range only, and to
[-clip, clip] only when clip > 0 (lines 229-233); the model stays in train mode (``model.train()``, line 173);
``--epochs`` 30, ``--lr-max`` 0.2, a cyclic schedule (lines 36-39, 177-184).
"""
from __future__ import annotations

from .at import at_loss
from .base import Method


class NFgsm(Method):
    attack_mode = "train"

    def attack_kwargs(self):
        a, t = self.cfg.attack, self.cfg.training
        return dict(norm=a.norm, eps=a.eps, steps=1, step_size=t.nfgsm_alpha * a.eps, random_start=True,
                    noise=t.nfgsm_noise, clip=t.nfgsm_clip)

    def craft(self, x, y, generator):
        self.trainer.model.train()  # the attack's forward uses the batch statistics, as the authors' code
        return self.attack(x, y, generator=generator)

    def loss(self, model, x, y, x_adv):
        logits = self.forward(model, x_adv)
        return at_loss(logits, y), logits.detach()
