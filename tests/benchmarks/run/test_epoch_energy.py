"""Power over time: a real tiny run writes each epoch's energy per device kind, seconds and mean power to
metrics.jsonl and W&B (offline), and the record keeps the series; the epochs add up to the training energy."""
from __future__ import annotations

import json

import pytest

from benchmarks.measurement.epochs import EPOCH_KEYS, epoch_series
from tests.benchmarks._training_helpers import run_cli
from tests.benchmarks.test_tracking import wandb_contents

FAST = ["training.epochs=3", "training.warmup_epochs=0", "attack.steps=1", "training.select_subset=32",
        "training.select_pgd_steps=1", "evaluation.pgd_steps=1", "evaluation.autoattack=[apgd-ce]",
        "evaluation.autoattack_n=8", "measurement.tdp_watts=10", "measurement.energy_source=none",
        "tracking.wandb=offline"]


@pytest.mark.slow  # a real 3-epoch run with W&B offline: ~45 s on the 2-core CI host
def test_per_epoch_energy_sums_to_the_training_energy(tmp_path, tiny_recipe):
    results = tmp_path / "runs"
    args = ["run", tiny_recipe, "--index", 0, "--results", results, "--no-flops", "--no-progress"]
    for item in FAST:
        args += ["--set", item]
    env = {"WANDB_MODE": "offline", "WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_API_KEY": "",
           "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}
    done = run_cli(args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = [p for p in results.iterdir() if (p / "result.json").exists()]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(set(EPOCH_KEYS) <= set(r) for r in rows)
    record = json.loads((run_dir / "result.json").read_text())
    energy = record["energy"]
    # the labelled TDP estimate of a CPU run (no counter here): its kind is the CPU
    assert energy["source"] == "estimate-tdp" and energy["includes"] == ["cpu"]
    for r in rows:
        assert r["train_cpu_j"] > 0 and r["train_gpu_j"] is None and r["train_dram_j"] is None
        # the estimate's clock and the window's are read a moment apart (as in the two-node test)
        assert r["train_power_w"] == pytest.approx(10.0, rel=1e-4) and r["train_energy_j"] == r["train_cpu_j"]
        assert r["train_energy_seconds"] == pytest.approx(r["train_seconds"], rel=0.05, abs=0.05)
    assert sum(r["train_energy_j"] for r in rows) == pytest.approx(energy["train_j"], rel=0.01)
    assert energy["epochs"] == [[r["epoch"], r["train_energy_seconds"], None, r["train_cpu_j"], None] for r in rows]
    _, history, _ = wandb_contents(str(run_dir), record["run_id"])
    logged = [h for h in history if "train_power_w" in h]
    assert [h["epoch"] for h in logged] == [1, 2, 3]
    assert [h["train_cpu_j"] for h in logged] == pytest.approx([r["train_cpu_j"] for r in rows])


def test_the_record_series_is_bounded_and_keeps_the_sum(monkeypatch):
    rows = [{"epoch": e, "train_energy_seconds": 2.0, "train_gpu_j": 100.0 + e, "train_cpu_j": 10.0,
             "train_dram_j": None} for e in range(1, 1001)]
    monkeypatch.setenv("ROBUSTPERF_MAX_EPOCH_SERIES", "300")
    series = epoch_series(rows)
    assert len(series) <= 300 and series[-1][0] == 1000
    assert sum(s[2] for s in series) == pytest.approx(sum(r["train_gpu_j"] for r in rows))
    assert sum(s[1] for s in series) == pytest.approx(2000.0) and all(s[4] is None for s in series)
    assert epoch_series([{"epoch": 1}]) is None
