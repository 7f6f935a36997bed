"""Executed forward FLOPs (DeepSpeed): the convention, no double counting, and the passes of a real train step."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.measurement import count_forward_flops, forward_flops_per_sample, train_flops


def _tiny():
    # conv 3->8 (3x3, no bias) on 8x8, BN, ReLU, global pool, linear 8->10 with bias
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Sequential(nn.Linear(8, 10)))


CONV_MACS = 8 * 3 * 9 * 8 * 8
LINEAR_MACS = 8 * 10
ELEMS = 8 * 8 * 8   # elements of the conv output


def test_deepspeed_convention_by_hand():
    """2 x MACs for conv/linear (+1 per output for a conv bias); BN 2 (eval) or 5 (train) per element; ReLU, pool 1."""
    model = _tiny()
    eval_ = forward_flops_per_sample(model, (3, 8, 8))
    expected_eval = 2 * CONV_MACS + 2 * ELEMS + ELEMS + ELEMS + 2 * LINEAR_MACS
    assert eval_ == {"params": sum(p.numel() for p in model.parameters()), "forward_macs": CONV_MACS + LINEAR_MACS,
                     "forward_flops": expected_eval}
    train = forward_flops_per_sample(model, (3, 8, 8), train=True)
    assert train["forward_flops"] == expected_eval + 3 * ELEMS


def test_profiling_leaves_the_model_and_torch_as_they_were():
    model = _tiny().train()
    model[1].running_mean.fill_(0.5)
    conv2d = F.conv2d
    forward_flops_per_sample(model, (3, 8, 8), train=True)
    assert model.training and torch.all(model[1].running_mean == 0.5) and model[1].num_batches_tracked == 0
    assert F.conv2d is conv2d
    with pytest.raises(ZeroDivisionError):
        count_forward_flops(model, lambda: (model(torch.zeros(2, 3, 8, 8)), 1 / 0))
    assert F.conv2d is conv2d and not hasattr(model[0], "__flops__")


def test_every_forward_counts_once_and_only_the_model():
    model = _tiny().eval()
    per_sample = forward_flops_per_sample(model, (3, 8, 8))["forward_flops"]
    x = torch.randn(4, 3, 8, 8, requires_grad=True)

    def work():
        for _ in range(3):                         # three forwards of a batch of 4
            loss = F.cross_entropy(model(x), torch.zeros(4, dtype=torch.long))
            loss.backward()                        # backward passes are not forwards
        torch.matmul(torch.ones(5, 5), torch.ones(5, 5))  # outside the model: not counted

    assert count_forward_flops(model, work) == 3 * 4 * per_sample
    # Nesting the model in a wrapper does not double count its modules.
    wrapper = nn.Sequential(model)
    assert count_forward_flops(wrapper, lambda: wrapper(x)) == 4 * per_sample


def test_train_flops_is_three_forwards_per_step_over_ranks():
    assert train_flops(10, steps=7, world_size=4) == 3 * 10 * 7 * 4
    assert train_flops(10, steps=7) == 210


#: Forward passes per sample of one training step, as the implementation does them:
#: (eval-mode passes of the attack, train-mode passes of the loss). AT-k: k PGD forwards, then the loss on
#: x_adv. TRADES-k: one clean forward for the KL target plus k ascent forwards, then one forward of
#: cat([x, x_adv]) (2 samples per sample).
PASSES = {"at": lambda k: (k, 1), "trades": lambda k: (k + 1, 2)}


@pytest.mark.parametrize("loss, k", [("at", 1), ("at", 10), ("trades", 1), ("trades", 10)])
def test_train_step_executes_the_implied_passes(loss, k):
    """The count on the training helper's real step equals batch x passes x per-sample FLOPs (per mode)."""
    from benchmarks.training import DistInfo, Trainer
    from recipes import RunConfig

    cfg = RunConfig.from_dict({
        "seed": 0, "data": {"name": "digits", "batch_size": 8},
        "model": {"arch": "wrn", "depth": 10, "width": 1},
        "training": {"loss": loss, "epochs": 1, "warmup_epochs": 0},
        "attack": {"eps": 0.1, "steps": k}})
    trainer = Trainer(cfg, DistInfo(), progress=False)
    x, y = trainer.batches.batch(0, 0)
    shape = tuple(x.shape[1:])
    per_eval = forward_flops_per_sample(trainer.model, shape)["forward_flops"]
    per_train = forward_flops_per_sample(trainer.model, shape, train=True)["forward_flops"]
    attack_passes, train_passes = PASSES[loss](k)
    measured = count_forward_flops(trainer.model, lambda: trainer.train_step(x, y))
    assert measured == len(y) * (attack_passes * per_eval + train_passes * per_train)
