"""A trained run priced by place: rerunning a completed run with ``--set measurement.region=...`` re-prices its
record in its own folder (same run id, nothing retrained) and records where the intensity comes from."""
from __future__ import annotations

import json

import pytest

from recipes.carbon import lookup
from tests.benchmarks._training_helpers import run_cli
from tests.conftest import ROOT

ARGS = ["--no-eval", "--no-flops", "--no-progress", "--set", "training.epochs=1", "--set", "training.warmup_epochs=0",
        "--set", "attack.steps=1", "--set", "training.select_subset=64"]
RECIPE = str(ROOT / "recipes" / "tiny-digits.yaml")


@pytest.mark.timeout(300)
def test_a_completed_run_rerun_with_a_region_is_repriced_in_place(cached_run, tmp_path):
    results = tmp_path / "results"
    cached_run(["run", RECIPE, "--index", "0", "--results", str(results), *ARGS])  # the evaluation tests' run
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    before = json.loads((folder / "result.json").read_text())
    assert before["pricing"]["carbon_source"]["from"] == "default"
    done = run_cli(["run", RECIPE, "--index", "0", "--results", results, *ARGS,
                    "--set", "measurement.region=aws:us-east-1"])
    assert done.returncode == 0, done.stderr
    assert "re-priced with measurement.region" in done.stdout + done.stderr
    assert [p.name for p in results.iterdir() if p.is_dir()] == [folder.name]  # same run id, no new run
    after = json.loads((folder / "result.json").read_text())
    assert after["run_id"] == before["run_id"] and after["checkpoints"] == before["checkpoints"]
    pricing = after["pricing"]
    assert pricing["region"] == "aws:us-east-1" and pricing["kg_co2_per_kwh"] == lookup("US-VA").kg_per_kwh
    assert pricing["carbon_source"]["via"].startswith("aws:us-east-1 lies in US-VA")
    assert pricing["carbon_source"]["year"] is not None and "eGRID" in pricing["carbon_source"]["dataset"]
