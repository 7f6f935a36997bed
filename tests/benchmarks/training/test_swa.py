"""SWA (Izmailov et al. 2018) next to EMA: the evaluated weights are the mean of the end-of-epoch weights from
training.swa_start on, their BatchNorm statistics recomputed from the training data, each epoch averaged once
across a resume; SWA and EMA together are refused."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from benchmarks.training import DistInfo, Trainer
from benchmarks.training.hooks import TrainHooks
from recipes import RunConfig
from recipes.errors import RecipeError
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


class _Keep(TrainHooks):
    """Keeps the model's weights at each epoch's end and each checkpoint's state."""

    def __init__(self):
        self.weights, self.states = [], {}

    def epoch_end(self, trainer, metrics):
        self.weights.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})

    def checkpoint(self, trainer, which, state):
        self.states[which] = copy.deepcopy(state)


def _cfg(**training):
    return RunConfig.from_dict({
        "seed": 0, "data": {"name": "digits", "batch_size": 128},
        "model": {"arch": "wrn", "depth": 10, "width": 1},
        "training": {"loss": "standard", "epochs": 3, "warmup_epochs": 0, "val_size": 64, "select_subset": 16,
                     "select_pgd_steps": 1, "swa_start": 2, **training},
        "attack": {"eps": 0.1}})


def test_swa_averages_the_end_of_epoch_weights_and_recomputes_batch_norm():
    hooks = _Keep()
    trainer = Trainer(_cfg(swa_lr=0.01), DistInfo(), hooks, progress=False)
    trainer.train()
    averaged = trainer.eval_model
    assert averaged is not trainer.model and trainer.ema.epochs == 2
    # the mean of epochs 2 and 3's weights (swa_start 2), computed here
    for name, p in averaged.named_parameters():
        expected = (hooks.weights[1][name] + hooks.weights[2][name]) / 2
        assert torch.allclose(p, expected, atol=1e-6), name
    assert not torch.allclose(next(averaged.parameters()), next(trainer.model.parameters()))
    # BatchNorm: the first BN layer's input is a convolution of the images alone; its running mean is the mean
    # over the last epoch's batches of each batch's channel means (update_bn's cumulative average)
    bn = next(m for m in averaged.modules() if isinstance(m, nn.BatchNorm2d))
    seen = []
    handle = bn.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().mean(dim=(0, 2, 3))))
    probe = copy.deepcopy(averaged).eval()
    handle.remove()
    pbn = next(m for m in probe.modules() if isinstance(m, nn.BatchNorm2d))
    pbn.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().mean(dim=(0, 2, 3))))
    with torch.no_grad():
        for _, x, _ in trainer.batches.epoch(2, 0, trainer.device):
            probe(x)
    assert torch.allclose(bn.running_mean, torch.stack(seen).mean(0), atol=1e-5)
    model_bn = next(m for m in trainer.model.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(bn.running_mean, model_bn.running_mean)
    # the SWA epochs ran at the constant swa_lr; the checkpoints keep the average as the evaluated weights
    assert [h["lr"] for h in trainer.history][1:] == [pytest.approx(0.01), pytest.approx(0.01)]
    last = hooks.states["last"]
    assert last["swa"] == {"epochs": 2}
    assert all(torch.equal(last["ema"][k], v) for k, v in averaged.state_dict().items())


@pytest.mark.slow
def test_swa_resumed_mid_run_averages_each_epoch_once():
    hooks = _Keep()
    whole = Trainer(_cfg(), DistInfo(), hooks, progress=False)
    whole.train()
    # stop after epoch 2 (the first SWA epoch) and resume from its checkpoint in a new trainer
    first = _Keep()
    part = Trainer(_cfg(epochs=3), DistInfo(), first, progress=False)
    steps = len(part.batches)
    for epoch in range(2):
        part._train_epoch_steps(steps)
        part._account(part.ema.epoch_end(0.0))
        part._end_epoch(*part.evaluate(), 0.0)
    state = first.states["last"]
    assert state["swa"] == {"epochs": 1}
    resumed = Trainer(_cfg(), DistInfo(), _Keep(), progress=False)
    resumed.load_state_dict(state)
    resumed.train()
    assert resumed.ema.epochs == 2
    for (name, a), b in zip(resumed.eval_model.state_dict().items(), whole.eval_model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


def test_swa_and_ema_together_are_a_recipe_error():
    with pytest.raises(RecipeError, match="one weight average"):
        _cfg(ema_decay=0.99)
    with pytest.raises(RecipeError, match="after the last epoch"):
        _cfg(swa_start=4)


def test_swa_keys_leave_ids_unchanged_at_their_defaults(tiny_recipe):
    from recipes import load_recipe

    base = load_recipe(str(tiny_recipe)).runs()[0]
    same = load_recipe(str(tiny_recipe), ["training.swa_lr=0.01"]).runs()[0]  # read only with swa_start
    swa = load_recipe(str(tiny_recipe), ["training.swa_start=1"]).runs()[0]
    assert same.run_id == base.run_id != swa.run_id
