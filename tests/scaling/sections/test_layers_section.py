"""The layer-type section: seconds per step and shares by layer type per method from timing.layer_profile, a
figure, and a skip with its reason when no run was profiled."""
from __future__ import annotations

import pandas as pd
import pytest

from scaling.analysis import Options, analyze, run_analysis
from scaling.mapping import Mapping
from scaling.sections.layers import CATEGORIES

#: method -> seconds of 2 profiled steps per type (conv, norm, act, linear, other)
PROFILES = {"standard": (0.2, 0.1, 0.05, 0.01, 0.04), "at": (2.0, 0.8, 0.4, 0.08, 0.72)}


def _table():
    rows = []
    for method, seconds in PROFILES.items():
        for seed in range(2):
            row = {"run_id": f"{method}-{seed}", "status": "completed", "config.training.loss": method,
                   "flops.train_total": 1e15, "accuracy.autoattack": 40.0, "timing.layer_profile.steps": 2}
            row.update({f"timing.layer_profile.seconds.{c}": s * (1 + seed) for c, s in zip(CATEGORIES, seconds)})
            rows.append(row)
    rows.append({"run_id": "unprofiled", "status": "completed", "config.training.loss": "trades",
                 "flops.train_total": 1e15, "accuracy.autoattack": 45.0})
    return pd.DataFrame(rows)


def test_categories_match_the_profilers():
    from benchmarks.measurement.layers import CATEGORIES as MEASURED

    assert CATEGORIES == MEASURED


def test_seconds_per_step_and_shares_by_method(tmp_path):
    report = analyze(_table(), Mapping(flops="flops.train_total", acc="accuracy.autoattack"), str(tmp_path),
                     Options(), sections=["layers"])
    rows = {r["method"]: r for r in report["layers"]["methods"]}
    assert set(rows) == {"standard", "at"}
    for method, seconds in PROFILES.items():
        r = rows[method]
        assert r["runs"] == 2
        for c, s in zip(CATEGORIES, seconds):
            assert r["seconds_per_step"][c] == pytest.approx(s * 1.5 / 2)  # mean of 1x and 2x, per step
        assert sum(r["share"].values()) == pytest.approx(1.0)
    assert rows["at"]["share"]["convolution"] == pytest.approx(2.0 / 4.0)
    assert {"layers.png", "layers.pdf"} <= {p.split("/")[-1] for p in report["figures"]}
    assert "Time by layer type" in (tmp_path / "report.md").read_text()


def test_without_profiles_the_section_is_skipped():
    table = _table()
    table = table.drop(columns=[c for c in table.columns if c.startswith("timing.layer_profile")])
    report, _ = run_analysis(table, Mapping(flops="flops.train_total", acc="accuracy.autoattack"),
                             Options(figures=False), sections=["layers"])
    assert "timing.layer_profile" in report["skipped_sections"]["layers"]
