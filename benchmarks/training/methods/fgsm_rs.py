"""``fgsm_rs``: FGSM adversarial training from a random start, Wong, Rice & Kolter 2020, "Fast is better than
free: Revisiting adversarial training" (https://arxiv.org/abs/2001.03994).

Each batch: delta ~ U(-eps, eps), one signed-gradient step of alpha = 1.25 eps (``training.fgsm_alpha``, the
paper's 10/255 at eps 8/255), projected back onto the eps-ball and the image range; then cross-entropy on
x + delta. That is the registered ``pgd`` attack with one step of alpha from a uniform random start, whatever
``attack.steps`` says: one attack forward and one training forward per sample. The paper pairs it with a
cyclic learning rate, mixed precision and 15 epochs (CIFAR-10); those are the run's shared ``training.*``
settings (``scheduler``, ``precision``, ``epochs``).
"""
from __future__ import annotations

from .at import at_loss
from .base import Method, register_method


@register_method("fgsm_rs")
class FgsmRandomStart(Method):
    train_attack = "pgd"
    params = ("fgsm_alpha",)
    attack_keys = ()  # one step of fgsm_alpha * eps from a uniform start, whatever attack.* says
    supports_awp = False

    def attack_kwargs(self):
        a = self.cfg.attack
        return dict(norm=a.norm, eps=a.eps, steps=1, step_size=self.cfg.training.fgsm_alpha * a.eps,
                    random_start=True)

    def loss(self, model, x, y, x_adv):
        logits = self.forward(model, x_adv)
        return at_loss(logits, y), logits.detach()
