"""MSDNet (Huang et al. 2018), DeepSloth's fourth multi-exit model: structure, per-exit FLOPs against an
independent counter, early exit, and (slow) training and the entropy-rule slowdown evaluation on digits."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.measurement import exit_forward_flops
from benchmarks.models.msdnet import MSDNet, layer_scales
from benchmarks.slowdown import exits as E
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


@pytest.fixture(scope="module")
def msdnet():
    torch.manual_seed(0)
    return MSDNet(num_classes=10, in_chans=3, input_size=32).eval()


def test_six_exits_and_the_scales_dropped_as_the_authors_code_prunes():
    # 14 layers (base 4 + 5 x step 2), three scales: the finest leaves after 5 layers, the middle after 10
    assert [layer_scales(14, n) for n in (1, 5, 6, 7, 10, 11, 12, 14)] == [
        (3, 3), (3, 3), (3, 2), (2, 2), (2, 2), (2, 1), (1, 1), (1, 1)]
    model = MSDNet()
    assert model.num_exits == 6 and model.num_ics == 5
    outs = model.eval()(torch.rand(2, 3, 32, 32))
    assert len(outs) == 6 and all(o.shape == (2, 10) for o in outs)


def test_cumulative_flops_per_exit_match_torch_flop_counter(msdnet):
    """DeepSpeed's profiler (the suite's counter, exit by exit) against torch's FlopCounterMode (convolutions and
    matrix products only): the same cumulative FLOPs per exit up to the elementwise layers (BatchNorm, ReLU,
    pooling) that only the former counts - a few percent."""
    ours = exit_forward_flops(msdnet, (3, 32, 32))["exit_cumulative_flops"]
    theirs = []
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for _ in msdnet.exits(torch.zeros(1, 3, 32, 32)):
            theirs.append(counter.get_total_flops())
    assert len(ours) == len(theirs) == 6
    assert all(a < b for a, b in zip(theirs, theirs[1:]))
    for a, b in zip(ours, theirs):
        assert 1.0 <= a / b < 1.03, (a, b)
    steps_ours = [b - a for a, b in zip([0, *ours], ours)]
    steps_theirs = [b - a for a, b in zip([0, *theirs], theirs)]
    for a, b in zip(steps_ours, steps_theirs):
        assert 1.0 <= a / b < 1.05


@pytest.mark.parametrize("rule", ["entropy", "confidence"])
def test_batched_early_exit_equals_one_at_a_time(msdnet, rule):
    x = torch.rand(12, 3, 32, 32)
    logits = E.all_exit_logits(msdnet, x)
    scores = E.exit_score(logits, rule)
    tau = float(scores[0].median())
    batched = E.early_exit_batched(msdnet, x, rule, tau, batch_size=5)
    single = E.early_exit_single(msdnet, x, rule, tau)
    assert torch.equal(batched[0], single[0]) and torch.equal(batched[1], single[1])
    assert torch.equal(batched[0], E.first_exits(scores, rule, tau))


@pytest.mark.slow
@pytest.mark.timeout(1800)   # ~4 CPU minutes; 14 wall minutes seen on a shared machine
def test_msdnet_trains_on_digits_and_deepsloth_slows_its_entropy_exits():
    from benchmarks.slowdown.evaluate import evaluate_slowdown
    from benchmarks.training import Trainer
    from benchmarks.training.distributed import DistInfo
    from recipes import RunConfig, SlowdownConfig
    from tests.benchmarks._sdn_fixture import digits_splits

    cfg = RunConfig.from_dict({
        "seed": 0, "data": {"name": "digits", "batch_size": 64},
        "model": {"arch": "msdnet"},
        "training": {"loss": "sdn", "epochs": 6, "warmup_epochs": 0, "lr": 0.05, "lr_base_batch_size": 64}})
    trainer = Trainer(cfg, DistInfo(), progress=False)
    trainer.train()
    model = trainer.model.eval()
    assert model.num_exits == 6
    train, val, test = digits_splits()
    sd = SlowdownConfig(rule="entropy", rads=(0.05,), attacks=("deepsloth",), norms=("linf",), n=120,
                        linf_eps=0.3, linf_steps=15, linf_step_size=0.03, latency_n=4)
    group = evaluate_slowdown(model, sd, test=test, val=val, train=train)
    clean, attacked = group["clean"], group["attacks"]["deepsloth_linf"]
    assert group["num_exits"] == 6 and clean["accuracy"] > 70
    assert attacked["efficacy"] < clean["efficacy"] and attacked["mean_flops"] > clean["mean_flops"]
