"""The UAP baseline (universal misclassification perturbation, DeepSloth's Table 1) on the small digits CNN."""
from __future__ import annotations

import torch

from benchmarks import load_dataset
from benchmarks.attacks import create_attack
from benchmarks.attacks.uap import deepfool_step
from recipes import SlowdownConfig
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return 100.0 * float((model(x).argmax(-1) == y).float().mean())


def test_uap_lowers_accuracy_on_held_out_points_it_was_not_crafted_on(small_cnn):
    model = small_cnn()
    train = load_dataset("digits", "train")
    x, y = load_dataset("digits", "test")           # never seen by the crafting (training samples only)
    cfg = SlowdownConfig(linf_eps=0.3, uap_n=100, uap_passes=2, batch_size=128)
    attack = create_attack("uap", model, norm="linf", eps=0.3, settings=cfg, crafting_set=train)
    x_adv = attack(x, y, generator=torch.Generator().manual_seed(0))
    delta = x_adv - x
    assert float(delta.abs().max()) <= 0.3 + 1e-6
    # one perturbation for every input (up to the [0, 1] clipping)
    inside = ((x > 0.31) & (x < 0.69)).all(dim=0)
    assert torch.allclose(delta[:, inside], delta[:1, inside].expand(x.shape[0], -1), atol=1e-6)
    clean, attacked = _accuracy(model, x, y), _accuracy(model, x_adv, y)
    noise = create_attack("noise", model, norm="linf", eps=0.3, settings=cfg)(x, y, torch.Generator().manual_seed(0))
    assert clean > 85.0
    assert attacked < clean - 20.0, (clean, attacked)
    assert attacked < _accuracy(model, noise, y) - 10.0       # far below random noise of the same budget
    assert attack.budget == 0.3


def test_deepfool_step_reaches_the_linear_boundary():
    """On a linear model DeepFool lands on the nearest boundary in one step (then crosses it by the overshoot)."""
    lin = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    x = torch.tensor([[0.7, 0.4]])                   # class 0 (0.7 > 0.4 > -1.1); boundary to class 1 at x0 = x1
    r, iters, fooled = deepfool_step(lin, x, steps=5, overshoot=0.02)
    assert fooled and iters == 1
    # the minimal L2 step to x0 = x1 is (-0.15, 0.15) (+1e-4 of margin), times 1.02
    assert torch.allclose(r, torch.tensor([[-0.15, 0.15]]) * 1.02, atol=2e-4)
