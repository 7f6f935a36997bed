"""Records evolve: older versions are migrated on read, unknown fields are kept, new fields never invalidate."""
from __future__ import annotations

import copy
import json
import os

import pytest

import results
from results.evaluations import select_evaluation, store_evaluation
from results.groups import TEMPLATE
from results.keys import ACCURACY
from results.pricing import reprice
from results.versions import upgrade


def _v10_record(run_id="abc123def456", **extra):
    """A 1.0 record as the 1.0 writer laid it out (its exact fixed groups), completed with measurements."""
    record = {
        "schema_version": "1.0", "run_id": run_id, "name": "wrn-10-1_relu_at_pgd2_e1_syn0_s0", "recipe": "tiny",
        "status": "completed", "failure_reason": None,
        "config": {"seed": 0, "data": {"name": "digits", "num_workers": 0}, "model": {"arch": "wrn"},
                   "training": {"loss": "at", "epochs": 1}, "attack": {"eps": 0.1},
                   "evaluation": {"pgd_steps": 3, "pgd_step_size": None, "pgd_subset": 64,
                                  "autoattack": ["apgd-ce"], "autoattack_n": 16, "batch_size": 256,
                                  "which": "best"},
                   "measurement": {"pue": 1.58, "usd_per_kwh": 0.12, "kg_co2_per_kwh": 0.5663,
                                   "cloud_usd_per_gpu_hour": {"cpu": [0.02, 0.05]}},
                   "tracking": {"wandb": "disabled"}},
        "seed": 0, "params": 77562,
        "flops": {k: None for k in ("forward_per_sample", "train_forward_per_sample", "train_total", "source",
                                    "forward_macs_per_sample", "train_samples", "steps")},
        "timing": {"train_seconds": 2.0, "eval_seconds": 1.0, "attack_seconds": 0.5,
                   "attack_seconds_per_sample": 0.03},
        "energy": {"kwh": 0.0158, "source": "rapl", "train_kwh": 0.0079, "eval_kwh": 0.00395,
                   "attack_kwh": None, "pue": 1.58, "mean_power_w": 10.0, "sampler_kwh": None, "devices": 1},
        "cost": {"electricity_usd": 0.0158 * 0.12, "cloud_usd_low": None, "cloud_usd_high": None,
                 "device_hours": 0.001, "device_model": "cpu"},
        "co2_kg": 0.0158 * 0.5663,
        "accuracy": {"clean": 90.0, "pgd": 60.0, "autoattack": 50.0, "autoattack_ci": [30.0, 70.0],
                     "autoattack_n": 16, "pgd_n": 360, "clean_n": 360, "per_attack": {"clean": 90.0},
                     "max_perturbation": 0.1, "which": "best"},
        "training": {k: None for k in ("epochs", "epochs_completed", "global_batch_size", "world_size",
                                       "best_epoch", "best_pgd_subset", "final_train_loss", "precision")},
        "evaluation": {"warnings": [], "inference": None, "autoattack_version": "custom"},
        "hardware": {"cpu": "x", "gpus": [], "count": None, "host": "h"},
        "software": {"python": "3", "torch": "2", "timm": "1", "deepspeed": "0", "pyautoattack": "0.2.0"},
        "checkpoints": {"best": None, "last": None},
        "job": {"scheduler": "local", "job_id": None, "array_job_id": None, "array_task_id": None, "host": "h",
                "pid": 1, "attempts": 1},
        "tracking": {"wandb_mode": None, "wandb_dir": None, "wandb_run_id": None, "mllog": None},
        "created": "2026-11-29T00:00:00+00:00", "updated": "2026-11-29T00:00:00+00:00",
    }
    record.update(extra)
    return record


def test_a_1_0_record_is_migrated_on_read(tmp_path):
    path = tmp_path / "abc123def456" / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_v10_record()))
    record = results.read_record(str(path))
    assert record["schema_version"] == results.SCHEMA_VERSION == "1.1"
    config = record["config"]
    # the per-epoch best-checkpoint check belongs to training now; the final evaluation keeps its own keys
    assert "pgd_subset" not in config["evaluation"] and config["training"]["select_subset"] == 64
    assert config["training"]["select_pgd_steps"] == 3 == config["evaluation"]["pgd_steps"]
    assert config["training"]["select_batch_size"] == 256
    # raw joules before PUE recovered from the kWh that include it
    assert record["energy"]["device_j"] == pytest.approx(0.0158 / 1.58 * 3.6e6)
    assert record["energy"]["attack_j"] is None
    assert record["pricing"]["usd_per_kwh"] == 0.12 and record["pricing"]["pue"] == 1.58
    # the completed evaluation is kept, keyed by its settings, and is the headline
    key = record["evaluation"]["key"]
    assert key and record["evaluations"][key]["accuracy"]["autoattack"] == 50.0
    assert record["evaluations"][key]["settings"]["autoattack_n"] == 16
    assert results.validate(record) == []
    # the file itself is not touched by reading
    assert json.loads(path.read_text())["schema_version"] == "1.0"


