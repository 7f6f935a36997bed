"""The methods section: cost ratios to standard training with intervals over repeats, olympic means, the Pareto
front, figures; skipped with a reason when no standard run exists."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling.analysis import Options, analyze, run_analysis
from scaling.sections.methods import pareto
from scaling.mapping import Mapping

#: method -> (FLOPs factor over standard, time factor, clean, AutoAttack)
METHODS = {"standard": (1.0, 1.0, 95.0, 0.0), "fgsm_rs": (2.0, 1.7, 85.0, 40.0), "at": (11.0, 8.5, 84.0, 50.0),
           "trades": (13.0, 10.5, 82.0, 49.0)}


def _table(seeds=3, models=("wrn", "cifar_resnet18")):
    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        base = 1e15 if model == "wrn" else 3e14
        for method, (flops, time, clean, aa) in METHODS.items():
            for seed in range(seeds):
                jitter = 1 + 0.02 * rng.standard_normal()
                rows.append({"run_id": f"{model}-{method}-{seed}", "status": "completed",
                             "config.training.loss": method, "config.seed": seed, "config.data.name": "cifar10",
                             "config.model.arch": model, "config.training.trades_beta": 6.0,
                             "flops.train_total": base * flops, "timing.train_seconds": 100 * time * jitter,
                             "energy.kwh": 0.1 * time * jitter, "accuracy.clean": clean + seed,
                             "accuracy.autoattack": aa + seed})
    return pd.DataFrame(rows)


def _mapping():
    return Mapping(flops="flops.train_total", acc="accuracy.autoattack")


def test_ratios_intervals_olympic_means_and_front():
    report, _ = run_analysis(_table(), _mapping(), Options(figures=False), sections=["methods"])
    part = report["methods"]
    assert len(part["settings"]) == 2
    for setting in part["settings"]:
        rows = {r["method"]: r for r in setting["methods"]}
        for method, (flops, time, clean, aa) in METHODS.items():
            r = rows[method]
            assert r["n"] == 3 and r["flops_ratio"] == pytest.approx(flops)
            assert r["train_seconds_ratio"] == pytest.approx(time, rel=0.1)
            lo, hi = r["train_seconds_ratio_ci"]
            assert lo <= r["train_seconds_ratio"] <= hi
            assert r["clean_olympic_mean"] == pytest.approx(clean + 1)  # seeds add 0, 1, 2: the middle one
        assert rows["standard"]["pareto"] and rows["fgsm_rs"]["pareto"] and rows["at"]["pareto"]
        assert not rows["trades"]["pareto"]  # dearer, less clean and less robust than at


def test_without_standard_the_section_is_skipped_with_its_reason():
    table = _table()
    table = table[table["config.training.loss"] != "standard"]
    report, _ = run_analysis(table, _mapping(), Options(figures=False), sections=["methods"])
    assert "standard" in report["skipped_sections"]["methods"]


def test_report_and_figures(tmp_path):
    report = analyze(_table(), _mapping(), str(tmp_path), Options(), sections=["envelope", "methods"])
    assert {"methods_cost_0.png", "methods_cost_0.pdf", "methods_pareto_1.png"} <= {
        p.split("/")[-1] for p in report["figures"]}
    text = (tmp_path / "report.md").read_text()
    assert "Cost of robustness by training method" in text and "| at | 3 | 11 [" in text


def test_pareto_flags():
    points = [{"clean": 90, "autoattack": 10, "flops_ratio": 1}, {"clean": 80, "autoattack": 50, "flops_ratio": 10},
              {"clean": 79, "autoattack": 49, "flops_ratio": 12}, {"clean": 80, "autoattack": 50, "flops_ratio": 10}]
    assert pareto(points) == [True, True, False, True]
