"""Time, energy and FLOPs to a benchmark's target (the record's ``to_target`` group), from real ``robustperf run``
processes of the digits benchmark's reference recipe: the group agrees with the run's own per-epoch metrics, a
run with ``stop_at_target`` stops at that epoch and records its confirmation, a run that never reaches the target
says so, a killed and resumed run reports exactly what an uninterrupted one does, and the MLPerf log names the
benchmark and its division and ends as MLPerf's rules expect."""
from __future__ import annotations

import json
import os

import pytest
import torch
import yaml

from benchmarks.interruption import TEST_INTERRUPT_ENV
from recipes import load_recipe
from recipes.benchmark import get_benchmark
from results import J_PER_KWH, load_record
from tests.benchmarks._training_helpers import run_cli
from tests.benchmarks.test_mllog_compliance import _check, _common_rules, _events
from tests.conftest import ROOT

# the slow tier (make test-all): benchmark runs trained to their target and confirmed (15-30 s each)
pytestmark = pytest.mark.slow

REFERENCE = ROOT / "recipes" / "benchmark-digits-linf-0.2.yaml"
BENCH = get_benchmark("digits-linf-0.2")
ARGS = ["--index", "0", "--device", "cpu", "--no-progress"]


def _run(cached_run, dest, *sets):
    args = ["run", REFERENCE, *ARGS, "--results", dest]
    for item in sets:
        args += ["--set", item]
    folder = cached_run(args)
    spec = load_recipe(str(REFERENCE), list(sets)).run(0)
    return folder / spec.run_id, load_record(str(folder), spec.run_id)


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def stopped(cached_run, tmp_path):
    """The reference run (seed 0, closed division, stop_at_target), cached."""
    return _run(cached_run, tmp_path / "stopped")


def _first_reaching(rows):
    return next(row["epoch"] for row in rows if row["pgd_subset"] >= BENCH.target)


@pytest.mark.timeout(600)
def test_to_target_agrees_with_the_runs_own_per_epoch_metrics(stopped):
    run_dir, record = stopped
    rows = _metrics(run_dir)
    target = record["to_target"]
    epoch = _first_reaching(rows)
    assert target["benchmark"] == "digits-linf-0.2" and target["division"] == "closed"
    assert target["reached"] is True and target["epoch"] == epoch and target["accuracy"] == rows[epoch - 1]["pgd_subset"]
    assert target["target"] == BENCH.target and target["metric"] == "robust_accuracy"
    assert all(row["pgd_subset"] < BENCH.target for row in rows[:epoch - 1])
    upto = rows[:epoch]
    # FLOPs and energy up to the target epoch are the sums of the per-epoch figures
    assert target["train_flops"] == sum(row["train_flops"] for row in upto) > 0
    assert target["device_j"] == pytest.approx(sum(row["device_j"] for row in upto), rel=1e-9)
    assert target["seconds"] == pytest.approx(sum(row["train_seconds"] + row["eval_seconds"] for row in upto),
                                              rel=1e-9)
    # every epoch has the same steps: its FLOPs are one epoch's worth, and the whole run's (stopped there) agree
    assert len({row["train_flops"] for row in rows}) == 1
    assert record["flops"]["train_total"] == target["train_flops"]
    # priced with the run's own constants (the record's pricing group)
    pricing = record["pricing"]
    kwh = target["device_j"] / J_PER_KWH * pricing["pue"]
    assert target["kwh"] == pytest.approx(kwh, rel=1e-12)
    assert target["usd"] == pytest.approx(kwh * pricing["usd_per_kwh"], rel=1e-12)
    assert target["co2_kg"] == pytest.approx(kwh * pricing["kg_co2_per_kwh"], rel=1e-12)
    assert target["energy_source"] == record["energy"]["source"]


