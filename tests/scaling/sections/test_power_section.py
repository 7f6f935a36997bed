"""The power section: power per epoch of robust vs standard training from the records' per-epoch energy series,
the ratio of average power with its bootstrap interval in report.json, and the figure file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from scaling.analysis import Options, analyze, run_analysis
from scaling.mapping import Mapping
from tests.scaling.sections.test_methods_section import _table

#: method -> mean training power (W) over the epochs: robust training keeps the devices busier
POWER = {"standard": 200.0, "fgsm_rs": 230.0, "at": 260.0, "trades": 262.0}


def _with_epochs(epochs=4):
    table = _table(seeds=2, models=("wrn",))
    rng = np.random.default_rng(1)
    series = []
    for method in table["config.training.loss"]:
        rows = []
        for e in range(1, epochs + 1):
            seconds = 30.0 + rng.uniform(-2, 2)
            watts = POWER[method] * (1 + 0.01 * rng.standard_normal())
            rows.append([e, seconds, 0.8 * watts * seconds, 0.15 * watts * seconds, 0.05 * watts * seconds])
        series.append(json.dumps(rows))  # a table holds a record's lists as JSON text (results.flatten)
    table["energy.epochs"] = series
    return table


def test_power_ratio_with_its_interval_and_the_figure(tmp_path):
    out = tmp_path / "report"
    report = analyze(_with_epochs(), Mapping(flops="flops.train_total", acc="accuracy.autoattack"), str(out),
                     Options(figures=True), sections=["power"])
    (setting,) = report["power"]["settings"]
    rows = {r["method"]: r for r in setting["methods"]}
    assert rows["standard"]["power_ratio"] == pytest.approx(1.0)
    for method, watts in POWER.items():
        r = rows[method]
        assert r["runs"] == 2 and r["epochs"] == 8
        assert r["mean_power_w"] == pytest.approx(watts, rel=0.02)
        assert r["power_ratio"] == pytest.approx(watts / POWER["standard"], rel=0.02)
        lo, hi = r["power_ratio_ci"]
        assert lo <= r["power_ratio"] <= hi and hi - lo < 0.05
        assert [p[0] for p in r["power_per_epoch_w"]] == [1, 2, 3, 4]
    saved = json.loads((out / "report.json").read_text())
    assert saved["power"]["settings"][0]["methods"][0]["power_ratio_ci"]
    assert list(out.rglob("power_epochs_0.png"))


def test_without_series_or_standard_it_is_skipped_with_a_reason():
    table = _with_epochs()
    mapping = Mapping(flops="flops.train_total", acc="accuracy.autoattack")
    no_standard = table[table["config.training.loss"] != "standard"]
    report, _ = run_analysis(no_standard, mapping, Options(figures=False), sections=["power"])
    assert "standard" in report["skipped_sections"]["power"]
    table["energy.epochs"] = None
    report, _ = run_analysis(table, mapping, Options(figures=False), sections=["power"])
    assert "power" in report["skipped_sections"]
