"""The DeepSloth digits recipe end to end: sdn_ic_only training (resumable across its phase boundary) and the
evaluation.slowdown workload filling the record's slowdown group, collected into the table."""
from __future__ import annotations

import pytest
import torch

from benchmarks.interruption import TEST_INTERRUPT_ENV
from recipes import load_recipe
from tests.benchmarks._training_helpers import run_cli
from tests.benchmarks.training.test_resume import _metrics, _same
from tests.conftest import ROOT

RECIPE = ROOT / "recipes" / "deepsloth-digits.yaml"
#: 1221 training images (15 % held out) at batch 128: 9 steps per epoch; 2 backbone epochs, then 1 IC epoch.
SHORT = ["data.batch_size=128", "training.epochs=3", "training.sdn_ic_epochs=1"]


def _args(results, extra=()):
    args = ["run", RECIPE, "--index", 0, "--no-eval", "--no-progress", "--checkpoint-steps", 4, "--results", results]
    for item in [*SHORT, *extra]:
        args += ["--set", item]
    return args


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_sdn_ic_only_resumes_bit_identically_across_the_phase_boundary(tmp_path, cached_run):
    spec = load_recipe(str(RECIPE), SHORT).run(0)
    cached_run(_args(tmp_path / "reference"))  # the uninterrupted run: trained once, cached
    # killed at epoch 3 step 3 (resumes at the phase boundary), then 6 steps later (resumes mid IC phase)
    for point in ["step:21", "step:6", None]:
        result = run_cli(_args(tmp_path / "interrupted"), env={TEST_INTERRUPT_ENV: point} if point else {})
        assert result.returncode == (0 if point is None else -9), (point, result.stderr)
    ref_dir, run_dir = tmp_path / "reference" / spec.run_id, tmp_path / "interrupted" / spec.run_id
    ref = torch.load(ref_dir / "checkpoint-last.pt", weights_only=True)
    got = torch.load(run_dir / "checkpoint-last.pt", weights_only=True)
    _same(ref, got)
    assert {k.split("|")[0] for k in got["flops"]["step_counts"]} == {"backbone", "ic"}
    assert got["method"][0]["ic_optimizer"]["state"]   # Adam's moments went through the checkpoint
    assert _metrics(ref_dir) == _metrics(run_dir)


@pytest.mark.slow
def test_run_0_trains_an_sdn_and_deepsloth_cuts_its_efficacy(tmp_path):
    from benchmarks.run import execute
    from results import load_record
    from scaling.table import collect

    spec = load_recipe(str(RECIPE)).run(0)
    assert spec.run_config().training.loss == "sdn_ic_only"
    assert execute(spec, str(tmp_path), progress=False) == 0
    record = load_record(str(tmp_path), spec.run_id)
    group = record["slowdown"]
    assert group["num_exits"] == 7 and len(group["exit_cumulative_flops"]) == 7
    for part in group["by_rad"].values():
        for entry in [part["clean"], *part["attacks"].values()]:
            assert sum(entry["exit_fraction"]) == pytest.approx(1.0)
    clean, attacked = group["clean"], group["attacks"]["deepsloth_linf"]
    assert clean["accuracy"] > 80 and clean["efficacy"] > 0.5
    assert attacked["efficacy"] < clean["efficacy"] / 2 and attacked["mean_flops"] > clean["mean_flops"]
    assert group["calibration"]["feasible"] and group["source"]["val_n"] > 0
    table, problems = collect(str(tmp_path))
    assert not problems
    assert "slowdown.by_rad.rad5.attacks.deepsloth_linf.efficacy" in table.columns
    assert table["slowdown.clean.efficacy"].iloc[0] == pytest.approx(clean["efficacy"])


def test_cifar10_recipe_expands_to_the_papers_sdns_and_the_defence_grid():
    from recipes import catalog, slowdown_config

    runs = load_recipe(str(ROOT / "recipes" / "deepsloth-cifar10.yaml")).runs()
    pairs = {(r.config["model"]["arch"], r.config["training"]["loss"]) for r in runs}
    assert {a for a, _ in pairs} == {"sdn_vgg16", "sdn_resnet56", "sdn_mobilenet"}
    assert {m for a, m in pairs if a == "sdn_vgg16"} == {"sdn_ic_only", "sdn_ic_only_pgd", "sdn_ic_only_pgd_max",
                                                         "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd"}
    assert all(catalog.get("methods", m).multi_exit for _, m in pairs) and len(runs) == 7
    cfg = slowdown_config(runs[0].config["evaluation"]["slowdown"])
    assert cfg.rads == (0.05, 0.15) and set(cfg.norms) == {"linf", "l2", "l1"} and len(cfg.attacks) == 8
    assert "uap" in cfg.attacks
    assert cfg.linf_eps == 0.03125 and cfg.l2_steps == 550 and cfg.l1_eps == 8.0   # the paper's defaults
    assert all(r.config["data"]["holdout_fraction"] > 0 for r in runs)
