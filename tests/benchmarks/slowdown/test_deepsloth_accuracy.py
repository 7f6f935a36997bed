"""The accuracy-aware DeepSloth variants on the cached digits SDN: both slow it down, one keeps its accuracy,
the other destroys it (the directions of the paper's section 4.3)."""
from __future__ import annotations

import pytest
import torch

from benchmarks.attacks import create_attack
from benchmarks.attacks.deepsloth_accuracy import biased_sloth_loss, biased_target
from benchmarks.slowdown import calibrate as C
from benchmarks.slowdown import exits as E
from benchmarks.slowdown import metrics as M
from recipes import SlowdownConfig
from tests.benchmarks._sdn_fixture import digits_splits
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


def test_biased_target_and_its_loss_minimum():
    t = biased_target(torch.tensor([2, 0]), 4, 0.2)
    assert torch.allclose(t, torch.tensor([[0.2, 0.2, 0.4, 0.2], [0.4, 0.2, 0.2, 0.2]]))
    assert torch.allclose(t.sum(1), torch.ones(2))
    # the loss of each exit is smallest when its softmax equals the target
    loss = biased_sloth_loss(torch.tensor([2]), 0.2)
    at_target = loss([t[:1].log(), t[:1].log()])
    uniform = loss([torch.zeros(1, 4), torch.zeros(1, 4)])
    assert float(at_target) < float(uniform)


def test_keep_and_hurt_variants_slow_down_and_move_accuracy_apart(small_sdn):
    torch.set_num_threads(1)
    model = small_sdn()
    from benchmarks.measurement import exit_forward_flops

    flops = exit_forward_flops(model, (1, 8, 8))["exit_cumulative_flops"]
    train, val, (x, y) = digits_splits()
    logits = E.all_exit_logits(model, val[0])
    cal = C.calibrate(E.exit_score(logits, "confidence"), logits.argmax(-1) == val[1], flops, "confidence", 0.02)
    x, y = x[:120], y[:120]
    cfg = SlowdownConfig(linf_eps=0.3, linf_steps=20, linf_step_size=0.03, accuracy_aware_steps=20,
                         accuracy_aware_step_size=0.03, batch_size=120)

    def measure(name=None):
        x_adv = x if name is None else create_attack(name, model, norm="linf", eps=0.3, settings=cfg)(
            x, y, generator=torch.Generator().manual_seed(0))
        assert (x_adv - x).abs().max() <= 0.3 + 1e-6
        exits, preds = E.early_exit_batched(model, x_adv, "confidence", cal.taus)
        return M.summarize_exits(exits, preds == y, flops)

    clean, original = measure(), measure("deepsloth")
    keep, hurt = measure("deepsloth_keep_accuracy"), measure("deepsloth_hurt_accuracy")
    for res in (original, keep, hurt):              # all three slow the network down
        assert res["efficacy"] < clean["efficacy"] / 2, (clean["efficacy"], res["efficacy"])
    # seen: clean 0.89 / 94 %, deepsloth 0.13 / 28 %, keep 0.29 / 53 %, hurt 0.19 / 23 %
    assert keep["accuracy"] > original["accuracy"] + 10.0
    assert hurt["accuracy"] <= original["accuracy"]
    assert keep["accuracy"] - hurt["accuracy"] > 20.0


def test_the_variants_need_labels(small_sdn):
    model = small_sdn()
    attack = create_attack("deepsloth_hurt_accuracy", model, norm="linf", eps=0.1, settings=SlowdownConfig())
    with pytest.raises(ValueError, match="labels"):
        attack(torch.zeros(2, 1, 8, 8), None)