def test_unknown_fields_are_kept_everywhere(tmp_path):
    raw = _v10_record(method={"name": "my-method", "rho": 0.5})
    raw["accuracy"]["per_exit"] = [1.0, 2.0]
    path = tmp_path / raw["run_id"] / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps(raw))
    record = results.read_record(str(path))
    # "method" is a known group now (its fields null until filled); the unknown field "rho" is kept in it
    assert {k: v for k, v in record["method"].items() if v is not None} == {"name": "my-method", "rho": 0.5}
    assert record["accuracy"]["per_exit"] == [1.0, 2.0]
    results.write_record(str(tmp_path), record)  # a writer keeps them too
    again = results.read_record(str(path))
    assert again["method"]["rho"] == 0.5 and again["accuracy"]["per_exit"] == [1.0, 2.0]
    assert again["schema_version"] == "1.1"


def test_a_field_added_later_does_not_invalidate_an_existing_record(tmp_path, monkeypatch):
    record = results.new_record("abc123def456", "n", {"seed": 0})
    path = results.write_record(str(tmp_path), record)
    # a later version of the suite adds a field to a group: the old file still reads, with it null
    monkeypatch.setitem(TEMPLATE, ACCURACY, {**TEMPLATE[ACCURACY], "brand_new": None})
    back = results.read_record(path)
    assert back["accuracy"]["brand_new"] is None


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r["accuracy"].__setitem__("clean", "ninety"), "accuracy.clean"),
    (lambda r: r.__setitem__("energy", [1, 2]), "energy"),
    (lambda r: r["job"].__setitem__("attempts", 1.5), "job.attempts"),
    (lambda r: r.__setitem__("status", "done"), "status"),
])
def test_validation_checks_structure_and_types(mutate, reason):
    record = results.new_record("abc123def456", "n", {"seed": 0})
    mutate(record)
    assert any(reason in p for p in results.validate(record)), results.validate(record)


def test_a_newer_version_says_to_upgrade(tmp_path):
    path = tmp_path / "r" / "result.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**_v10_record(), "schema_version": "9.0"}))
    with pytest.raises(results.RecordError, match="newer than this robustperf"):
        results.read_record(str(path))


def test_going_back_to_a_stored_evaluation_is_free():
    record = upgrade(_v10_record())
    first = record["evaluation"]["key"]
    record["accuracy"]["autoattack"] = 40.0
    second = store_evaluation(record, {"autoattack_n": 1000, "which": "best"})
    assert second != first and record["evaluation"]["key"] == second
    assert select_evaluation(record, first)
    assert record["accuracy"]["autoattack"] == 50.0 and record["evaluation"]["key"] == first
    assert not select_evaluation(record, "000000000000")


def test_repricing_recomputes_derived_columns_from_raw_ones():
    record = upgrade(_v10_record())
    doubled = reprice(record, {"usd_per_kwh": 0.24})
    assert doubled["cost"]["electricity_usd"] == 2 * reprice(record)["cost"]["electricity_usd"]
    assert doubled["pricing"]["usd_per_kwh"] == 0.24 and record["pricing"]["usd_per_kwh"] == 0.12
    cleaner = reprice(record, {"pue": 1.0, "kg_co2_per_kwh": 0.1})
    assert cleaner["energy"]["kwh"] == pytest.approx(0.0158 / 1.58)
    assert cleaner["co2_kg"] == pytest.approx(0.0158 / 1.58 * 0.1)
    assert cleaner["energy"]["device_j"] == record["energy"]["device_j"]  # raw untouched
    cloud = reprice(record, {"cloud_usd_per_gpu_hour": {"cpu": [1.0, 2.0]}})
    assert cloud["cost"]["cloud_usd_low"] == pytest.approx(0.001) and cloud["cost"]["cloud_usd_high"] == 0.002
