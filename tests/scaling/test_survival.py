"""AFT survival models (scaling/survival/): parameter recovery, calibration, concordance, criteria, errors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaling.errors import ConvergenceError, TableError
from scaling.survival import (SurvivalError, SurvivalMapping, concordance, fit_family, fit_survival,
                              information_criteria, n_coefficients, prepare, trash_table)


def _simulate(family: str, n: int, seed: int, b0=1.0, b1=0.5, b2=-0.3, shape=1.5, censor_scale=4.0):
    """Right-censored data from an AFT model with ln scale = b0 + b1*x1 + b2*x2 and a categorical device."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    device = rng.choice(["L4", "P100", "V100"], size=n)
    dev_effect = np.where(device == "P100", -0.2, np.where(device == "V100", 0.2, 0.0))
    scale = b0 + b1 * x1 + b2 * x2 + dev_effect
    if family == "weibull":  # S = exp(-(t/lambda)^rho)
        t = np.exp(scale) * (-np.log(rng.uniform(size=n))) ** (1.0 / shape)
    else:  # lognormal: ln T = mu + sigma Z
        t = np.exp(scale + shape * rng.normal(size=n))
    c = rng.exponential(censor_scale * np.exp(b0), size=n)
    return pd.DataFrame({"seconds": np.minimum(t, c), "event": (t <= c).astype(int), "x1": x1, "x2": x2,
                         "device": device, "run_id": [f"r{i % 20}" for i in range(n)]})


@pytest.mark.parametrize("family,shape_name,shape", [("weibull", "rho_", 1.5), ("lognormal", "sigma_", 0.6)])
def test_aft_recovers_known_parameters(family, shape_name, shape):
    df = _simulate(family, 4000, seed=1, shape=shape)
    fit = fit_survival(df, SurvivalMapping(covariates=("x1", "x2", "device"), families=(family,)),
                       calibrate=False)
    coef = fit.models[family].metrics["coefficients"]
    assert coef["x1"] == pytest.approx(0.5, abs=0.05)
    assert coef["x2"] == pytest.approx(-0.3, abs=0.05)
    # dummy coding against the first sorted level (L4): P100 -0.2, V100 +0.2
    assert coef["device[P100]"] == pytest.approx(-0.2, abs=0.08)
    assert coef["device[V100]"] == pytest.approx(0.2, abs=0.08)
    assert coef["Intercept"] == pytest.approx(1.0, abs=0.08)
    assert fit.models[family].metrics["ancillary"]["value"] == pytest.approx(shape, rel=0.08)
    lo, hi = fit.models[family].metrics["coefficients_ci"]["x1"]
    assert lo < 0.5 < hi or abs(coef["x1"] - 0.5) < 0.02


def test_best_family_is_the_true_one_and_report_has_every_key():
    df = _simulate("lognormal", 3000, seed=2, shape=0.6)
    fit = fit_survival(df, SurvivalMapping(covariates=("x1", "x2", "device")))
    summary = fit.summary()
    assert set(summary["models"]) == {"weibull", "lognormal", "loglogistic"}
    for metrics in summary["models"].values():
        for key in ("aic", "bic", "concordance_train", "concordance_test", "ici", "e50", "e90", "coefficients"):
            assert key in metrics
        assert 0.5 < metrics["concordance_test"] <= 1.0
        # k counts every coefficient: 4 covariates (2 dummies) + intercept + ancillary = 6
        assert metrics["k"] == 6
    assert summary["best"] == "lognormal"
    assert summary["t0"] == pytest.approx(float(np.median(df["seconds"])))


def test_ici_near_zero_on_data_simulated_from_the_fitted_model():
    df = _simulate("weibull", 2000, seed=3)
    mapping = SurvivalMapping(covariates=("x1", "x2"), families=("weibull",))
    fitted = fit_survival(df, mapping, calibrate=False).models["weibull"].metrics
    rho = fitted["ancillary"]["value"]
    c = fitted["coefficients"]
    rng = np.random.default_rng(4)
    n = 4000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    lam = np.exp(c["Intercept"] + c["x1"] * x1 + c["x2"] * x2)
    t = lam * (-np.log(rng.uniform(size=n))) ** (1.0 / rho)
    cens = rng.exponential(4 * np.exp(c["Intercept"]), size=n)
    sim = pd.DataFrame({"seconds": np.minimum(t, cens), "event": (t <= cens).astype(int), "x1": x1, "x2": x2})
    refit = fit_survival(sim, mapping)
    m = refit.models["weibull"].metrics
    assert m["ici_train"] < 0.02 and m["ici"] < 0.03
    assert m["e50"] <= m["e90"] < 0.06
    # the same model on points that take 3x longer to break is visibly miscalibrated
    from scaling.survival import calibration

    frame = refit.data.frame.assign(T=refit.data.frame["T"] * 3.0)
    shifted = calibration(refit.models["weibull"].fitter, frame, refit.t0)
    assert shifted["ici"] > 0.1 > 5 * m["ici_train"]


def test_concordance_one_for_perfectly_ordered_predictions():
    rng = np.random.default_rng(5)
    t = rng.exponential(size=200)
    e = rng.integers(0, 2, size=200)
    e[0] = 1
    assert concordance(t, np.sqrt(t) + 3, e) == 1.0
    assert concordance(t, -t, e) == 0.0
    # infinite predicted medians (S never drops to 0.5) rank as the longest
    pred = t.copy()
    pred[np.argmax(t)] = np.inf
    assert concordance(t, pred, e) == 1.0


