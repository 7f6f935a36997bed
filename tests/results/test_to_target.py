"""The record's ``to_target`` group: in every record (null for a run that enters no benchmark, older records
included), typed like every group, and re-priced from its raw device joules with the run's constants."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import results
from results import J_PER_KWH, ToTarget
from results.pricing import derive, derive_to_target, reprice


def _benchmark_record(device_j=3.6e6):
    record = results.new_record("abc123def456", "n", {"seed": 0, "measurement": {
        "pue": 1.5, "usd_per_kwh": 0.2, "kg_co2_per_kwh": 0.4, "cloud_usd_per_gpu_hour": {}}})
    record["pricing"].update(pue=1.5, usd_per_kwh=0.2, kg_co2_per_kwh=0.4, cloud_usd_per_gpu_hour={})
    record["energy"].update(device_j=2 * device_j, kwh=2 * device_j / J_PER_KWH * 1.5, pue=1.5)
    record["to_target"].update(benchmark="digits-linf-0.2", division="closed", target=50.0,
                               metric="robust_accuracy", reached=True, epoch=3, accuracy=54.7, seconds=4.2,
                               train_flops=48078323712, device_j=device_j,
                               **derive_to_target(device_j, record["pricing"]),
                               confirmation={"robust_accuracy": 40.3, "confirmed": True})
    return record


def test_every_record_has_the_group_null_until_a_benchmark_run_fills_it(tmp_path):
    record = results.new_record("abc123def456", "n", {"seed": 0})
    assert record["to_target"] == ToTarget().to_dict() and all(v is None for v in record["to_target"].values())
    assert not results.validate(record)
    # a record written before the group existed reads with it, null
    del record["to_target"]
    folder = tmp_path / "abc123def456"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(record))
    assert results.read_record(str(folder / "result.json"))["to_target"] == ToTarget().to_dict()
    assert "to_target.kwh" in results.FIELDS and "to_target.confirmation" in results.FIELDS


def test_a_wrongly_typed_field_is_a_schema_problem():
    record = _benchmark_record()
    assert not results.validate(record)
    record["to_target"]["reached"] = "yes"
    record["to_target"]["epoch"] = 2.5
    assert results.validate(record) == ["field 'to_target.reached' must be bool or null, got 'yes'",
                                        "field 'to_target.epoch' must be an integer or null, got 2.5"]


def test_repricing_derives_kwh_usd_and_co2_to_target_from_its_raw_joules():
    record = _benchmark_record(device_j=3.6e6)  # 1 kWh at the devices
    assert record["to_target"]["kwh"] == pytest.approx(1.5) and record["to_target"]["usd"] == pytest.approx(0.3)
    cheaper = reprice(record, {"usd_per_kwh": 0.1})
    assert cheaper["to_target"]["kwh"] == pytest.approx(1.5) and cheaper["to_target"]["usd"] == pytest.approx(0.15)
    greener = reprice(record, {"pue": 1.0, "kg_co2_per_kwh": 0.1})
    assert greener["to_target"]["kwh"] == pytest.approx(1.0) and greener["to_target"]["co2_kg"] == pytest.approx(0.1)
    assert greener["to_target"]["device_j"] == 3.6e6 and greener["to_target"]["confirmation"]["confirmed"] is True
    # a run that missed its target (no joules to price) stays as it is
    missed = _benchmark_record()
    missed["to_target"].update(reached=False, device_j=None, kwh=None, usd=None, co2_kg=None)
    assert reprice(missed, {"usd_per_kwh": 1.0})["to_target"]["usd"] is None


@settings(max_examples=200, deadline=None)
@given(joules=st.floats(min_value=0, max_value=1e15, allow_nan=False),
       pue=st.floats(min_value=1.0, max_value=3.0), usd=st.floats(min_value=0, max_value=10),
       co2=st.floats(min_value=0, max_value=2))
def test_to_target_prices_like_the_whole_run(joules, pue, usd, co2):
    """kWh, $ and CO2 to target follow the same formula as the run's own (results.pricing.derive)."""
    constants = {"pue": pue, "usd_per_kwh": usd, "kg_co2_per_kwh": co2, "cloud_usd_per_gpu_hour": {}}
    mine = derive_to_target(joules, constants)
    whole = derive({"device_j": joules}, None, None, constants)
    assert mine["kwh"] == whole["energy"]["kwh"] and mine["usd"] == whole["cost"]["electricity_usd"]
    assert mine["co2_kg"] == whole["co2_kg"]
