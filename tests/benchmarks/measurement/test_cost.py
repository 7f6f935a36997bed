"""kWh, $, CO2 and cloud $ from measured windows, against the study's reference formula."""
from __future__ import annotations

import pytest

from tests.benchmarks._fake_power import NAME, LinearPower, ManualClock, install
from benchmarks.measurement import EnergyMeter, match_price, merge_totals, summarize
from recipes import DEFAULT_CLOUD_PRICES, MeasurementConfig
from results import TEMPLATE, new_record, validate

HOUR = 3600.0


@pytest.fixture
def h100_node_hours():
    """A measured run: 4 GPUs at a constant 300 W each; train 1 h, eval 0.5 h with a 0.25 h attack inside."""
    clock = ManualClock()
    remove = install(lambda devices, cfg, clk: LinearPower(clk, devices=4, base=300.0))
    try:
        with EnergyMeter(MeasurementConfig(), source=NAME, clock=clock) as meter:
            with meter.window("train"):
                clock.advance(HOUR)
            with meter.window("eval"):
                clock.advance(0.25 * HOUR)
                with meter.window("attack"):
                    clock.advance(0.25 * HOUR)
        yield meter.totals()
    finally:
        remove()


def test_reference_formula(h100_node_hours):
    """kWh = mean power x hours x GPUs x PUE; $ = kWh x 0.12; CO2 = kWh x 0.5663 (the recipe defaults)."""
    out = summarize(h100_node_hours, MeasurementConfig(), "NVIDIA H100 80GB HBM3", 4)
    kwh = 300 / 1000 * 1.5 * 4 * 1.58
    assert out["energy"]["kwh"] == pytest.approx(kwh)
    assert out["energy"]["train_kwh"] == pytest.approx(300 / 1000 * 1.0 * 4 * 1.58)
    assert out["energy"]["eval_kwh"] == pytest.approx(300 / 1000 * 0.5 * 4 * 1.58)
    assert out["energy"]["attack_kwh"] == pytest.approx(300 / 1000 * 0.25 * 4 * 1.58)
    assert out["energy"]["sampler_kwh"] == pytest.approx(kwh)
    assert out["energy"]["mean_power_w"] == pytest.approx(4 * 300)
    assert out["energy"]["pue"] == 1.58 and out["energy"]["source"] == NAME and out["energy"]["devices"] == 4
    assert out["cost"]["electricity_usd"] == pytest.approx(kwh * 0.12)
    assert out["co2_kg"] == pytest.approx(kwh * 0.5663)
    low, high = DEFAULT_CLOUD_PRICES["H100"]
    assert out["cost"]["device_hours"] == pytest.approx(6.0)
    assert out["cost"]["cloud_usd_low"] == pytest.approx(6.0 * low)
    assert out["cost"]["cloud_usd_high"] == pytest.approx(6.0 * high)
    assert out["timing"] == pytest.approx({"train_seconds": HOUR, "eval_seconds": 0.5 * HOUR,
                                           "attack_seconds": 0.25 * HOUR})


def test_every_number_comes_from_the_config(h100_node_hours):
    cfg = MeasurementConfig(pue=1.0, usd_per_kwh=0.3, kg_co2_per_kwh=0.1,
                            cloud_usd_per_gpu_hour={"H100": [1.0, 2.0]})
    out = summarize(h100_node_hours, cfg, "NVIDIA H100 80GB HBM3", 4)
    kwh = 300 / 1000 * 1.5 * 4
    assert out["energy"]["kwh"] == pytest.approx(kwh)
    assert out["cost"]["electricity_usd"] == pytest.approx(kwh * 0.3)
    assert out["co2_kg"] == pytest.approx(kwh * 0.1)
    assert (out["cost"]["cloud_usd_low"], out["cost"]["cloud_usd_high"]) == pytest.approx((6.0, 12.0))