def test_bic_at_least_aic_when_n_exceeds_e_squared():
    for n in (8, 20, 1000):
        for ll in (-50.0, 3.0):
            for k in (1, 5):
                ic = information_criteria(ll, k, n)
                assert ic["bic"] >= ic["aic"]
    ic = information_criteria(-10.0, 3, 7)  # n < e^2: BIC's penalty is the smaller one
    assert ic["bic"] < ic["aic"]
    df = _simulate("weibull", 400, seed=6)
    fit = fit_survival(df, SurvivalMapping(covariates=("x1", "x2")), calibrate=False)
    for m in fit.models.values():
        assert m.metrics["n"] > math.e ** 2 and m.metrics["bic"] >= m.metrics["aic"]
        # lifelines' BIC_ counts parameter groups; ours counts coefficients
        assert m.metrics["k"] == n_coefficients(m.fitter) == 4
        assert m.metrics["bic"] - m.metrics["aic"] == pytest.approx(4 * (math.log(m.metrics["n"]) - 2))


def test_trial_level_one_row_per_run():
    df = _simulate("weibull", 600, seed=7)
    df["cov"] = df["run_id"].str[1:].astype(int) / 10.0
    data = prepare(df, SurvivalMapping(level="trial", covariates=("cov",)))
    assert len(data.frame) == 20
    assert set(data.frame["E"]) <= {0, 1}
    assert data.frame["T"].sum() == pytest.approx(df["seconds"].sum())


def test_bad_mappings_are_clear_errors():
    df = _simulate("weibull", 200, seed=8)
    with pytest.raises(TableError, match="'secs'.*did you mean 'seconds'"):
        prepare(df, SurvivalMapping(duration="secs"))
    with pytest.raises(SurvivalError, match="survival.level = 'run'"):
        SurvivalMapping.from_dict({"level": "run"}, "m.yaml")
    with pytest.raises(SurvivalError, match="m.yaml: survival.bogus is not a key"):
        SurvivalMapping.from_dict({"bogus": 1}, "m.yaml")
    with pytest.raises(SurvivalError, match="event column 'event' holds 'maybe'"):
        prepare(df.assign(event="maybe"), SurvivalMapping(covariates=("x1",)))
    with pytest.raises(SurvivalError, match="no failures"):
        prepare(df.assign(event=0), SurvivalMapping(covariates=("x1",)))
    data = prepare(df.assign(k=1.0), SurvivalMapping(covariates=("x1", "k")))
    assert any("k is constant" in n for n in data.notes)


def test_non_convergence_says_what_to_try():
    df = _simulate("weibull", 300, seed=9)
    df["x3"] = df["x1"] * 2.0  # perfectly collinear
    df["x4"] = df["x1"] * -1.0
    with pytest.raises(ConvergenceError, match="(?s)did not converge.*penalizer"):
        fit_family("weibull", prepare(df, SurvivalMapping(covariates=("x1", "x3", "x4"))).frame)


def test_trash_per_run():
    df = _simulate("weibull", 2000, seed=10)
    fit = fit_survival(df, SurvivalMapping(covariates=("x1",), families=("weibull",)), calibrate=False)
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(20)], "timing.train_seconds": 100.0,
                         "flops.train_samples": 2000.0, "config.training.epochs": 2,
                         "cost.device_model": ["NVIDIA L4"] * 10 + ["Tesla V100-SXM2-16GB"] * 10,
                         "config.measurement.device_table.V100.usd_per_hour": 2.55,
                         "config.measurement.device_table.V100.watts": 250.0,
                         "config.measurement.device_table.L4.usd_per_hour": 0.81,
                         "config.measurement.device_table.L4.watts": 72.0})
    table = trash_table(fit, runs)
    assert len(table) == 20
    assert table["attack_seconds_per_sample"].mean() == pytest.approx(fit.predict_rmst().mean(), rel=0.2)
    # 100 s over 1000 distinct samples (2 epochs of 1000) = 0.1 s per training sample, epochs included
    assert np.allclose(table["trash"], 0.1 / table["attack_seconds_per_sample"])
    assert np.allclose(table["trash_per_epoch"], table["trash"] / 2)
    assert (table["broken"] == (table["trash"] > 1)).all()
    assert list(table["device"]) == ["L4"] * 10 + ["V100"] * 10
    # one device: $ and energy (W x s) ratios equal the time ratio; the per-sample $ is $/h x hours
    assert np.allclose(table["trash_usd"], table["trash"]) and np.allclose(table["trash_energy"], table["trash"])
    assert table["train_usd_per_sample"].iloc[0] == pytest.approx(0.1 / 3600 * 0.81)
    assert table["train_j_per_sample"].iloc[-1] == pytest.approx(0.1 * 250.0)
    # the record's energy wins over the device table: 0.01 kWh of training, attack at 100 W, labelled with the
    # record's own energy.source
    measured = runs.assign(**{"energy.train_kwh": 0.01, "energy.attack_kwh": 100.0 * 10 / 3.6e6,
                              "timing.attack_seconds": 10.0, "energy.source": "nvml"})
    m = trash_table(fit, measured)
    assert (m["energy_source"] == "nvml").all()
    assert np.allclose(m["train_j_per_sample"], 0.01 * 3.6e6 / 1000)
    assert np.allclose(m["attack_j_per_sample"], 100.0 * m["attack_seconds_per_sample"])
