"""The attacks: every catalog entry builds through the one signature, stays in its eps-ball in each of its norms and
is deterministic with a seeded generator; budgets respected, loss increased, BatchNorm statistics and modes
untouched."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks import load_dataset
from benchmarks._compat import import_timm
from benchmarks.attacks import create_attack, list_attacks
from benchmarks.models import register_timm_models
from benchmarks.models.sdn import create_sdn
from benchmarks.slowdown.evaluate import eps_of
from recipes import SlowdownConfig, catalog, section_fields
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture

#: budgets of the attacks built from recipe keys (``attack.*``), by norm
EPS = {"linf": 0.1, "l2": 0.8}
#: a small ``evaluation.slowdown`` for the slowdown attacks (their ``settings`` option)
SETTINGS = SlowdownConfig(linf_eps=0.1, linf_steps=3, linf_step_size=0.03, l2_eps=1.0, l2_steps=4, l2_decay_every=2,
                          l1_eps=4.0, l1_steps=3, baseline_steps=2, universal_n=20, universal_linf_steps=2,
                          universal_l2_epochs=2, universal_l2_steps=1, universal_l1_steps=2,
                          universal_batch_size=10, batch_size=8, uap_n=10, uap_passes=2,
                          accuracy_aware_steps=3)


def _cases():
    """(attack, norm, form): the slowdown attacks on their settings in each of their norms; the others (and the
    per-sample DeepSloth of a training method) from recipe keys in each norm a recipe may choose."""
    recipe_norms = set(section_fields("attack")["norm"]["choices"])
    for name, entry in catalog.entries("attacks").items():
        for norm in entry.norms:
            if "slowdown" in entry.roles:
                yield name, norm, "settings"
            if set(entry.roles) - {"slowdown"} and norm in recipe_norms:
                yield name, norm, "recipe"


CASES = list(_cases())


@pytest.fixture(scope="module")
def batch():
    x, y = load_dataset("digits", "test")
    return x[:64], y[:64]


@pytest.fixture(scope="module")
def multi_exit():
    torch.manual_seed(0)
    return create_sdn("sdn_wrn", depth=10, width=1, in_chans=1, input_size=8, num_classes=10).eval()


def _model():
    register_timm_models()
    torch.manual_seed(0)
    return import_timm().create_model("wrn10_1", num_classes=10, in_chans=1)


def _size(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return {"linf": flat.abs().amax(1), "l2": flat.norm(dim=1), "l1": flat.abs().sum(1)}[norm]


@pytest.mark.parametrize("name,norm,form", CASES, ids=[f"{n}-{m}-{f}" for n, m, f in CASES])
def test_each_attack_builds_stays_in_its_ball_and_is_seeded(batch, multi_exit, name, norm, form):
    x, y = batch[0][:24], batch[1][:24]
    if form == "settings":
        train = load_dataset("digits", "train")
        attack = create_attack(name, multi_exit, norm=norm, eps=eps_of(SETTINGS, norm), settings=SETTINGS,
                               crafting_set=(train[0][:200], train[1][:200]))
    else:
        eps = EPS[norm]
        attack = create_attack(name, multi_exit, norm=norm, eps=eps, steps=3, step_size=eps / 2)
        # N-FGSM leaves the eps-ball by design (no projection): its noise (2 eps by default) plus its step
        assert attack.budget == (pytest.approx(2 * eps + eps / 2) if name == "n_fgsm" else eps)
    a = attack(x, y, generator=torch.Generator().manual_seed(3))
    b = attack(x, y, generator=torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert (_size(a - x, norm) <= attack.budget * (1 + 1e-4) + 1e-6).all(), float(_size(a - x, norm).max())


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
    assert list_attacks() == sorted(list_attacks()) == sorted(catalog.names("attacks"))
    with pytest.raises(catalog.PluginError, match="did you mean 'fgm'.*registered: pgd, fgsm_rs, .*trades_kl"):
        create_attack("fgsm", _model(), norm="linf", eps=0.1, steps=1, step_size=0.1)
    with pytest.raises(ValueError, match="linf, l2"):
        create_attack("pgd", _model(), norm="l1", eps=0.1, steps=1, step_size=0.1)
    with pytest.raises(ValueError, match="needs steps and step_size"):
        create_attack("pgd", _model(), norm="linf", eps=0.1)


def test_an_attack_registered_in_process_is_built_through_the_one_signature(batch):
    """A plug-in attack is one builder and one catalog entry; the per-epoch check and the evaluation may then
    choose it by name."""
    seen = {}

    def halfway(model, *, norm, eps, steps, step_size, random_start, autocast, towards=0.0):
        seen.update(norm=norm, eps=eps, steps=steps, towards=towards)
        return lambda x, y, generator=None: x + (towards - x).clamp(-eps, eps) / 2

    catalog.register(catalog.AttackEntry(name="halfway_test", impl=halfway, norms=("linf",),
                                         roles=("check", "evaluation")))
    try:
        attack = create_attack("halfway_test", _model(), norm="linf", eps=0.2, steps=4, towards=1.0)
        x_adv = attack(batch[0], batch[1])
        assert seen == {"norm": "linf", "eps": 0.2, "steps": 4, "towards": 1.0} and attack.budget == 0.2
        assert float((x_adv - batch[0]).abs().max()) <= 0.1 + 1e-7
        assert "halfway_test" in section_fields("training")["select_attack"]["choices"]
    finally:
        catalog.unregister("attacks", "halfway_test")
