"""Slowdown attacks on multi-exit models: DeepSloth and the baselines it is compared with.

DeepSloth (Hong et al., ICLR 2021): minimise the cross-entropy of every internal classifier's softmax to the
uniform distribution, CE(u, p_i) = -(1/C) sum_c log p_i,c, summed over the ICs (the final exit excluded, as in
the paper's code). Uniform outputs have the lowest confidence and the highest entropy, so no IC fires under
either rule and every sample runs the whole network. Norms:

* ``linf``: signed gradient descent (adapted PGD); start U(-step, step) (the code's), U(-eps, eps) or none;
* ``l2``: normalised gradient steps with cosine-annealed step size and a radius that decays by (1 - gamma)
  every ``decay_every`` iterations (adapted DDN; the final radius is the budget reported);
* ``l1``: sparse steps on the top (100 - sparsity) % of gradient coordinates with an exact projection onto the
  L1 ball intersected with the [0, 1] box (adapted SLIDE; the paper's code rescales instead).

Variants: per-sample; ``universal`` (one perturbation crafted on ``universal_n`` training samples, applied to
every test sample); ``class_universal`` (one per class, crafted on that class's training samples, applied to
that class's test samples). Baselines: PGD on the final exit's CE, on the mean CE of all exits (Hu et al. 2020),
PGD-max (one PGD per exit, keep the candidate with the largest summed CE), each with step 2.5 eps / steps so it
can reach eps; random noise in the eps-ball.

Every attack is registered (:func:`register_slowdown_attack`) and called as
``attack(model, x, y, cfg=SlowdownConfig, norm=, train=(x, y), generator=) -> x_adv``; the model's forward
passes are counted (:class:`ForwardCounter`) for the attacker's crafting FLOPs.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ["SLOWDOWN_NORMS", "ForwardCounter", "register_slowdown_attack", "get_slowdown_attack",
           "list_slowdown_attacks", "sloth_loss", "project", "project_l1_box", "eps_of", "deepsloth_per_sample",
           "deepsloth_universal_delta"]

SLOWDOWN_NORMS = ("linf", "l2", "l1")
_REGISTRY: Dict[str, Callable[..., torch.Tensor]] = {}


def register_slowdown_attack(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


def get_slowdown_attack(name: str) -> Callable[..., torch.Tensor]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown slowdown attack {name!r}; valid: {', '.join(list_slowdown_attacks())}")
    return _REGISTRY[name]


def list_slowdown_attacks() -> List[str]:
    return sorted(_REGISTRY)


class ForwardCounter:
    """Calls the model and counts the samples it forwarded, with and without gradients (for crafting FLOPs)."""

    def __init__(self, model):
        self.model = model
        self.grad_rows = 0
        self.nograd_rows = 0

    def __call__(self, x: torch.Tensor):
        if torch.is_grad_enabled():
            self.grad_rows += int(x.shape[0])
        else:
            self.nograd_rows += int(x.shape[0])
        return self.model(x)

    def flops(self, forward_flops: float, train_factor: int = 3) -> float:
        """Forward FLOPs x rows, x ``train_factor`` (forward + backward = 3 x forward) for rows with gradients."""
        return float(forward_flops) * (train_factor * self.grad_rows + self.nograd_rows)


def _outputs(model, x: torch.Tensor) -> List[torch.Tensor]:
    out = model(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def sloth_loss(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-sample sum over the ICs (every exit but the last) of CE(uniform, softmax(logits)); shape (N,)."""
    ics = outputs[:-1] if len(outputs) > 1 else outputs
    return torch.stack([-F.log_softmax(o.float(), dim=-1).mean(dim=-1) for o in ics]).sum(dim=0)


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _l2(v: torch.Tensor) -> torch.Tensor:
    return _view(v.flatten(1).norm(p=2, dim=1), v)


