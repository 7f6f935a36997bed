"""Forecasts by year: on a table drawn from known trends (compute per year, accuracy law) with a given compute-per-$
trend, the 95 % intervals of accuracy, FLOPs and cost in a later year cover the truth; widening any one input's
uncertainty (the compute trend's scatter, the law's scatter, the price trend's interval) widens the intervals it
enters; the shipped price series is the published one; --year through the real CLI writes report.json and the
figure."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scaling.analysis import Options, run_analysis
from scaling.mapping import Mapping
from scaling.year_forecast import load_price_performance, price_trend

A, B = 15.0 - 0.5 * 2015, 0.5  # log10 FLOPs = A + B * year: 1e15 in 2015, x3.2 per year
C, ALPHA = 13.25, 0.032  # accuracy = C * FLOPs**ALPHA: 40 % at 1e15, 60 % at 1e20.5 (2026)
USD_PER_FLOP, ANCHOR_YEAR, DOUBLING = 1e-17, 2020.0, 2.46
YEAR = 2026.0


def _table(sd_log_flops=0.3, sd_acc=1.0, n=120, seed=0):
    rng = np.random.default_rng(seed)
    year = np.repeat(np.arange(2015, 2023), n // 8).astype(float)
    z1, z2 = rng.standard_normal(year.size), rng.standard_normal(year.size)
    flops = 10 ** (A + B * year + sd_log_flops * z1)
    acc = C * flops ** ALPHA - sd_acc * np.abs(z2)  # runs at or below the law: the envelope follows it
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(year.size)], "year": year, "flops": flops, "acc": acc})


def _truth(year):
    flops = 10 ** (A + B * year)
    return flops, C * flops ** ALPHA, flops * USD_PER_FLOP * 2 ** (-(year - ANCHOR_YEAR) / DOUBLING)


def _forecast(table, doubling=(DOUBLING, 2.24, 2.72)):
    mapping = Mapping(flops="flops", acc="acc", time="year", sections={"year_forecast": {
        "usd_per_flop": USD_PER_FLOP, "anchor_year": ANCHOR_YEAR, "price_doubling_years": list(doubling)}})
    report, _ = run_analysis(table, mapping, Options(figures=False, n_boot=300, years=(YEAR,)),
                             sections=["envelope", "year_forecast"])
    assert "year_forecast" in report["sections"], report.get("skipped_sections")
    return report["year_forecast"]["years"][0]


def _width(row, key):
    lo, hi = row[f"{key}_ci"]
    return math.log10(hi) - math.log10(lo) if key != "accuracy" else hi - lo


def test_interval_covers_the_truth():
    row = _forecast(_table())
    flops, acc, usd = _truth(YEAR)
    for key, true in (("flops", flops), ("accuracy", acc), ("usd", usd)):
        lo, hi = row[f"{key}_ci"]
        assert lo <= true <= hi, (key, lo, true, hi)
    assert row["extrapolation"] and row["year"] == YEAR


def test_widening_any_one_input_widens_the_interval():
    base = _forecast(_table())
    trend = _forecast(_table(sd_log_flops=0.9))  # compute per year: 3x the scatter
    assert _width(trend, "flops") > 1.5 * _width(base, "flops")
    assert _width(trend, "accuracy") > _width(base, "accuracy") and _width(trend, "usd") > _width(base, "usd")
    law = _forecast(_table(sd_acc=4.0))  # the law: 4x the scatter below it
    assert _width(law, "accuracy") > _width(base, "accuracy")
    price = _forecast(_table(), doubling=(DOUBLING, 1.5, 4.0))  # compute per $: a wider interval
    assert _width(price, "usd") > 1.5 * _width(base, "usd")
    assert price["accuracy_ci"] == base["accuracy_ci"]  # the price trend does not enter the accuracy


def test_shipped_series_are_the_published_ones():
    data = load_price_performance()
    # Hobbhahn & Besiroglu (2022), Table 1
    assert data["trend"]["series"]["all"] == {"label": "all GPUs in the dataset", "n": 470, "doubling_years": 2.46,
                                              "ci95": [2.24, 2.72]}
    assert data["trend"]["series"]["ml"]["doubling_years"] == 2.07
    assert price_trend(data)["doubling_years"] == 2.46 and "Epoch AI" in price_trend(data)["source"]
    assert data["anchor"]["usd_per_hour"] == 2.55  # GCP V100, Meyers et al. Table 1
    assert data["anchor"]["peak_flop_per_s"] == 15.7e12  # V100 SXM2 peak FP32, NVIDIA datasheet


def test_cli_year_writes_report_and_figure(tmp_path):
    from robustperf import main

    path = tmp_path / "t.csv"
    _table().to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["analyze", str(path), "-o", str(out), "--flops-col", "flops", "--acc-col", "acc", "--time-col",
                 "year", "--year", "2025", "--year", "2027", "--bootstrap", "200"]) == 0
    part = json.loads((out / "report.json").read_text())["year_forecast"]
    assert [r["year"] for r in part["years"]] == [2025.0, 2027.0]
    assert part["price_performance"]["doubling_years"] == 2.46 and part["anchor"]["usd_per_hour"] == 2.55
    assert part["how"].startswith("extrapolated")
    assert (out / "year_forecast.png").exists() and (out / "year_forecast.pdf").exists()
    assert main(["analyze", str(path), "-o", str(out), "--year", "nan"]) == 2


def test_cost_prices_the_training_flops_by_their_own_trend():
    table = _table()
    table["train_flops"] = table["flops"] * 1e3 * 10 ** (0.1 * (table["year"] - 2015))  # 1.26x more per year
    mapping = Mapping(flops="flops", acc="acc", time="year", sections={"year_forecast": {
        "usd_per_flop": USD_PER_FLOP, "anchor_year": ANCHOR_YEAR, "train_flops": "train_flops"}})
    report, _ = run_analysis(table, mapping, Options(figures=False, n_boot=200, years=(YEAR,)),
                             sections=["envelope", "year_forecast"])
    row = report["year_forecast"]["years"][0]
    flops, _, _ = _truth(YEAR)
    paid = flops * 1e3 * 10 ** (0.1 * (YEAR - 2015))
    lo, hi = row["train_flops_ci"]
    assert lo <= paid <= hi and row["train_flops"] == pytest.approx(paid, rel=0.5)
    assert row["usd"] == pytest.approx(row["train_flops"] * USD_PER_FLOP * 2 ** (-(YEAR - ANCHOR_YEAR) / 2.46))
    assert report["year_forecast"]["train_flops_trend"]["column"] == "train_flops"


@pytest.mark.parametrize("settings,message", [
    ({"years": ["soon"]}, "sections.year_forecast.years must be a finite number"),
    ({"usd_per_flop": -1, "anchor_year": 2020}, "sections.year_forecast.usd_per_flop must be a finite number > 0"),
    ({"usd_per_flop": 1e-17}, "sections.year_forecast.usd_per_flop needs anchor_year"),
])
def test_a_bad_setting_stops_the_analysis_with_one_line(settings, message):
    from scaling.errors import TableError

    mapping = Mapping(flops="flops", acc="acc", time="year", sections={"year_forecast": settings})
    with pytest.raises(TableError) as err:
        run_analysis(_table(n=40), mapping, Options(figures=False, n_boot=20), sections=["envelope", "year_forecast"])
    assert message in str(err.value)


@pytest.mark.parametrize("settings,message", [
    ({"price_doubling_years": [2.0, 3.0, 4.0]}, "0 < low <= estimate <= high"),
    ({"price_series": "gpus"}, "unknown series 'gpus'; shipped: all, ml, top, fp16"),
])
def test_a_bad_price_trend_skips_the_section_with_the_reason(settings, message):
    mapping = Mapping(flops="flops", acc="acc", time="year", sections={"year_forecast": settings})
    report, _ = run_analysis(_table(n=40), mapping, Options(figures=False, n_boot=20),
                             sections=["envelope", "year_forecast"])
    assert message in report["skipped_sections"]["year_forecast"]