def test_unknown_is_null_never_zero():
    totals = {"source": "unavailable", "windows": {
        "train": {"seconds": 10.0, "energy_j": None, "sampler_energy_j": None, "source": "unavailable"},
        "total": {"seconds": 10.0, "energy_j": None, "sampler_energy_j": None, "source": "unavailable"}}}
    out = summarize(totals, MeasurementConfig(), "Some Unknown Accelerator", 1)
    assert out["energy"]["kwh"] is None and out["energy"]["train_kwh"] is None
    assert out["energy"]["eval_kwh"] is None and out["energy"]["mean_power_w"] is None
    assert out["cost"]["electricity_usd"] is None and out["co2_kg"] is None
    assert out["cost"]["cloud_usd_low"] is None and out["cost"]["cloud_usd_high"] is None
    assert out["cost"]["device_hours"] == pytest.approx(10 / 3600)
    assert summarize(totals, MeasurementConfig(), None, None)["cost"]["device_hours"] is None


def test_without_total_train_plus_eval_is_the_run():
    windows = {"train": {"seconds": 100.0, "energy_j": 3.6e6, "source": "rapl"},
               "eval": {"seconds": 50.0, "energy_j": 1.8e6, "source": "rapl"}}
    out = summarize(windows, MeasurementConfig(pue=1.0), "cpu", 2)
    assert out["energy"]["kwh"] == pytest.approx(1.5) and out["energy"]["source"] == "rapl"
    low, high = DEFAULT_CLOUD_PRICES["cpu"]
    assert out["cost"]["cloud_usd_low"] == pytest.approx(150 / 3600 * 2 * low)


@pytest.mark.parametrize("model, key", [
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 PCIe", "H100"), ("NVIDIA H200", "H200"),
    ("NVIDIA A100-SXM4-40GB", "A100"), ("Tesla V100-SXM2-32GB", "V100"), ("cpu", "cpu"), ("CPU", "cpu"),
])
def test_device_model_matches_price_key(model, key):
    assert match_price(model, DEFAULT_CLOUD_PRICES) == tuple(map(float, DEFAULT_CLOUD_PRICES[key]))


def test_longest_key_wins_and_unknown_models_have_no_price():
    prices = {"A10": [0.5, 1.0], "A100": [1.2, 4.1]}
    assert match_price("NVIDIA A100-SXM4-80GB", prices) == (1.2, 4.1)
    assert match_price("NVIDIA A10", prices) == (0.5, 1.0)
    assert match_price("NVIDIA GeForce RTX 4090", DEFAULT_CLOUD_PRICES) is None
    assert match_price("AMD EPYC 7763", DEFAULT_CLOUD_PRICES) is None   # a CPU run is priced as "cpu"
    assert match_price(None, DEFAULT_CLOUD_PRICES) is None


def test_fills_fields_the_record_declares(h100_node_hours):
    out = summarize(h100_node_hours, MeasurementConfig(), "NVIDIA H100 80GB HBM3", 4)
    record = new_record("abc123", "run", {"seed": 0})
    for group in ("energy", "cost", "timing"):
        assert set(out[group]) <= set(TEMPLATE[group]), group
        record[group].update(out[group])
    record["co2_kg"] = out["co2_kg"]
    assert validate(record) == []


def test_ranks_merge_into_one_run():
    """Two ranks, one GPU each, side by side: energy adds up, time does not, devices do."""
    rank = [{"source": "nvml", "devices": 1, "windows": {
        "train": {"seconds": s, "energy_j": e, "sampler_energy_j": e, "count": 1, "source": "nvml"},
        "total": {"seconds": s, "energy_j": e, "sampler_energy_j": e, "count": 1, "source": "nvml"}}}
        for s, e in ((100.0, 3.6e4), (101.0, 3.8e4))]
    merged = merge_totals(rank)
    assert merged["devices"] == 2 and merged["source"] == "nvml"
    assert merged["windows"]["total"]["seconds"] == 101.0
    assert merged["windows"]["total"]["energy_j"] == pytest.approx(7.4e4)
    out = summarize(merged, MeasurementConfig(pue=1.0), "NVIDIA H100 80GB HBM3", merged["devices"])
    assert out["energy"]["kwh"] == pytest.approx(7.4e4 / 3.6e6)
    assert out["cost"]["device_hours"] == pytest.approx(101.0 / 3600 * 2)
    rank[1]["windows"]["total"]["energy_j"] = None          # one rank unmeasured: the run's energy is unknown
    assert summarize(merge_totals(rank), MeasurementConfig(), None, 2)["energy"]["kwh"] is None
