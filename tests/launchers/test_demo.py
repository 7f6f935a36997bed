"""A reduced `robustperf demo`: every stage (launch, run, evaluate, collect, analyze) leaves its output.

The shipped demo recipe with its grid cut to 4 runs (WRN-10-2/10-1 x 2/1 epochs) and APGD-CE on 20 points
(`--recipe` with a copy of recipes/demo.yaml, and the same --set overrides a user would type).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

import results

REDUCED = ["--set", "evaluation.autoattack_n=20", "--set", "training.select_subset=64"]
DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "recipes",
                    "demo.yaml")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import yaml

    tmp = tmp_path_factory.mktemp("demo")
    recipe = yaml.safe_load(open(DEMO))
    recipe["grid"] = {"training.epochs": [2, 1], "model.width": [2, 1]}
    recipe.pop("exclude", None)
    (tmp / "demo.yaml").write_text(yaml.safe_dump(recipe))
    REDUCED[:0] = ["--recipe", str(tmp / "demo.yaml")]
    out = tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "robustperf", "demo", "--out", str(out), *REDUCED],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.mark.timeout(1200)
@pytest.mark.slow
def test_every_stage_leaves_its_output(demo):
    out, proc = demo
    records = [r for _, r, _ in results.iter_records(str(out / "runs"))]
    assert len(records) == 4 and all(r["status"] == "completed" for r in records)
    for r in records:
        assert r["flops"]["train_total"] > 0 and r["flops"]["source"] == "deepspeed"
        assert 0 <= r["accuracy"]["autoattack"] <= r["accuracy"]["pgd"] <= r["accuracy"]["clean"] <= 100
        assert r["accuracy"]["autoattack_n"] == 20
        assert r["energy"]["source"] in ("zeus", "nvidia-smi", "estimate-tdp")
        assert os.path.exists(out / "runs" / r["run_id"] / "mllog.txt")
    with open(out / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(row["run_id"] for row in rows) == sorted(r["run_id"] for r in records)
    report = json.loads((out / "analysis" / "report.json").read_text())
    assert report["envelope"]["C"] > 0 and report["envelope"]["n_bins"] == 19
    for name in ("report.md", "envelope.png", "envelope.pdf"):
        assert (out / "analysis" / name).exists()
    summary = proc.stdout[proc.stdout.index("== summary"):]
    for label in ("runs", "clean accuracy", "AutoAttack accuracy", "training FLOPs", "energy source",
                  "envelope law", "report"):
        assert label in summary
    assert "4 completed of 4" in summary
    assert "APGD-CE (a subset of AutoAttack) on 20 test points" in summary


@pytest.mark.timeout(1200)
@pytest.mark.slow
def test_the_demo_enters_the_benchmark_and_prints_the_board(demo):
    """digits-linf-0.2, closed division, the benchmark's repeats: submitted, checked valid, summarized, on the board."""
    from recipes.benchmark import get_benchmark
    from submissions.summary import read_submission

    out, proc = demo
    bench = get_benchmark("digits-linf-0.2")
    records = [r for _, r, _ in results.iter_records(str(out / "benchmark" / "runs"))]
    assert len(records) == bench.repeats and all(r["status"] == "completed" for r in records)
    assert sorted(r["config"]["seed"] for r in records) == list(range(bench.repeats))
    assert all(r["to_target"]["benchmark"] == bench.id and r["to_target"]["division"] == "closed" for r in records)
    submission = out / "benchmark" / "submission"
    check = subprocess.run([sys.executable, "-m", "robustperf", "check", str(submission)], capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    row = read_submission(str(submission)).row
    assert row["runs"] == bench.repeats and (out / "benchmark" / "summary.csv").exists()
    index = out / "benchmark" / "board" / "index.html"
    assert index.exists() and f"leaderboard           {index.resolve()}" in proc.stdout
    assert proc.stdout.index("== check") < proc.stdout.index("== board") < proc.stdout.index("== summary")


@pytest.mark.timeout(1200)
@pytest.mark.slow
def test_second_demo_reuses_finished_runs(demo):
    out, _ = demo
    before = {r["run_id"]: r["job"]["attempts"] for _, r, _ in results.iter_records(str(out / "runs"))}
    proc = subprocess.run([sys.executable, "-m", "robustperf", "demo", "--out", str(out), *REDUCED],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = {r["run_id"]: r["job"]["attempts"] for _, r, _ in results.iter_records(str(out / "runs"))}
    assert after == before  # nothing trained or evaluated again


# ---------------------------------------------------------------- the fast tier: no run is trained

def test_a_recipe_mistake_stops_the_demo_before_anything_runs(tmp_path, capsys):
    import robustperf

    out = tmp_path / "out"
    assert robustperf.main(["demo", "--out", str(out), "--set", "training.no_such_key=1"]) == 2
    err = capsys.readouterr().err
    assert "training.no_such_key" in err and "Traceback" not in err
    assert not out.exists()  # nothing launched, collected or analysed


def test_summary_names_the_attack_subset_and_its_points():
    from robustperf_demo import _attack_subset

    def record(autoattack, n):
        return {"config": {"evaluation": {"autoattack": autoattack}}, "accuracy": {"autoattack_n": n}}

    assert _attack_subset([record(["apgd-ce"], 20)] * 2) == "APGD-CE (a subset of AutoAttack) on 20 test points"
    assert _attack_subset([record("standard", 1000), record("standard", 360)]) == (
        "AutoAttack standard on 360/1000 test points")
    assert _attack_subset([]) == "n/a on ? test points"
