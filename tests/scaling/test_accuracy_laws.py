"""Candidate accuracy laws, backtesting by compute cuts, split-conformal intervals, pictured costs."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import robustperf
from scaling.accuracy_laws import (LAWS, backtest, bootstrap_invert, conformal_flops_interval, conformal_quantile,
                                   make_law)
from scaling.analysis import Options, run_analysis
from scaling.errors import NotFittedError, TableError
from scaling.laws import EnvelopePowerLaw
from scaling.mapping import Mapping
from scaling.units import picture, settings

from tests.scaling.conftest import PUBLISHED

#: exact data of each law: (params to recover, generator)
TRUE = {
    "power": ({"C": 20.0, "alpha": 0.05}, lambda x: 20.0 * x ** 0.05),
    "saturating": ({"A": 62.0, "B": 30.0 * 1e15 ** 0.25, "alpha": 0.25}, lambda x: 62.0 - 30.0 * (x / 1e15) ** -0.25),
    "loglinear": ({"a": -20.0, "b": 4.0}, lambda x: -20.0 + 4.0 * np.log10(x)),
    "error_loglinear": ({"alpha": -0.5, "beta": 0.06}, lambda x: 100 * (1 - 10 ** -(-0.5 + 0.06 * np.log10(x)))),
}


def saturating_truth(x):
    return TRUE["saturating"][1](x)


@pytest.mark.parametrize("name", list(LAWS))
def test_estimator_contract_and_exact_recovery(name):
    cls = LAWS[name]
    law = cls()
    assert set(law.get_params()) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert not [a for a in vars(law) if a.endswith("_")]
    with pytest.raises(NotFittedError):
        law.predict([1e16])
    x = np.logspace(15, 20, 30)
    params, gen = TRUE[name]
    assert law.fit(x, gen(x)) is law
    for key, value in params.items():
        assert law.params()[key] == pytest.approx(value, rel=1e-5), key
    np.testing.assert_allclose(law.invert(law.predict([1e16, 1e19])), [1e16, 1e19], rtol=1e-6)
    if law.asymptote is not None:
        assert law.invert(law.asymptote + 0.1) == np.inf  # above the asymptote: never reached
    assert law.summary()["law"] == name and law.summary()["n"] == 30


def test_saturating_keeps_its_bound():
    x = np.logspace(15, 20, 30)
    law = make_law("saturating").fit(x, 99.0 - 60 * (x / 1e15) ** -0.02)  # would want A > 100
    assert law.A_ <= 100.0 and law.asymptote <= 100.0
    assert law.invert(100.0) == np.inf


def test_backtest_picks_the_true_saturating_family():
    chosen = []
    for draw in range(20):
        rng = np.random.default_rng(draw)
        x = 10 ** rng.uniform(15, 20, 40)
        y = saturating_truth(x) + rng.normal(0, 0.5, x.size)
        result = backtest(x, y)
        assert result["cuts"] == [0.5, 0.6, 0.7, 0.8] and set(result["errors"]) == set(LAWS)
        assert all(len(e) == 4 for e in result["errors"].values())
        chosen.append(result["chosen"])
    assert chosen.count("saturating") >= 18, chosen


def test_backtest_picks_a_true_power_law_over_saturation():
    rng = np.random.default_rng(7)
    x = 10 ** rng.uniform(3, 9, 60)
    y = 5.0 * x ** 0.15 * np.exp(rng.normal(0, 0.01, x.size))
    assert backtest(x, y)["chosen"] == "power"


def test_conformal_intervals_cover_at_about_the_nominal_rate():
    """Over repeated draws, a new run beyond the data (one more decade of compute) falls in the 90 % band.
    Backtest residuals come from fits on fewer points, so the band is conservative: at or a little above 90 %."""
    hits = []
    for draw in range(100):
        rng = np.random.default_rng(1000 + draw)
        x = 10 ** rng.uniform(15, 20, 40)
        y = saturating_truth(x) + rng.normal(0, 0.5, x.size)
        result = backtest(x, y)
        q = conformal_quantile(result["residuals"][result["chosen"]], 0.9)
        law = make_law(result["chosen"]).fit(x, y)
        x_new = 10 ** rng.uniform(20, 21)
        hits.append(abs(saturating_truth(x_new) + rng.normal(0, 0.5) - law.predict(x_new)) <= q)
    assert 0.85 <= np.mean(hits) <= 0.99


def test_conformal_quantile_and_flops_interval():
    assert conformal_quantile([3, 1, 2, -4], 0.5) == 3  # ceil(5 * 0.5) = 3rd smallest |score|
    assert conformal_quantile([1.0, 2.0], 0.9) == np.inf  # too few scores for 90 %
    x = np.logspace(15, 20, 30)
    law = make_law("saturating").fit(x, saturating_truth(x))
    lo, hi = conformal_flops_interval(law, 55.0, 1.0)
    assert law.predict(lo) == pytest.approx(54.0) and law.predict(hi) == pytest.approx(56.0)
    assert conformal_flops_interval(law, 61.5, 1.0)[1] is None  # 62.5 is above the asymptote 62


def test_bootstrap_intervals_of_a_saturating_law():
    rng = np.random.default_rng(0)
    x = 10 ** rng.uniform(15, 20, 40)
    y = saturating_truth(x) + rng.normal(0, 0.3, x.size)
    (ci55, ci70), (p55, p70), n_ok = bootstrap_invert("saturating", x, y, [55.0, 70.0], 200)
    truth55 = 1e15 * (7.0 / 30.0) ** (-1 / 0.25)
    assert n_ok > 190 and ci55[0] < truth55 < ci55[1] and p55 == 0.0
    assert p70 == 1.0 and ci70 == [None, None]  # 70 % is above every resample's asymptote


@pytest.fixture(scope="module")
def envelope_points(published):
    env = EnvelopePowerLaw().fit(published["train_flops"] * published["epochs"], published["aa_robust_acc"])
    return env.points_x_, env.points_y_


def test_every_law_on_the_reference_table_is_pinned(envelope_points):
    pinned = {"power": ({"C": 50.856, "alpha": 0.0104604}, 0.80899),
              "saturating": ({"A": 60.7648, "B": 336.026, "alpha": 0.378257}, 0.86066),
              "loglinear": ({"a": 50.2048, "b": 1.42702}, 0.81174),
              "error_loglinear": ({"alpha": 0.294417, "beta": 0.0150739}, 0.81553)}
    for name, (params, r2) in pinned.items():
        law = make_law(name).fit(*envelope_points)
        for key, value in params.items():
            assert law.params()[key] == pytest.approx(value, rel=1e-4), (name, key)
        assert law.r2_ == pytest.approx(r2, rel=1e-4)


def test_the_reference_backtest_is_pinned(envelope_points):
    result = backtest(*envelope_points)
    pinned = {"power": [0.70058, 0.89964, 0.98503, 0.51136], "saturating": [0.63089, 0.81105, 0.91902, 0.14862],
              "loglinear": [0.67062, 0.86202, 0.95749, 0.49625],
              "error_loglinear": [0.63472, 0.81989, 0.92123, 0.46914]}
    for name, errors in pinned.items():
        np.testing.assert_allclose(result["errors"][name], errors, rtol=1e-4)
    assert (result["n_fit"], result["n_test"], result["chosen"]) == ([10, 11, 14, 15], [9, 8, 5, 4], "saturating")
    assert conformal_quantile(result["residuals"]["saturating"], 0.9) == pytest.approx(1.3346, rel=1e-4)


def test_report_has_backtest_and_unreachable_targets(repo_root, tmp_path, capsys):
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path), "--mapping",
                            str(repo_root / "scaling" / "mappings" / "timm-adv-training.yaml"), "--no-figures",
                            "--bootstrap", "100"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    b = report["backtest"]
    assert {"cuts", "errors", "chosen"} <= set(b) and b["chosen"] == "saturating" and b["cuts"] == [0.5, 0.6, 0.7, 0.8]
    rows = report["law_forecast"]["rows"]
    assert rows[0]["reachable"] and rows[0]["conformal_ci"][0] < rows[0]["flops"]
    assert rows[0]["bootstrap_ci"][0] < rows[0]["flops"] < rows[0]["bootstrap_ci"][1]
    assert [r["note"] for r in rows[1:]] == ["not reachable under this law (asymptote 60.76 %)"] * 3
    pictured = rows[0]["pictured"]
    assert pictured["gpu_hours"] == pytest.approx(rows[0]["flops"] * 1e12 / (312e12 * 0.4) / 3600)
    assert pictured["co2_kg"] == pytest.approx(pictured["kwh"] * 0.5663)
    assert set(pictured["equivalents"]) == {"car_km", "air_passenger_km", "car_years", "gasoline_gallons"}
    assert all("pictured" in r for r in report["forecast"])
    md = (tmp_path / "report.md").read_text()
    assert "| **saturating** (chosen) | 0.631 | 0.811 | 0.919 | 0.149 | 0.627 |" in md
    assert "not reachable under this law" in md and "Costs a reader can picture" in md and "DESNZ" in md


def test_units_are_configurable_and_checked():
    p = picture(3600 * 1e14, {"peak_tflops": 100.0, "utilisation": 1.0, "device_watts": 1000.0, "pue": 1.0,
                              "usd_per_kwh": 0.5, "kg_co2_per_kwh": 0.1, "device": "toy",
                              "equivalents": {"balloons": {"kg_co2_per_unit": 0.01, "unit": "balloons",
                                                           "source": "a test"}}})
    assert (p["gpu_hours"], p["kwh"], p["usd"], p["co2_kg"]) == pytest.approx((1.0, 1.0, 0.5, 0.1))
    assert p["equivalents"] == {"balloons": pytest.approx(10.0)} and p["device"] == "toy"
    assert settings()["pue"] == 1.58 and settings()["usd_per_kwh"] == 0.12  # the recipe's defaults
    with pytest.raises(TableError, match="units.utilisation is a fraction of peak"):
        settings({"utilisation": 40})
    with pytest.raises(TableError, match="unknown key 'gpu'"):
        settings({"gpu": "A100"})


def test_quantile_trend_recovers_a_time_trend():
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame({"flops": 10 ** rng.uniform(15, 20, n), "year": rng.integers(2018, 2024, n)})
    table["acc"] = 3.0 * np.log10(table["flops"]) - 20 + 2.0 * (table["year"] - 2018) + rng.normal(0, 1.0, n)
    report, _ = run_analysis(table, Mapping(flops="flops", acc="acc", time="year"), Options(n_boot=10),
                             sections=["envelope", "quantile_trend"])
    part = report["quantile_trend"]
    assert [f["q"] for f in part["fits"]] == [0.9, 0.1] and part["time_origin"] == 2018
    for f, z in zip(part["fits"], (1.2816, -1.2816)):  # normal noise: the q-quantile is shifted by z * sd
        lo, hi = f["params_ci"]["per_time_unit"]
        assert lo < 2.0 < hi
        assert f["params"]["log10_flops"] == pytest.approx(3.0, abs=0.3)
        assert f["params"]["intercept"] == pytest.approx(-20 + z, abs=1.5)
        assert f["share_below"] == pytest.approx(f["q"], abs=0.03)
    untimed, _ = run_analysis(table, Mapping(flops="flops", acc="acc"), Options(n_boot=10),
                              sections=["envelope", "quantile_trend"])
    assert untimed["quantile_trend"]["time"] is None and "per_time_unit" not in untimed["quantile_trend"]["fits"][0][
        "params"]


def test_the_mapping_price_prices_the_pictured_costs(published):
    from scaling.units import mapping_units

    mapping = Mapping(flops="train_flops*epochs", acc="aa_robust_acc", usd_per_kwh=0.3)
    assert mapping_units(mapping) == {"usd_per_kwh": 0.3}
    report, _ = run_analysis(published, mapping, Options(n_boot=10, targets=(58.0,)),
                             sections=["envelope", "forecast"])
    p = report["forecast"][0]["pictured"]
    assert p["usd"] == pytest.approx(p["kwh"] * 0.3)
    own = Mapping(usd_per_kwh=0.3, units={"usd_per_kwh": 0.1})
    assert mapping_units(own)["usd_per_kwh"] == 0.1  # units' own price wins


@pytest.mark.parametrize("argv, message", [
    (["--cuts", "0.5", "1.2"], "--cuts are shares of the FLOP range, 0 < cut < 1; got 1.2"),
    (["--conformal-level", "1"], "--conformal-level must be in (0, 1), got 1"),
])
def test_backtest_options_are_checked(tmp_path, capsys, argv, message):
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path), "--flops-col", "train_flops",
                            "--acc-col", "aa_robust_acc", "--no-figures", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
