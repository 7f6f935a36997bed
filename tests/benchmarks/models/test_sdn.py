"""SDN wrappers: exits of the paper's backbones, IC heads, cumulative FLOPs per exit."""
from __future__ import annotations

import pytest
import torch

from benchmarks.measurement import exit_forward_flops, forward_flops_per_sample
from benchmarks.models.sdn import InternalClassifier, create_sdn
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


@pytest.mark.parametrize("arch, kwargs, ics", [
    ("sdn_vgg16", {}, 14), ("sdn_resnet56", {}, 27), ("sdn_mobilenet", {}, 13),
    ("sdn_wrn", {"depth": 16, "width": 1}, 6), ("sdn_wrn", {"depth": 10, "width": 2}, 3),
])
def test_exit_counts_and_logits_per_exit(arch, kwargs, ics):
    with torch.device("meta"):
        model = create_sdn(arch, num_classes=7, **kwargs)
    assert model.num_ics == ics and model.num_exits == ics + 1
    out = model(torch.zeros(2, 3, 32, 32, device="meta"))
    assert isinstance(out, list) and len(out) == ics + 1 and all(o.shape == (2, 7) for o in out)


def test_cumulative_flops_grow_and_end_at_the_full_forward():
    model = create_sdn("sdn_wrn", depth=10, width=1, in_chans=1, input_size=8)
    counted = exit_forward_flops(model, (1, 8, 8))
    c = counted["exit_cumulative_flops"]
    assert len(c) == model.num_exits
    assert all(b > a for a, b in zip(c, c[1:]))
    assert c[-1] == forward_flops_per_sample(model, (1, 8, 8))["forward_flops"]
    # the first exit holds the stem, block 1 and the first head: a head's linear layer is part of it
    head = model.heads[0]
    assert c[0] > 2 * head.linear.in_features * head.linear.out_features


def test_ic_head_mixes_pooling_and_flattens_small_maps():
    big = InternalClassifier(8, 16, 10)
    assert big.kernel == 4 and big.linear.in_features == 8 * 4 * 4 and 0 <= float(big.alpha.detach()) <= 1
    h = torch.randn(3, 8, 16, 16)
    with torch.no_grad():
        big.alpha.fill_(1.0)
        pooled_max = big(h)
        big.alpha.fill_(0.0)
        pooled_avg = big(h)
    ref_max = big.linear(torch.nn.functional.max_pool2d(h, 4).flatten(1))
    ref_avg = big.linear(torch.nn.functional.avg_pool2d(h, 4).flatten(1))
    assert torch.allclose(pooled_max, ref_max, atol=1e-6) and torch.allclose(pooled_avg, ref_avg, atol=1e-6)
    small = InternalClassifier(5, 2, 10)
    assert small.alpha is None and small.linear.in_features == 20
    flat = InternalClassifier(512, 0, 10)
    assert flat(torch.randn(2, 512)).shape == (2, 10)


def test_vgg_stops_pooling_on_tiny_inputs_and_resnet_ics_read_the_pre_relu_sum():
    vgg = create_sdn("sdn_vgg16", in_chans=1, input_size=8)
    assert len(vgg(torch.rand(2, 1, 8, 8))) == 15
    resnet = create_sdn("sdn_resnet56").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        h = resnet.blocks[0](resnet.stem(x))
    assert (h < 0).any()   # the IC sees negative values: the sum before the ReLU