@pytest.mark.timeout(600)
def test_stop_at_target_stops_at_that_epoch_and_records_its_confirmation(stopped):
    run_dir, record = stopped
    target = record["to_target"]
    assert record["status"] == "completed" and record["training"]["epochs"] == 10
    assert record["training"]["epochs_completed"] == target["epoch"] == len(_metrics(run_dir)) < 10
    state = torch.load(run_dir / "checkpoint-target.pt", weights_only=True)
    assert state["epoch"] == target["epoch"] and record["checkpoints"]["target"] == "checkpoint-target.pt"
    best = torch.load(run_dir / "checkpoint-best.pt", weights_only=True)
    assert all(torch.equal(best["model"][k], v) for k, v in state["model"].items())  # the first to reach it
    confirmation = target["confirmation"]
    assert confirmation["attack"] == "autoattack-apgd-ce" and confirmation["n"] == 360
    assert confirmation["checkpoint"] == "target" and confirmation["epoch"] == target["epoch"]
    assert confirmation["tolerance"] == BENCH.confirmation.tolerance
    assert confirmation["confirmed"] == (confirmation["robust_accuracy"] >= BENCH.target - BENCH.confirmation.tolerance)
    assert confirmation["confirmed"] is True
    assert 0 <= confirmation["robust_accuracy"] <= confirmation["clean_accuracy"] <= 100
    assert (run_dir / "evaluation" / "target" / "autoattack-state.json").is_file()


@pytest.mark.timeout(600)
def test_a_run_that_never_reaches_the_target_says_reached_false(cached_run, tmp_path):
    run_dir, record = _run(cached_run, tmp_path / "missed", "training.epochs=1")
    target = record["to_target"]
    assert record["status"] == "completed" and _metrics(run_dir)[0]["pgd_subset"] < BENCH.target
    assert target["reached"] is False and target["benchmark"] == "digits-linf-0.2"
    assert all(target[k] is None for k in ("epoch", "seconds", "train_flops", "device_j", "kwh", "usd", "co2_kg",
                                           "confirmation"))
    assert not (run_dir / "checkpoint-target.pt").exists() and record["checkpoints"]["target"] is None
    events = _events(run_dir / "mllog.txt")
    assert events[-1]["key"] == "run_stop" and events[-1]["metadata"]["status"] == "aborted"


def _benchmark_rules(ruleset, folder, benchmark):
    """The ruleset's common rules with the division's enqueue removed (tests/benchmarks/test_mllog_compliance.py)
    and the benchmark-name rule accepting ``benchmark`` (the suite's own ruleset is robustperf check's)."""
    path = _common_rules(ruleset, folder)
    rules = yaml.safe_load(open(path))
    for rule in rules:
        if "KEY" in rule and rule["KEY"]["NAME"] == "submission_benchmark":
            rule["KEY"]["CHECK"] = f" v['value'] == '{benchmark}' "
            rule["KEY"].pop("POST", None)
    with open(path, "w") as fh:
        yaml.safe_dump(rules, fh)
    return path


@pytest.mark.timeout(600)
def test_the_mllog_names_the_benchmark_and_logs_the_targets_metric(stopped, tmp_path):
    run_dir, record = stopped
    events = _events(run_dir / "mllog.txt")
    keys = [e["key"] for e in events]
    value = {e["key"]: e["value"] for e in events}
    assert keys.count("submission_benchmark") == 1 and value["submission_benchmark"] == "digits-linf-0.2"
    assert value["submission_division"] == "closed" and "robustperf_benchmark" not in keys
    assert value["robustperf_target"] == BENCH.target
    epochs = [e for e in events if e["key"] == "eval_accuracy"]
    assert [e["value"] for e in epochs] == [row["pgd_subset"] for row in _metrics(run_dir)]
    assert [e["metadata"]["epoch_num"] for e in epochs] == [row["epoch"] for row in _metrics(run_dir)]
    assert all(e["metadata"]["robustperf_metric"] == "robust_accuracy" for e in epochs)
    final = {e["key"]: e for e in events if e["metadata"].get("robustperf_final")}
    assert final["robustperf_clean_accuracy"]["value"] == record["accuracy"]["clean"]
    assert final["robustperf_to_target"]["value"] == {k: v for k, v in record["to_target"].items()
                                                        if k != "confirmation"}
    assert final["robustperf_confirmation"]["value"] == record["to_target"]["confirmation"]["robust_accuracy"]
    assert keys.count("run_stop") == 1 and keys[-1] == "run_stop" and events[-1]["metadata"]["status"] == "success"
    for ruleset in ("5.1.0", "6.1.0"):
        code, out = _check(run_dir / "mllog.txt", ruleset, str(tmp_path),
                           _benchmark_rules(ruleset, str(tmp_path), "digits-linf-0.2"))
        assert code == 0 and "SUCCESS" in out, out


