"""The PGD-avg and PGD-max defences of DeepSloth's Table 3 as their own training methods (tiny digits SDN)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks.attacks import create_attack
from benchmarks.models.sdn import create_sdn
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture
from tests.benchmarks.models.test_sdn import _sdn_trainer


def _summed_ce(model, x, y):
    with torch.no_grad():
        return sum(F.cross_entropy(o, y, reduction="none") for o in model(x))


def test_pgd_max_keeps_the_worst_candidate_of_one_pgd_per_exit():
    torch.manual_seed(0)
    model = create_sdn("sdn_wrn", depth=10, width=1, in_chans=1, input_size=8).eval()
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    kw = dict(norm="linf", eps=0.2, steps=5, step_size=0.05)
    x_max = create_attack("pgd_max_exits", model, **kw)(x, y, generator=torch.Generator().manual_seed(0))
    assert (x_max - x).abs().max() <= 0.2 + 1e-6 and x_max.min() >= 0 and x_max.max() <= 1
    # the candidates, recomputed with the same random starts: the kept one has the largest summed CE per sample
    gen = torch.Generator().manual_seed(0)
    from benchmarks.attacks.ascent import iterate, uniform_start

    cands = []
    for i in range(model.num_exits):
        start = uniform_start(x, "linf", 0.2, gen)
        cands.append(iterate(x, start, 5, lambda z, _s, i=i: F.cross_entropy(model(z)[i], y, reduction="sum"),
                             "linf", 0.2, 0.05))
    losses = torch.stack([_summed_ce(model, c, y) for c in cands])
    assert torch.allclose(_summed_ce(model, x_max, y), losses.max(0).values, atol=1e-5)
    assert (losses.max(0).values > _summed_ce(model, x, y)).all()


@pytest.mark.parametrize("loss", ["sdn_ic_only_pgd_avg", "sdn_ic_only_pgd_max"])
def test_the_defences_train_only_the_ics_on_their_examples(loss):
    trainer = _sdn_trainer(loss)
    model, method = trainer.model, trainer.method
    assert method.attack is not None and method.backbone_pgd is not None
    x, y = trainer.batches.batch(0, 0)
    trainer.train_step(x, y)                      # backbone phase: PGD-AT of the final exit
    trainer.epoch = 1                             # IC phase
    backbone = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("heads.")}
    heads = [p.detach().clone() for p in model.ic_parameters()]
    trainer.train_step(x, y)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in backbone.items())
    assert not all(torch.equal(a, b) for a, b in zip(heads, model.ic_parameters()))
    steps = trainer.cfg.attack.steps
    expected = model.num_exits * steps if loss.endswith("max") else steps
    assert method.attack_passes() == expected
    assert method.describe()["train_attack"] == ("pgd_max_exits" if loss.endswith("max") else "pgd_exits")


def test_the_defences_are_distinct_runs():
    from recipes import RunConfig
    from recipes.identity import run_id_of

    base = {"model": {"arch": "sdn_wrn", "depth": 10, "width": 1}, "data": {"name": "digits"},
            "training": {"epochs": 2, "sdn_ic_epochs": 1}}
    ids = {loss: run_id_of(RunConfig.from_dict({**base, "training": {**base["training"], "loss": loss}}).to_dict())
           for loss in ("sdn_ic_only_pgd", "sdn_ic_only_pgd_avg", "sdn_ic_only_pgd_max")}
    assert len(set(ids.values())) == 3
