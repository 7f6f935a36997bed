"""N-FGSM (de Jorge et al. 2022): its perturbation leaves the eps-ball (no projection), bounded by (k + alpha/eps)
eps in Linf before the image range clips it, and one training step runs through the trainer."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.attacks import create_attack
from benchmarks.training import DistInfo, Trainer
from recipes import RunConfig
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


def _linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3))


def test_n_fgsm_is_the_unprojected_step_from_k_eps_noise_on_a_hand_sized_case():
    """x = 0.5 everywhere (no image clipping), eps 0.1, k 2, alpha = eps: x_adv - x = eta + eps sign(grad), eta
    the same uniform draw in [-2 eps, 2 eps]; its Linf norm exceeds eps (here: no projection) and stays <= 3 eps."""
    model, eps = _linear(), 0.1
    x = torch.full((4, 3, 2, 2), 0.5)
    y = torch.tensor([0, 1, 2, 0])
    attack = create_attack("n_fgsm", model, norm="linf", eps=eps, steps=1, step_size=eps, noise=2.0)
    x_adv = attack(x, y, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    eta = (torch.rand(x.shape, generator=g) * 2 - 1) * 2 * eps
    start = (x + eta).requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(start), y, reduction="sum"), [start])
    expected = x + eta + eps * grad.sign()
    assert torch.allclose(x_adv, expected, atol=1e-6)
    linf = float((x_adv - x).abs().max())
    assert eps < linf <= 3 * eps + 1e-6
    # the authors' --clip: a projection radius in eps
    clipped = create_attack("n_fgsm", model, norm="linf", eps=eps, steps=1, step_size=eps, noise=2.0, clip=1.0)
    assert float((clipped(x, y, generator=torch.Generator().manual_seed(3)) - x).abs().max()) <= eps + 1e-6
    # FGSM-RS on the same point stays inside the ball
    rs = create_attack("fgsm_rs", model, norm="linf", eps=eps, steps=1, step_size=1.25 * eps)
    assert float((rs(x, y, generator=torch.Generator().manual_seed(3)) - x).abs().max()) <= eps + 1e-6


@settings(max_examples=40, deadline=None)
@given(eps=st.floats(0.001, 0.3), k=st.floats(0.0, 4.0), alpha=st.floats(0.1, 2.0), seed=st.integers(0, 2**16),
       norm=st.sampled_from(["linf", "l2"]))
def test_n_fgsm_perturbation_is_bounded_by_k_plus_alpha_eps_and_the_image_range(eps, k, alpha, seed, norm):
    model = _linear()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((5, 3, 2, 2), generator=g)
    y = torch.randint(0, 3, (5,), generator=g)
    attack = create_attack("n_fgsm", model, norm=norm, eps=eps, steps=1, step_size=alpha * eps, noise=k)
    x_adv = attack(x, y, generator=torch.Generator().manual_seed(seed))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= (k + alpha) * eps * (1 + 1e-5) + 1e-6
    assert 0.0 <= float(x_adv.min()) and float(x_adv.max()) <= 1.0


def test_n_fgsm_training_step_runs_in_train_mode_with_the_papers_defaults():
    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits", "batch_size": 8},
                               "model": {"arch": "wrn", "depth": 10, "width": 1},
                               "training": {"loss": "n_fgsm", "epochs": 1, "warmup_epochs": 0},
                               "attack": {"eps": 0.1}})
    trainer = Trainer(cfg, DistInfo(), progress=False)
    kwargs = trainer.method.attack_kwargs()
    assert (kwargs["noise"], kwargs["step_size"], kwargs["clip"]) == (2.0, pytest.approx(0.1), None)
    assert trainer.method.attack_mode == "train"
    x, y = trainer.batches.batch(0, 0)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    loss, correct, n = trainer.train_step(x, y)
    assert n == len(y) and loss == loss and trainer.global_step == 1
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.model.parameters()))
    assert trainer.method.forward_passes() == {"attack": 1, "train": 1}
