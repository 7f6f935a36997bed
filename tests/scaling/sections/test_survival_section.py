"""The survival analysis section through `analyze`: report.json survival.models/best/trash, figures, skip."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scaling.analysis import Options, analyze
from scaling.mapping import Mapping


def _table(seed: int = 0, runs: int = 12, points: int = 150) -> pd.DataFrame:
    """Per-point survival rows of `runs` runs (as `collect --survival` writes), Weibull AFT in lr and device."""
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(runs):
        lr = float(10 ** rng.uniform(-3, -0.5))
        device = "NVIDIA L4" if r % 2 else "Tesla V100-SXM2-16GB"
        scale = 0.5 - 0.4 * np.log10(lr) + (0.2 if r % 2 else 0.0)
        t = np.exp(scale) * (-np.log(rng.uniform(size=points))) ** (1 / 1.3) / 100.0
        budget = np.exp(scale + 0.5) / 100.0
        parts.append(pd.DataFrame({
            "run_id": f"run{r:02d}", "config": "pgd-10", "point": np.arange(points),
            "seconds": np.minimum(t, budget), "event": t <= budget, "clean_correct": True,
            "config.training.lr": lr, "config.data.batch_size": 128, "config.data.name": "digits",
            "cost.device_model": device, "flops.train_total": 1e12 * (1 + r), "accuracy.autoattack": 20 + r,
            "timing.train_seconds": 50.0 + 5 * r, "flops.train_samples": 10_000, "config.training.epochs": 10,
            "config.measurement.device_table.V100.usd_per_hour": 2.55,
            "config.measurement.device_table.V100.watts": 250.0,
            "config.measurement.device_table.L4.usd_per_hour": 0.81,
            "config.measurement.device_table.L4.watts": 72.0,
        }))
    return pd.concat(parts, ignore_index=True)


def test_survival_section_reports_models_best_and_trash(tmp_path):
    table = _table()
    mapping = Mapping(sections={"survival": {"covariates": ["config.training.lr", "cost.device_model"],
                                             "t0": 0.02}})
    report = analyze(table, mapping, str(tmp_path), Options(n_bins=4, n_boot=10),
                     sections=["envelope", "survival"])
    assert "survival" in report["sections"], report["skipped_sections"]
    saved = json.loads((tmp_path / "report.json").read_text())["survival"]
    assert set(saved["models"]) == {"weibull", "lognormal", "loglogistic"}
    for m in saved["models"].values():
        for key in ("aic", "bic", "concordance_train", "concordance_test", "ici", "e50", "e90", "coefficients"):
            assert key in m
        assert m["bic"] > m["aic"]  # n > e^2
        assert m["coefficients"]["config.training.lr"] < 0  # a larger lr: shorter survival, as simulated
    assert saved["best"] == "weibull" and saved["t0"] == 0.02 and saved["t0_source"] == "survival.t0"
    assert saved["reference_levels"] == {"cost.device_model": "NVIDIA L4"}
    trash = saved["trash"]
    assert trash["n"] == 12 and 0 <= trash["broken"] <= 12
    row = trash["runs"][0]
    # 50 s over 1000 distinct training samples = 0.05 s per sample
    assert row["train_seconds_per_sample"] == pytest.approx(0.05)
    assert row["trash"] == pytest.approx(0.05 / row["attack_seconds_per_sample"])
    for stem in ("survival_calibration", "survival_coefficients", "survival_curves", "trash"):
        assert (tmp_path / f"{stem}.png").exists(), stem
    md = (tmp_path / "report.md").read_text()
    assert "Attack survival (AFT models) and TRASH" in md and "| weibull |" in md


def test_survival_section_skips_without_survival_data(tmp_path):
    table = _table(runs=6, points=2).drop(columns=["seconds", "event"])
    report = analyze(table, Mapping(), str(tmp_path), Options(n_bins=3, n_boot=10, figures=False),
                     sections=["envelope", "survival"])
    assert "survival" in report["skipped_sections"]
    assert "no survival data" in report["skipped_sections"]["survival"]


def test_a_bad_survival_setting_stops_the_analysis(tmp_path):
    from scaling.errors import TableError

    table = _table(runs=6, points=20)
    with pytest.raises(TableError, match="survival.level = 'run'"):
        analyze(table, Mapping(sections={"survival": {"level": "run"}}), str(tmp_path),
                Options(n_bins=3, n_boot=10, figures=False), sections=["envelope", "survival"])