def test_sdn_families_build_through_the_factory_and_profile_prints_exits(capsys):
    import json

    import robustperf
    from benchmarks.models import create_model, final_logits, model_name
    from recipes import ModelConfig

    cfg = ModelConfig(arch="sdn_wrn", depth=10, width=1)
    model = create_model(cfg, 10, 1, image_size=8)
    assert model_name(cfg) == "sdn_wrn10_1" and model.num_exits == 4
    out = model(torch.rand(2, 1, 8, 8))
    assert final_logits(out) is out[-1]
    assert robustperf.main(["profile", "sdn_mobilenet", "--input", "3x32x32", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["ics"] == 13 and got["exits"] == 14 and len(got["exit_cumulative_flops"]) == 14
    assert got["exit_cumulative_flops"][-1] == got["forward_flops"]


def _sdn_trainer(loss, **training):
    from benchmarks.training import Trainer
    from benchmarks.training.distributed import DistInfo
    from recipes import RunConfig

    cfg = RunConfig.from_dict({
        "seed": 0, "data": {"name": "digits", "batch_size": 16},
        "model": {"arch": "sdn_wrn", "depth": 10, "width": 1},
        "training": {"loss": loss, "epochs": 2, "warmup_epochs": 0, "sdn_ic_epochs": 1, **training},
        "attack": {"eps": 0.1, "steps": 2}})
    return Trainer(cfg, DistInfo(), progress=False)


@pytest.mark.parametrize("loss", ["sdn_ic_only", "sdn_ic_only_pgd", "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd"])
def test_ic_phase_trains_only_the_ics(loss):
    trainer = _sdn_trainer(loss)
    model = trainer.model
    x, y = trainer.batches.batch(0, 0)
    heads = [p.detach().clone() for p in model.ic_parameters()]
    trainer.train_step(x, y)                      # backbone phase: the ICs get no gradient
    assert all(torch.equal(a, b) for a, b in zip(heads, model.ic_parameters()))
    trainer.epoch = 1                             # IC phase
    backbone = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("heads.")}
    trainer.train_step(x, y)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in backbone.items())   # weights and BN statistics
    assert not all(torch.equal(a, b) for a, b in zip(heads, model.ic_parameters()))
    assert trainer.method.shape_key() == "ic" and trainer.method.ic_lr() == trainer.cfg.training.sdn_ic_lr


def test_end_to_end_sdn_weights_grow_to_the_ic_positions():
    trainer = _sdn_trainer("sdn")
    q = trainer.method.q
    assert len(q) == trainer.model.num_ics and all(0 < a < b < 1 for a, b in zip(q, q[1:]))
    assert trainer.method.weights(0) == pytest.approx([min(v, 0.01 + v / 2) for v in q])
    assert trainer.method.weights(1) == pytest.approx(q)
    x, y = trainer.batches.batch(0, 0)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_step(x, y)
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()) if a.dim() > 1)


def test_sdn_methods_need_an_sdn_model():
    from recipes import RecipeError
    from recipes import RunConfig

    with pytest.raises(RecipeError, match="multi-exit"):
        RunConfig.from_dict({"model": {"arch": "wrn", "depth": 10, "width": 1}, "training": {"loss": "sdn"}})
    with pytest.raises(RecipeError, match="IC phase"):
        RunConfig.from_dict({"model": {"arch": "sdn_vgg16"}, "training": {"loss": "sdn_ic_only", "epochs": 5,
                                                                           "sdn_ic_epochs": 5}})
    with pytest.raises(RecipeError, match="slowdown"):
        RunConfig.from_dict({"evaluation": {"slowdown": {}}})
    with pytest.raises(RecipeError, match="evaluation.slowdown.norms"):
        RunConfig.from_dict({"model": {"arch": "sdn_vgg16"}, "evaluation": {"slowdown": {"norms": ["l3"]}}})


def test_registered_training_attacks_on_every_exit():
    from benchmarks.attacks import create_attack, sloth_loss

    torch.manual_seed(0)
    model = create_sdn("sdn_wrn", depth=10, width=1, in_chans=1, input_size=8).eval()
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    g = torch.Generator().manual_seed(0)
    slow = create_attack("deepsloth", model, norm="linf", eps=0.2, steps=8, step_size=0.05)(x, y, generator=g)
    ce = create_attack("pgd_exits", model, norm="linf", eps=0.2, steps=8, step_size=0.05)(x, y, generator=g)
    with torch.no_grad():
        assert sloth_loss(model(slow)).mean() < sloth_loss(model(x)).mean()
        mean_ce = lambda z: sum(torch.nn.functional.cross_entropy(o, y) for o in model(z))  # noqa: E731
        assert mean_ce(ce) > mean_ce(x)
    for adv in (slow, ce):
        assert (adv - x).abs().max() <= 0.2 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