def project_l1_box(v: torch.Tensor, eps: float, upper: Optional[torch.Tensor] = None, iters: int = 60
                   ) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` onto {d : ||d||_1 <= eps, |d_j| <= upper_j (sign-wise)}.

    The solution is d_j = sign(v_j) * clip(|v_j| - theta, 0, upper_j) with the smallest theta >= 0 meeting the
    budget (KKT of the separable problem); theta is found by bisection to float64 precision and the upper end
    of the bracket is used, so the budget is never exceeded. ``upper`` is the box's room in each coordinate's
    direction (for x + d in [0, 1]: 1 - x where v > 0, x where v < 0); None = no box.
    """
    shape = v.shape
    a = v.detach().flatten(1).abs().double()
    u = upper.flatten(1).double() if upper is not None else torch.full_like(a, math.inf)
    clipped = torch.minimum(a, u)
    need = clipped.sum(1) > eps
    theta_lo = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    theta_hi = a.amax(1)
    for _ in range(iters):
        mid = (theta_lo + theta_hi) / 2
        total = torch.minimum((a - mid[:, None]).clamp_min(0), u).sum(1)
        over = total > eps
        theta_lo = torch.where(over, mid, theta_lo)
        theta_hi = torch.where(over, theta_hi, mid)
    theta = torch.where(need, theta_hi, torch.zeros_like(theta_hi))
    mag = torch.minimum((a - theta[:, None]).clamp_min(0), u)
    return (torch.sign(v.detach().flatten(1)).double() * mag).to(v.dtype).view(shape)


def project(x: Optional[torch.Tensor], delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """``delta`` moved into the eps-ball of ``norm``, and (when ``x`` is given) so that x + delta is in [0, 1]."""
    if norm == "linf":
        d = delta.clamp(-eps, eps)
        return d if x is None else (x + d).clamp(0, 1) - x
    if norm == "l2":
        d = delta * torch.clamp(eps / _l2(delta).clamp_min(1e-12), max=1.0)
        return d if x is None else (x + d).clamp(0, 1) - x   # clipping to the box only shrinks the norm
    if norm == "l1":
        upper = None if x is None else torch.where(delta > 0, 1 - x, x)
        return project_l1_box(delta, eps, upper)
    raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(SLOWDOWN_NORMS)}")


def _sparse_direction(g: torch.Tensor, sparsity: float) -> torch.Tensor:
    """sign(g) on the coordinates with |g| at or above the sparsity-th percentile, scaled to unit L1 norm."""
    flat = g.flatten(1).abs()
    k = max(1, int(round(flat.shape[1] * (1.0 - sparsity / 100.0))))
    thresh = flat.topk(k, dim=1).values[:, -1:]
    mask = (flat >= thresh).float()
    e = torch.sign(g.flatten(1)) * mask / mask.sum(1, keepdim=True).clamp_min(1.0)
    return e.view_as(g)


def _random_delta(x: torch.Tensor, norm: str, radius: float, generator) -> torch.Tensor:
    if norm == "linf":
        return (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * radius
    if norm == "l2":
        d = torch.randn(x.shape, generator=generator, device=x.device)
        return d / _l2(d).clamp_min(1e-12) * radius
    u = torch.rand(x.shape, generator=generator, device=x.device).clamp(1e-7, 1 - 1e-7) - 0.5
    d = -torch.sign(u) * torch.log1p(-2 * u.abs())   # Laplace(0, 1)
    return d / _view(d.flatten(1).abs().sum(1), d).clamp_min(1e-12) * radius


def eps_of(cfg, norm: str) -> float:
    """The budget of ``norm`` (for L2 the final, decayed radius of DeepSloth's schedule is reported separately)."""
    return float(getattr(cfg, f"{norm}_eps"))


def _grad(model, x: torch.Tensor, delta: torch.Tensor, loss_fn) -> torch.Tensor:
    delta = delta.detach().requires_grad_(True)
    loss = loss_fn(_outputs(model, (x + delta).clamp(0, 1))).sum()
    g, = torch.autograd.grad(loss, [delta])
    return g


def deepsloth_per_sample(model, x: torch.Tensor, cfg, norm: str, generator=None) -> torch.Tensor:
    """Per-sample DeepSloth on ``x`` (model in eval mode); returns x_adv in [0, 1]."""
    x = x.detach()
    if norm == "linf":
        eps, step = cfg.linf_eps, cfg.linf_step_size
        start = {"step": step, "eps": eps, "none": 0.0}[cfg.linf_random_start]
        delta = project(x, _random_delta(x, "linf", start, generator), "linf", eps)
        for _ in range(cfg.linf_steps):
            g = _grad(model, x, delta, sloth_loss)
            delta = project(x, delta - step * g.sign(), "linf", eps)
    elif norm == "l2":
        radius = cfg.l2_eps
        delta = project(x, _random_delta(x, "l2", radius, generator), "l2", radius)
        steps = cfg.l2_steps
        for t in range(steps):
            if t > 0 and t % cfg.l2_decay_every == 0:
                radius *= 1.0 - cfg.l2_gamma
            lr = cfg.l2_lr_min + (cfg.l2_lr - cfg.l2_lr_min) * (1 + math.cos(math.pi * t / steps)) / 2
            g = _grad(model, x, delta, sloth_loss)
            delta = project(x, delta - lr * g / _l2(g).clamp_min(1e-12), "l2", radius)
    elif norm == "l1":
        eps = cfg.l1_eps
        delta = project(x, _random_delta(x, "l1", eps, generator), "l1", eps)
        for _ in range(cfg.l1_steps):
            g = _grad(model, x, delta, sloth_loss)
            delta = project(x, delta + cfg.l1_step_size * _sparse_direction(-g, cfg.l1_sparsity), "l1", eps)
    else:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(SLOWDOWN_NORMS)}")
    return (x + delta).clamp(0, 1).detach()


def final_l2_radius(cfg) -> float:
    """The L2 radius DeepSloth ends with: l2_eps x (1 - gamma)^(decays in l2_steps iterations)."""
    decays = max(0, (cfg.l2_steps - 1) // cfg.l2_decay_every)
    return cfg.l2_eps * (1.0 - cfg.l2_gamma) ** decays


def budget(cfg, attack: str, norm: str) -> float:
    """The perturbation budget an attack ends with (L2 DeepSloth decays its radius; the others keep eps)."""
    if norm == "l2" and attack == "deepsloth":
        return final_l2_radius(cfg)
    if norm == "l2" and attack in ("deepsloth_universal", "deepsloth_class_universal"):
        return cfg.l2_eps * (1.0 - cfg.l2_gamma) ** cfg.universal_l2_epochs
    return eps_of(cfg, norm)


def deepsloth_universal_delta(model, xs: torch.Tensor, cfg, norm: str, generator=None) -> torch.Tensor:
    """One perturbation (shape of one sample) minimising the IC losses over the crafting set ``xs``."""
    bs = cfg.universal_batch_size
    batches = [xs[i:i + bs] for i in range(0, xs.shape[0], bs)]
    one = xs[:1]
    if norm == "linf":
        eps = cfg.linf_eps
        v = _random_delta(one, "linf", eps, generator)
        for it in range(cfg.universal_linf_steps):
            step = cfg.universal_linf_step_size * cfg.universal_linf_decay ** (it // cfg.universal_linf_decay_every)
            for xb in batches:
                g = _grad(model, xb, v.expand_as(xb), sloth_loss)
                v = project(None, v - step * g.sum(0, keepdim=True).sign(), "linf", eps)
    elif norm == "l2":
        radius, lr = cfg.l2_eps, cfg.universal_l2_lr
        v = _random_delta(one, "l2", radius, generator)
        for _ in range(cfg.universal_l2_epochs):
            for xb in batches:
                for _ in range(cfg.universal_l2_steps):
                    g = _grad(model, xb, v.expand_as(xb), sloth_loss).sum(0, keepdim=True)
                    v = project(None, v - lr * g / _l2(g).clamp_min(1e-12), "l2", radius)
            radius *= 1.0 - cfg.l2_gamma
            lr *= 1.0 - cfg.l2_gamma
            v = project(None, v, "l2", radius)
    elif norm == "l1":
        eps = cfg.l1_eps
        v = _random_delta(one, "l1", eps, generator)
        for _ in range(cfg.universal_l1_steps):
            for xb in batches:
                g = _grad(model, xb, v.expand_as(xb), sloth_loss).sum(0, keepdim=True)
                v = project(None, v + cfg.l1_step_size * _sparse_direction(-g, cfg.universal_l1_sparsity), "l1",
                            eps)
    else:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(SLOWDOWN_NORMS)}")
    return v.detach()


def _crafting_set(train: Tuple[torch.Tensor, torch.Tensor], n: int, generator, label: Optional[int] = None
                  ) -> torch.Tensor:
    tx, ty = train
    idx = torch.arange(ty.shape[0]) if label is None else (ty == label).nonzero().view(-1)
    perm = torch.randperm(idx.numel(), generator=_cpu_gen(generator))
    return tx[idx[perm[:n]]]


def _cpu_gen(generator) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
                  if generator is not None else 0)
    return g


@register_slowdown_attack("deepsloth")
def _deepsloth(model, x, y, *, cfg, norm, train=None, generator=None):
    out = []
    for i in range(0, x.shape[0], cfg.batch_size):
        out.append(deepsloth_per_sample(model, x[i:i + cfg.batch_size], cfg, norm, generator))
    return torch.cat(out)


@register_slowdown_attack("deepsloth_universal")
def _deepsloth_universal(model, x, y, *, cfg, norm, train, generator=None):
    xs = _crafting_set(train, cfg.universal_n, generator).to(x.device)
    v = deepsloth_universal_delta(model, xs, cfg, norm, generator)
    return (x + v).clamp(0, 1)


@register_slowdown_attack("deepsloth_class_universal")
def _deepsloth_class_universal(model, x, y, *, cfg, norm, train, generator=None):
    out = x.clone()
    for c in torch.unique(y).tolist():
        xs = _crafting_set(train, cfg.universal_n, generator, label=int(c)).to(x.device)
        if xs.shape[0] == 0:
            continue
        v = deepsloth_universal_delta(model, xs, cfg, norm, generator)
        mask = y == c
        out[mask] = (x[mask] + v).clamp(0, 1)
    return out


def _baseline_pgd(model, x, y, cfg, norm, loss_of, generator):
    eps = eps_of(cfg, norm)
    steps = cfg.baseline_steps
    step = cfg.baseline_step_size or 2.5 * eps / steps
    x = x.detach()
    delta = project(x, _random_delta(x, norm, eps, generator), norm, eps)
    for _ in range(steps):
        g = _grad(model, x, delta, loss_of)
        if norm == "linf":
            delta = delta + step * g.sign()
        elif norm == "l2":
            delta = delta + step * g / _l2(g).clamp_min(1e-12)
        else:
            delta = delta + step * _sparse_direction(g, cfg.l1_sparsity)
        delta = project(x, delta, norm, eps)
    return (x + delta).clamp(0, 1).detach()


def _ce_exits(y, which):
    def loss(outputs):
        chosen = outputs if which is None else [outputs[which]]
        return torch.stack([F.cross_entropy(o.float(), y, reduction="none") for o in chosen]).mean(0)
    return loss


def _batched(fn):
    def attack(model, x, y, *, cfg, norm, train=None, generator=None):
        return torch.cat([fn(model, x[i:i + cfg.batch_size], y[i:i + cfg.batch_size], cfg, norm, generator)
                          for i in range(0, x.shape[0], cfg.batch_size)])
    return attack


@register_slowdown_attack("pgd_final")
@_batched
def _pgd_final(model, x, y, cfg, norm, generator):
    return _baseline_pgd(model, x, y, cfg, norm, _ce_exits(y, -1), generator)


@register_slowdown_attack("pgd_avg")
@_batched
def _pgd_avg(model, x, y, cfg, norm, generator):
    return _baseline_pgd(model, x, y, cfg, norm, _ce_exits(y, None), generator)


@register_slowdown_attack("pgd_max")
@_batched
def _pgd_max(model, x, y, cfg, norm, generator):
    with torch.no_grad():
        k = len(_outputs(model, x[:1]))
    best, best_loss = x.clone(), torch.full((x.shape[0],), -math.inf, device=x.device)
    total = _ce_exits(y, None)
    for i in range(k):
        cand = _baseline_pgd(model, x, y, cfg, norm, _ce_exits(y, i), generator)
        with torch.no_grad():
            loss = total(_outputs(model, cand))
        better = loss > best_loss
        best[better] = cand[better]
        best_loss = torch.where(better, loss, best_loss)
    return best


@register_slowdown_attack("noise")
@_batched
def _noise(model, x, y, cfg, norm, generator):
    eps = eps_of(cfg, norm)
    return (x + project(x, _random_delta(x, norm, eps, generator), norm, eps)).clamp(0, 1)
