"""The universal adversarial perturbation (UAP; Moosavi-Dezfooli et al., CVPR 2017): the misclassification baseline of
DeepSloth's Table 1 (Hong et al., ICLR 2021), ``uap``, a slowdown-role attack.

One perturbation v for every input, crafted for misclassification at the final exit (the multi-exit paper's code
runs DeepFool on ``model(x)[-1]``): passes over the crafting samples; for each sample the final exit still
classifies as it did clean, a DeepFool step (the smallest L2 move to the nearest class boundary of the linearised
final exit, ``settings.uap_deepfool_steps`` iterations at most, overshoot ``settings.uap_overshoot``) from
x + v is added to v (dropped when DeepFool did not converge, as the paper's code) and v is projected back onto
the budget's ball (Linf as the paper; L2 and L1 too). Passes stop once the fooling rate on the crafting samples
(prediction changed by v) reaches ``settings.uap_fool_rate``, or after ``settings.uap_passes``. The paper crafts
on 100 fixed test samples; here on ``settings.uap_n`` samples of the attacker's ``crafting_set`` (training data),
never on the inputs it is evaluated on. Inputs are evaluated at (x + v) clipped to [0, 1]. Like every
slowdown attack it expects the model in eval mode (the slowdown evaluation's).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from .deepsloth import crafting_sample
from .perturbation import exit_outputs, project_delta

__all__ = ["uap", "universal_misclassification", "deepfool_step"]


def _final(model, x: torch.Tensor) -> torch.Tensor:
    return exit_outputs(model, x)[-1].float()


def deepfool_step(model, x: torch.Tensor, steps: int, overshoot: float) -> Tuple[torch.Tensor, int, bool]:
    """DeepFool on one sample ``x`` (shape ``(1, ...)``) at the final exit: ``(r, iterations, fooled)``.

    Each iteration linearises the final exit around the current point and moves, in L2, onto the nearest class
    boundary; the class gradients come from one backward pass on C copies of the input.
    """
    with torch.no_grad():
        logits = _final(model, x.clamp(0, 1))[0]
    num_classes = logits.shape[-1]
    label = int(logits.argmax())
    others = [k for k in range(num_classes) if k != label]
    r_tot = torch.zeros_like(x)
    eye = torch.eye(num_classes, device=x.device)
    for it in range(steps):
        point = (x + (1 + overshoot) * r_tot).clamp(0, 1)
        copies = point.detach().repeat(num_classes, *([1] * (x.dim() - 1))).requires_grad_(True)
        out = _final(model, copies)
        grads, = torch.autograd.grad((out * eye).sum(), [copies])          # row k: d f_k / dx
        f = out.detach()[0]
        if int(f.argmax()) != label:
            return (1 + overshoot) * r_tot, it, True
        w = grads[others] - grads[label:label + 1]
        gap = (f[others] - f[label]).abs()
        norms = w.flatten(1).norm(dim=1).clamp_min(1e-12)
        best = int((gap / norms).argmin())
        r_tot = r_tot + ((gap[best] + 1e-4) / norms[best] ** 2) * w[best:best + 1]
    with torch.no_grad():
        fooled = int(_final(model, (x + (1 + overshoot) * r_tot).clamp(0, 1)).argmax()) != label
    return (1 + overshoot) * r_tot, steps, fooled


@torch.no_grad()
def _fool_rate(model, xs: torch.Tensor, clean_pred: torch.Tensor, v: torch.Tensor, batch_size: int) -> float:
    changed = 0
    for i in range(0, xs.shape[0], batch_size):
        pred = _final(model, (xs[i:i + batch_size] + v).clamp(0, 1)).argmax(-1)
        changed += int((pred != clean_pred[i:i + batch_size]).sum())
    return changed / max(1, xs.shape[0])


def universal_misclassification(model, xs: torch.Tensor, settings, norm: str, eps: float,
                                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The UAP (shape of one sample) crafted on ``xs`` (module docstring); the model in eval mode."""
    bs = settings.batch_size
    with torch.no_grad():
        clean = torch.cat([_final(model, xs[i:i + bs]).argmax(-1) for i in range(0, xs.shape[0], bs)])
    v = torch.zeros_like(xs[:1])
    order_gen = torch.Generator().manual_seed(
        int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)) if generator is not None
        else 0)
    for _ in range(settings.uap_passes):
        for j in torch.randperm(xs.shape[0], generator=order_gen).tolist():
            x = xs[j:j + 1]
            with torch.no_grad():
                same = int(_final(model, (x + v).clamp(0, 1)).argmax()) == int(clean[j])
            if not same:
                continue
            r, iters, fooled = deepfool_step(model, x + v, settings.uap_deepfool_steps, settings.uap_overshoot)
            if fooled and iters < settings.uap_deepfool_steps:
                v = project_delta(None, v + r, norm, eps)
        if _fool_rate(model, xs, clean, v, bs) >= settings.uap_fool_rate:
            break
    return v.detach()


def uap(model, *, norm: str, eps: float, steps=None, step_size=None, random_start: bool = True, autocast=None,
        settings, crafting_set: Tuple[torch.Tensor, torch.Tensor]):
    """One misclassification perturbation for every input, crafted on the ``crafting_set`` (module docstring)."""

    def attack(x: torch.Tensor, y: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        xs = crafting_sample(crafting_set, settings.uap_n, generator).to(x.device)
        v = universal_misclassification(model, xs, settings, norm, eps, generator)
        return (x + v).clamp(0, 1)

    return attack