#: (kill point of the attempt, its exit code); 18 steps per epoch, checkpoints every 4 steps too
CHAIN = [
    ("step:30", -9),             # epoch 2 step 12, before its checkpoint -> resumes mid-epoch from step 8
    ("epoch_eval:2", -9),        # during epoch 3's check: the epoch that reaches the target
    ("apgd-ce:1", -9),           # in the confirmation, after its AutoAttack batch was committed
    (None, 0),
]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kill_and_resume_keeps_to_target_exact(stopped, tmp_path):
    ref_dir, reference = stopped
    spec = load_recipe(str(REFERENCE)).run(0)
    args = ["run", REFERENCE, *ARGS, "--checkpoint-steps", "4", "--results", tmp_path / "killed"]
    logs = []
    for point, expected in CHAIN:
        done = run_cli(args, env={TEST_INTERRUPT_ENV: point} if point else {})
        logs.append(done.stdout)
        assert done.returncode == expected, (point, done.stdout[-2000:], done.stderr[-2000:])
    assert "at epoch 2, step 8 " in logs[1] and "at epoch 3, step 16 " in logs[2]
    run_dir = tmp_path / "killed" / spec.run_id
    record = load_record(str(tmp_path / "killed"), spec.run_id)
    target, ref = record["to_target"], reference["to_target"]
    assert record["status"] == "completed" and record["job"]["attempts"] == len(CHAIN)
    # what training reached is bit-identical to the uninterrupted run's; what was measured adds up per epoch
    for key in ("reached", "epoch", "accuracy", "train_flops"):
        assert target[key] == ref[key], key
    rows = _metrics(run_dir)
    assert [r["pgd_subset"] for r in rows] == [r["pgd_subset"] for r in _metrics(ref_dir)]
    upto = rows[:target["epoch"]]
    assert target["train_flops"] == sum(r["train_flops"] for r in upto)
    assert target["device_j"] == pytest.approx(sum(r["device_j"] for r in upto), rel=1e-9)
    assert target["seconds"] == pytest.approx(sum(r["train_seconds"] + r["eval_seconds"] for r in upto), rel=1e-9)
    confirmation = target["confirmation"]
    assert {k: confirmation[k] for k in ("robust_accuracy", "clean_accuracy", "n", "confirmed")} == \
        {k: ref["confirmation"][k] for k in ("robust_accuracy", "clean_accuracy", "n", "confirmed")}
    a = torch.load(run_dir / "checkpoint-target.pt", weights_only=True)
    b = torch.load(ref_dir / "checkpoint-target.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    keys = [e["key"] for e in _events(run_dir / "mllog.txt")]
    assert keys.count("submission_benchmark") == 1 and keys.count("run_stop") == 1
    assert not [p for p in os.listdir(run_dir) if p.startswith(".tmp-")]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_without_stop_at_target_the_run_goes_on_and_reports_the_same_target(stopped, cached_run, tmp_path):
    _, reference = stopped
    run_dir, record = _run(cached_run, tmp_path / "on", "training.stop_at_target=false")
    target, ref = record["to_target"], reference["to_target"]
    assert record["training"]["epochs_completed"] == 10 and len(_metrics(run_dir)) == 10
    for key in ("reached", "epoch", "accuracy", "train_flops"):
        assert target[key] == ref[key], key
    assert record["flops"]["train_total"] == 10 * _metrics(run_dir)[0]["train_flops"] > target["train_flops"]
    assert target["confirmation"]["robust_accuracy"] == ref["confirmation"]["robust_accuracy"]
    # a re-evaluation keeps to_target and rewrites the log's final section once
    done = run_cli(["evaluate", run_dir, "--which", "last", "--device", "cpu"])
    assert done.returncode == 0, done.stderr
    again = json.loads((run_dir / "result.json").read_text())
    assert again["to_target"] == record["to_target"]
    keys = [e["key"] for e in _events(run_dir / "mllog.txt")]
    assert keys.count("robustperf_to_target") == 1 and keys.count("run_stop") == 1
