"""Re-pricing a finished study from the raw measurements its records keep: seconds, no rerun, exact."""
from __future__ import annotations

import pandas as pd
import pytest

import robustperf
from results import new_record, write_record
from results.pricing import derive

MEASUREMENT = {"pue": 1.58, "usd_per_kwh": 0.12, "kg_co2_per_kwh": 0.5663,
               "cloud_usd_per_gpu_hour": {"H100": [2.0, 12.3], "cpu": [0.02, 0.05]}}


@pytest.fixture
def study(tmp_path):
    """Three completed runs priced as the runner prices them (results.pricing.derive on raw joules)."""
    root = tmp_path / "runs"
    for i, (joules, hours, model) in enumerate([(3.6e6, 1.0, "NVIDIA H100 80GB HBM3"), (7.2e7, 20.0, "NVIDIA H100"),
                                                (1234.5, 0.001, "cpu")]):
        record = new_record(f"run{i:09d}", f"r{i}", {"seed": i, "measurement": dict(MEASUREMENT)})
        raw = {"device_j": joules, "train_j": 0.8 * joules, "eval_j": 0.2 * joules, "attack_j": None,
               "sampler_j": None}
        derived = derive(raw, hours, model, MEASUREMENT)
        record["energy"].update({**raw, **derived["energy"]})
        record["cost"].update({**derived["cost"], "device_hours": hours, "device_model": model})
        record.update(status="completed", co2_kg=derived["co2_kg"], pricing=derived["pricing"])
        record["flops"]["train_total"] = 1e15 * (i + 1)
        record["accuracy"]["autoattack"] = 40.0 + i
        write_record(str(root), record)
    return root


def _collect(root, tmp_path, *sets, name="t.csv"):
    out = tmp_path / name
    args = ["collect", str(root), "-o", str(out)]
    for item in sets:
        args += ["--set", item]
    assert robustperf.main(args) == 0
    return pd.read_csv(out).set_index("run_id").sort_index()


def test_doubling_the_price_doubles_electricity_exactly(study, tmp_path):
    base = _collect(study, tmp_path, name="base.csv")
    doubled = _collect(study, tmp_path, "measurement.usd_per_kwh=0.24", name="doubled.csv")
    assert (doubled["cost.electricity_usd"] == 2 * base["cost.electricity_usd"]).all()
    assert (doubled["energy.kwh"] == base["energy.kwh"]).all() and (doubled["co2_kg"] == base["co2_kg"]).all()
    assert (doubled["pricing.usd_per_kwh"] == 0.24).all() and (base["pricing.usd_per_kwh"] == 0.12).all()


def test_pue_carbon_and_cloud_prices_recompute_their_columns(study, tmp_path):
    base = _collect(study, tmp_path, name="base.csv")
    new = _collect(study, tmp_path, "measurement.pue=1.0", "measurement.kg_co2_per_kwh=0.1",
                   "measurement.cloud_usd_per_gpu_hour={H100: [1, 4]}", name="new.csv")
    assert new["energy.kwh"].tolist() == pytest.approx((base["energy.device_j"] / 3.6e6).tolist())
    assert new["co2_kg"].tolist() == pytest.approx((new["energy.kwh"] * 0.1).tolist())
    assert new.loc["run000000000", "cost.cloud_usd_high"] == pytest.approx(4.0)
    assert pd.isna(new.loc["run000000002", "cost.cloud_usd_low"])  # no cpu price given any more
    assert (new["energy.device_j"] == base["energy.device_j"]).all()  # the raw column never moves


def test_analyze_reprices_a_results_directory_too(study, tmp_path):
    out = tmp_path / "analysis"
    code = robustperf.main(["analyze", str(study), "-o", str(out), "--no-figures", "--bootstrap", "10",
                            "--set", "measurement.usd_per_kwh=0.24"])
    assert code == 0 and (out / "report.json").exists()


def test_a_bad_repricing_key_or_value_is_a_user_error(study, capsys):
    assert robustperf.main(["collect", str(study), "--set", "training.epochs=3"]) == 2
    assert "measurement.usd_per_kwh" in capsys.readouterr().err
    assert robustperf.main(["collect", str(study), "--set", "measurement.pue=0.5"]) == 2
    err = capsys.readouterr().err
    assert "measurement.pue" in err and "0.5" in err
