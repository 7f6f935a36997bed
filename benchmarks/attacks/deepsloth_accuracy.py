"""The accuracy-aware variants of DeepSloth (Hong et al., ICLR 2021, section 4.3): slow the network down while
keeping its accuracy (``deepsloth_keep_accuracy``) or while destroying it (``deepsloth_hurt_accuracy``).

The paper pushes the exits towards a *slightly non-uniform* target instead of the uniform one: a distribution
that favours the true label (keep) or a wrong label (hurt), crafted with 75 iterations of step 0.001 (Linf); the
released code has no implementation of them, so the target here is, per sample,

    y_bar = (1 - beta) * uniform + beta * one_hot(t),   beta = ``settings.accuracy_aware_bias`` (default 0.1),

with t the true label (keep) or the final exit's most likely wrong class on the clean input (hurt), and the loss
sum_i CE(y_bar, softmax(F_i(x + v))) over *every* exit, the final one included: the ICs still end up far below any
exit threshold (max y_bar = beta + (1 - beta) / C, 0.19 for 10 classes), and the final exit, which decides the
class of the samples no IC lets out, is led to t. Linf uses ``settings.accuracy_aware_steps`` iterations of
``settings.accuracy_aware_step_size`` (the paper's 75 and 0.001); L2 and L1 the per-sample DeepSloth schedules.
Selected by name like every slowdown attack (``evaluation.slowdown.attacks``); labels are required.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .deepsloth import deepsloth_per_sample, final_l2_radius
from .perturbation import exit_outputs

__all__ = ["biased_target", "biased_sloth_loss", "deepsloth_keep_accuracy", "deepsloth_hurt_accuracy"]


def biased_target(target: torch.Tensor, num_classes: int, bias: float) -> torch.Tensor:
    """``(N, C)``: (1 - bias) x uniform + bias x one-hot(target)."""
    out = torch.full((target.shape[0], num_classes), (1.0 - bias) / num_classes, device=target.device)
    out[torch.arange(target.shape[0], device=target.device), target] += bias
    return out


def biased_sloth_loss(target: torch.Tensor, bias: float):
    """Per-sample sum over every exit of CE(y_bar, softmax(logits)), y_bar = :func:`biased_target`."""

    def loss(outputs):
        y_bar = biased_target(target, outputs[0].shape[-1], bias)
        return torch.stack([-(y_bar * F.log_softmax(o.float(), dim=-1)).sum(-1) for o in outputs]).sum(0)

    return loss


@torch.no_grad()
def _wrong_label(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The final exit's most likely class other than ``y`` on the clean input."""
    logits = exit_outputs(model, x)[-1].float().clone()
    logits[torch.arange(y.shape[0], device=y.device), y] = -float("inf")
    return logits.argmax(-1)


def _variant(keep: bool):
    def build(model, *, norm: str, eps: float, steps=None, step_size=None, random_start: bool = True,
              autocast=None, settings, crafting_set=None):
        def attack(x: torch.Tensor, y: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
            if y is None:
                raise ValueError("the accuracy-aware DeepSloth variants need the labels")
            bs = settings.batch_size
            out = []
            for i in range(0, x.shape[0], bs):
                xb, yb = x[i:i + bs], y[i:i + bs]
                target = yb if keep else _wrong_label(model, xb, yb)
                loss = biased_sloth_loss(target, settings.accuracy_aware_bias)
                out.append(deepsloth_per_sample(model, xb, settings, norm, eps, generator, loss=loss,
                                                linf_steps=settings.accuracy_aware_steps,
                                                linf_step_size=settings.accuracy_aware_step_size))
            return torch.cat(out)

        if norm == "l2":
            attack.budget = final_l2_radius(settings, eps)
        return attack

    build.__doc__ = ("DeepSloth towards a target biased to the " + ("true label (keeps accuracy)" if keep else
                     "most likely wrong label (destroys accuracy)") + "; see the module docstring.")
    return build


deepsloth_keep_accuracy = _variant(keep=True)
deepsloth_hurt_accuracy = _variant(keep=False)
