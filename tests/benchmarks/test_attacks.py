"""The registered attacks: budgets respected, loss increased, BatchNorm statistics and modes untouched."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import benchmarks.models  # noqa: F401
from benchmarks import load_dataset
from benchmarks._compat import import_timm
from benchmarks.attacks import create_attack, list_attacks
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


@pytest.fixture(scope="module")
def batch():
    x, y = load_dataset("digits", "test")
    return x[:64], y[:64]


def _model():
    torch.manual_seed(0)
    return import_timm().create_model("wrn10_1", num_classes=10, in_chans=1)


@pytest.mark.parametrize("name", ["pgd", "trades_kl"])
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_attack_stays_in_budget_and_raises_the_loss(batch, name, norm, eps):
    x, y = batch
    model = _model()
    model.train()
    buffers = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    attack = create_attack(name, model, norm=norm, eps=eps, steps=5, step_size=2.5 * eps / 5)
    x_adv = attack(x, y, generator=torch.Generator().manual_seed(0))
    delta = (x_adv - x).flatten(1)
    bound = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert float(bound.max()) <= eps + 1e-5
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    # BatchNorm running statistics are not updated while crafting, and the caller's mode comes back.
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        if key in buffers:
            assert torch.equal(value, buffers[key]), key
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        clean, adv = model(x), model(x_adv)
    if name == "pgd":
        assert F.cross_entropy(adv, y) > F.cross_entropy(clean, y)
    else:
        kl = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
        assert kl > 0


def test_attack_random_start_is_seeded(batch):
    x, y = batch
    model = _model().eval()
    attack = create_attack("pgd", model, norm="linf", eps=0.1, steps=1, step_size=0.01)
    a = attack(x, y, generator=torch.Generator().manual_seed(3))
    b = attack(x, y, generator=torch.Generator().manual_seed(3))
    c = attack(x, y, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    no_start = create_attack("pgd", model, norm="linf", eps=0.1, steps=1, step_size=0.01, random_start=False)
    assert torch.equal(no_start(x, y), no_start(x, y))


def test_registry_and_errors():
    assert {"fgm", "fgsm_rs", "pgd", "pgd_normal_start", "trades_kl"} <= set(list_attacks())
    assert list_attacks() == sorted(list_attacks())
    with pytest.raises(ValueError, match="valid: .*fgm, fgsm_rs, pgd, .*trades_kl"):
        create_attack("fgsm", _model(), norm="linf", eps=0.1, steps=1, step_size=0.1)
    with pytest.raises(ValueError, match="linf, l2"):
        create_attack("pgd", _model(), norm="l1", eps=0.1, steps=1, step_size=0.1)
