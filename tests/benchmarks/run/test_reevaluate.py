"""A completed run is re-evaluated and re-priced, never retrained: run identity = what changes the weights."""
from __future__ import annotations

import hashlib
import json

import pytest

from launchers.plan import plan_launch
from recipes import load_recipe
from results import load_record
from tests.benchmarks._training_helpers import run_cli

FAST = ["training.epochs=1", "training.warmup_epochs=0", "attack.steps=1", "training.select_subset=64",
        "training.select_pgd_steps=2", "evaluation.pgd_steps=2", "evaluation.autoattack=[apgd-ce]",
        "measurement.tdp_watts=10"]


def _args(recipe, results, *sets):
    args = ["run", recipe, "--index", 0, "--results", results, "--no-flops", "--no-progress"]
    for item in (*FAST, *sets):
        args += ["--set", item]
    return args


def _run(recipe, results, *sets):
    done = run_cli(_args(recipe, results, *sets))
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _digests(run_dir):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.glob("checkpoint-*.pt"))}


@pytest.fixture
def completed(cached_run, tmp_path_factory, tiny_recipe):
    """(results, spec): run 0, trained and evaluated on 8 points (cached; each test gets its own copy)."""
    results = tmp_path_factory.mktemp("runs")
    cached_run(_args(tiny_recipe, results, "evaluation.autoattack_n=8"))
    spec = load_recipe(str(tiny_recipe), [*FAST, "evaluation.autoattack_n=8"]).run(0)
    return results, spec


@pytest.mark.slow  # trains and re-evaluates (~11 s)
def test_other_evaluation_settings_reevaluate_without_retraining(completed, tiny_recipe):
    results, spec = completed
    run_dir = results / spec.run_id
    before = load_record(str(results), spec.run_id)
    checkpoints, metrics = _digests(run_dir), (run_dir / "metrics.jsonl").read_bytes()
    assert before["accuracy"]["autoattack_n"] == 8 and len(before["evaluations"]) == 1

    # the same run id: evaluation settings are not part of the identity
    again = load_recipe(str(tiny_recipe), [*FAST, "evaluation.autoattack_n=16"]).run(0)
    assert again.run_id == spec.run_id
    done = _run(tiny_recipe, results, "evaluation.autoattack_n=16")
    assert "re-evaluated" in done.stdout and "starting" not in done.stdout
    after = load_record(str(results), spec.run_id)
    assert _digests(run_dir) == checkpoints and (run_dir / "metrics.jsonl").read_bytes() == metrics
    assert after["accuracy"]["autoattack_n"] == 16 and after["config"]["evaluation"]["autoattack_n"] == 16
    assert after["training"] == before["training"] and after["job"]["attempts"] == before["job"]["attempts"]
    assert len(after["evaluations"]) == 2 and after["status"] == "completed"
    assert after["evaluation"]["key"] != before["evaluation"]["key"]

    # going back is free: the stored evaluation becomes the headline again, nothing is evaluated
    back = _run(tiny_recipe, results, "evaluation.autoattack_n=8")
    assert "stored evaluation" in back.stdout
    record = load_record(str(results), spec.run_id)
    assert record["accuracy"] == before["accuracy"] and record["evaluation"]["key"] == before["evaluation"]["key"]
    assert len(record["evaluations"]) == 2 and _digests(run_dir) == checkpoints

    # and a plain rerun with the same settings does nothing
    same = _run(tiny_recipe, results, "evaluation.autoattack_n=8")
    assert "already completed" in same.stdout


def test_launch_agrees_on_what_is_done(completed, tiny_recipe):
    results, spec = completed
    for n, done in ((8, True), (32, False)):
        recipe = load_recipe(str(tiny_recipe), [*FAST, f"evaluation.autoattack_n={n}"])
        plan = plan_launch(recipe.runs()[:1], str(results), {}, "local")
        assert [r.run_id for r in plan.completed] == ([spec.run_id] if done else [])
        assert [r.run_id for r in plan.reevaluate] == ([] if done else [spec.run_id])
        assert [r.run_id for r in plan.submit] == ([] if done else [spec.run_id])


def test_rerun_with_another_price_reprices_exactly(completed, tiny_recipe):
    results, spec = completed
    record = load_record(str(results), spec.run_id)
    assert record["energy"]["device_j"] > 0 and record["pricing"]["usd_per_kwh"] == 0.12
    done = _run(tiny_recipe, results, "evaluation.autoattack_n=8", "measurement.usd_per_kwh=0.24")
    assert "re-priced" in done.stdout
    repriced = load_record(str(results), spec.run_id)
    assert repriced["cost"]["electricity_usd"] == 2 * record["cost"]["electricity_usd"]
    assert repriced["energy"] == record["energy"] and repriced["pricing"]["usd_per_kwh"] == 0.24
    _run(tiny_recipe, results, "evaluation.autoattack_n=8")  # back to the recipe's price
    assert load_record(str(results), spec.run_id)["cost"] == record["cost"]
    assert json.loads((results / spec.run_id / "result.json").read_text())["schema_version"] == "1.1"


def test_another_evaluation_attack_is_another_stored_evaluation(completed, tiny_recipe):
    """evaluation.attack joined the settings after evaluations were first stored: the default (pgd) keeps every
    stored key, another attack re-evaluates into its own entry."""
    from results.evaluations import evaluation_key, evaluation_settings

    results, spec = completed
    before = load_record(str(results), spec.run_id)
    evaluation = dict(spec.config["evaluation"])
    assert "attack" not in evaluation_settings(evaluation)
    assert evaluation_key(evaluation_settings(evaluation)) == before["evaluation"]["key"]
    assert "attack" in evaluation_settings({**evaluation, "attack": "fgm"})
    done = _run(tiny_recipe, results, "evaluation.autoattack_n=8", "evaluation.attack=fgm")
    assert "re-evaluated" in done.stdout and "starting" not in done.stdout
    after = load_record(str(results), spec.run_id)
    assert after["evaluation"]["key"] != before["evaluation"]["key"] and len(after["evaluations"]) >= 2
    assert after["config"]["evaluation"]["attack"] == "fgm"
    assert after["evaluations"][after["evaluation"]["key"]]["settings"]["attack"] == "fgm"
