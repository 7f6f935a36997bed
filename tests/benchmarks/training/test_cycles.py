"""The cyclic and one-cycle learning-rate schedules: the rate after each real training update equals the
schedule's formula computed here, and a checkpoint's schedule at the run's end still loads and steps."""
from __future__ import annotations

import math

import pytest

from benchmarks.training import DistInfo, Trainer
from benchmarks.training.optimizer import scheduler_state, try_schedule
from recipes import RunConfig
from recipes import load_recipe
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture
from tests.conftest import ROOT


def _trainer(scheduler, **training):
    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits", "batch_size": 64},
                               "model": {"arch": "wrn", "depth": 10, "width": 1},
                               "training": {"loss": "standard", "epochs": 2, "lr": 0.2, "lr_base_batch_size": 64, "val_size": 64,
                                            "scheduler": scheduler, **training}})
    return Trainer(cfg, DistInfo(), progress=False)


def _cyclic(t, total, peak, top):
    """Wong et al.: linear from 0 to top over the first peak of the updates, then linear to 0 at the last."""
    up = peak * total
    return top * t / up if t <= up else top * (total - t) / (total - up)


def _onecycle(t, total, peak, top):
    """Smith's one cycle as torch documents OneCycleLR: cosine from top/25 to top at step peak*total - 1, then
    cosine to top/25/1e4 at step total - 1."""
    start, end1, low = top / 25, peak * total - 1, top / 25 / 1e4

    def cos(a, b, frac):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * frac))

    return cos(start, top, t / end1) if t <= end1 else cos(top, low, (t - end1) / (total - 1 - end1))


@pytest.mark.parametrize("scheduler, peak, formula", [("cyclic", 0.4, _cyclic), ("cyclic", 0.5, _cyclic),
                                                      ("onecycle", 0.3, _onecycle)])
def test_the_rate_after_each_update_is_the_schedules_formula(scheduler, peak, formula):
    trainer = _trainer(scheduler, cycle_peak=peak)
    steps = len(trainer.batches)
    total = 2 * steps
    assert trainer.scheduler is not None and not trainer.schedule_per_epoch
    rates = [trainer.lr_now]
    for epoch in range(2):
        trainer.epoch = epoch
        for step, x, y in trainer.batches.epoch(epoch, 0, trainer.device):
            trainer.step = step
            trainer.train_step(x, y)
            rates.append(trainer.lr_now)
    assert trainer.global_step == total
    expected = [formula(t, total, peak, 0.2) for t in range(total + 1)]
    assert rates == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if scheduler == "cyclic":
        assert max(rates) <= 0.2 + 1e-12 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.0, abs=1e-12)
    # a checkpoint written at the run's end: its schedule loads into a scratch copy and steps on without error
    try_schedule(trainer.cfg.training, trainer.lr, steps, scheduler_state(trainer.scheduler), 2, total)
    # and a fresh trainer that loads it is where the run ended
    other = _trainer(scheduler, cycle_peak=peak)
    other.scheduler.load_state_dict(trainer.scheduler.state_dict())
    other.scheduler.step_update(num_updates=total)
    assert other.lr_now == pytest.approx(rates[-1], abs=1e-12)


def test_cycle_peak_enters_the_run_id_only_with_a_cyclic_schedule(tiny_recipe):
    base = load_recipe(str(tiny_recipe)).runs()[0]
    other_peak = load_recipe(str(tiny_recipe), ["training.cycle_peak=0.5"]).runs()[0]
    assert other_peak.run_id == base.run_id  # the tiny recipe's schedule reads no peak
    cyc = load_recipe(str(tiny_recipe), ["training.scheduler=cyclic"]).runs()[0]
    cyc5 = load_recipe(str(tiny_recipe), ["training.scheduler=cyclic", "training.cycle_peak=0.5"]).runs()[0]
    assert len({base.run_id, cyc.run_id, cyc5.run_id}) == 3


def test_the_fast_recipe_runs_fgsm_rs_and_n_fgsm_as_their_papers():
    runs = load_recipe(str(ROOT / "recipes" / "fast-cifar10.yaml")).runs()
    by = {r.config["training"]["loss"]: r.config for r in runs}
    assert set(by) == {"fgsm_rs", "n_fgsm"} and len(runs) == 6
    for cfg in by.values():
        t = cfg["training"]
        assert (t["scheduler"], t["lr"], t["lr_base_batch_size"], cfg["data"]["batch_size"]) == ("cyclic", 0.2, 128, 128)
        assert cfg["model"]["arch"] == "preact_resnet18" and cfg["attack"]["eps"] == pytest.approx(8 / 255)
    assert (by["fgsm_rs"]["training"]["epochs"], by["fgsm_rs"]["training"]["cycle_peak"],
            by["fgsm_rs"]["training"]["fgsm_alpha"]) == (15, 0.4, 1.25)
    t = by["n_fgsm"]["training"]
    assert (t["epochs"], t["cycle_peak"], t["nfgsm_noise"], t["nfgsm_alpha"], t["nfgsm_clip"]) == (30, 0.5, 2.0, 1.0,
                                                                                                 None)
