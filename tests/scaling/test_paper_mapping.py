"""The shipped mapping regenerates the reference study's laws from its published table in one command."""
from __future__ import annotations

import json

import pytest

import robustperf


def test_shipped_mapping_reproduces_the_paper(repo_root, tmp_path):
    out = tmp_path / "paper"
    code = robustperf.main(["analyze", str(repo_root / "tests" / "data" / "timm_adv_training_results.csv"),
                            "--mapping", str(repo_root / "scaling" / "mappings" / "timm-adv-training.yaml"),
                            "-o", str(out), "--bootstrap", "200"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["envelope"]["C"] == pytest.approx(50.86, abs=0.01)
    assert report["envelope"]["alpha"] == pytest.approx(0.0105, abs=0.0001)
    assert report["envelope"]["n_bins"] == 19 and report["envelope"]["dropped"] == 47
    # which runs were binned (issue 22): the 272 kept ones, from the cheapest to the dearest kept run (TFLOPs)
    rng = report["envelope"]["binning_range"]
    assert (rng["rows"], rng["n"]) == ("kept", 272)
    assert rng["flops_min"] == pytest.approx(1.72949e5, rel=1e-5)
    assert rng["flops_max"] == pytest.approx(1.51196e7, rel=1e-5)
    text = (out / "report.md").read_text()
    assert "Binning range: the 272 runs with accuracy above the collapse threshold 0 %" in text
    assert report["electricity"]["alpha"] == pytest.approx(0.95, abs=0.005)
    assert report["gbr"]["r2_test"] > 0.8
    assert (out / "envelope.png").exists() and (out / "envelope.pdf").exists()
