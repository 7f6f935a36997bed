"""Every training method of recipes/methods-digits.yaml trains for real; free training and AWP across its warm-up
resume bit-identically after SIGKILL."""
from __future__ import annotations

import pytest
import torch

from benchmarks import load_dataset, load_model
from benchmarks.attacks import create_attack
from benchmarks.interruption import TEST_INTERRUPT_ENV
from benchmarks.run import execute
from recipes import load_recipe
from results import load_record
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture
from tests.benchmarks.training.test_resume import _metrics, _same
from tests.conftest import ROOT

RECIPE = ROOT / "recipes" / "methods-digits.yaml"
EPS = 0.2


def _accuracy(model):
    x, y = load_dataset("digits", "test")
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item() * 100
    attack = create_attack("pgd", model, norm="linf", eps=EPS, steps=10, step_size=2.5 * EPS / 10)
    x_adv = attack(x, y, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        robust = (model(x_adv).argmax(1) == y).float().mean().item() * 100
    return clean, robust


def _train(index, results):
    spec = load_recipe(str(RECIPE)).run(index)
    assert execute(spec, str(results), recipe_name="methods-digits", progress=False, evaluate=False,
                   count_flops=False) == 0
    assert load_record(str(results), spec.run_id)["status"] == "completed"
    return spec, _accuracy(load_model(str(results / spec.run_id), "last"))


@pytest.mark.slow
def test_standard_is_less_robust_than_at(tmp_path):
    (standard, (clean_std, pgd_std)), (at, (clean_at, pgd_at)) = _train(0, tmp_path), _train(3, tmp_path)
    assert standard.config["training"]["loss"] == "standard" and at.config["training"]["loss"] == "at"
    assert clean_std > 80.0 and clean_at > 60.0
    assert pgd_std < pgd_at and pgd_at > 10.0


#: the cheapest methods (a few seconds each) train in the fast tier as well; the others are slow
SLOW = pytest.mark.slow


@pytest.mark.parametrize("index", [1, 2, pytest.param(4, marks=SLOW), pytest.param(5, marks=SLOW),
                                   pytest.param(6, marks=SLOW), pytest.param(7, marks=SLOW)],
                         ids=["fgsm_rs", "free", "trades", "mart", "at-awp", "trades-awp"])
def test_each_method_trains_above_chance(tmp_path, index):
    spec, (clean, robust) = _train(index, tmp_path)
    assert clean > 60.0, (spec.name, clean)
    assert robust > 10.0, (spec.name, robust)


def _args(results, index, extra):
    args = ["run", RECIPE, "--index", index, "--no-eval", "--no-progress", "--checkpoint-steps", 4,
            "--results", results]
    for item in ["data.batch_size=128", *extra]:
        args += ["--set", item]
    return args


#: (recipe row, overrides, kill points): 11 steps per epoch, checkpoints every 4 steps.
RESUMES = {
    # free (m = 3): killed mid-epoch 1 with the carried perturbation in the checkpoint, then in epoch 2
    "free": (2, [], ["step:6", "step:9"]),
    # trades + AWP from epoch 2: killed before the warm-up ends, then after it
    "trades-awp": (7, ["training.epochs=2"], ["step:6", "step:10"]),
}


@pytest.mark.timeout(600)
@pytest.mark.slow
@pytest.mark.parametrize("name", list(RESUMES))
def test_sigkill_then_resume_is_bit_identical(tmp_path, name, cached_run):
    index, extra, kills = RESUMES[name]
    spec = load_recipe(str(RECIPE), ["data.batch_size=128", *extra]).run(index)
    cached_run(_args(tmp_path / "reference", index, extra))  # the uninterrupted run: trained once, cached
    for point in [*kills, None]:
        result = run_cli(_args(tmp_path / "interrupted", index, extra),
                         env={TEST_INTERRUPT_ENV: point} if point else {})
        assert result.returncode == (0 if point is None else -9), (point, result.stderr)
    ref_dir, run_dir = tmp_path / "reference" / spec.run_id, tmp_path / "interrupted" / spec.run_id
    ref = torch.load(ref_dir / "checkpoint-last.pt", weights_only=True)
    got = torch.load(run_dir / "checkpoint-last.pt", weights_only=True)
    _same(ref, got)
    assert got["flops"]["step_counts"] == ref["flops"]["step_counts"]
    if name == "free":
        assert got["method"][0]["delta"].abs().max() > 0
    else:
        assert set(got["flops"]["step_counts"]) == {"plain|b128", "awp|b128"}
    assert _metrics(ref_dir) == _metrics(run_dir)
