"""Re-pricing a finished study by place: ``robustperf collect --set measurement.region=...`` gives CO2 in the
ratio of the regions' intensities in codecarbon's packaged data, records the dataset, and moves no run id."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from results import new_record, write_record
from results.pricing import derive
from tests.conftest import ROOT

MEASUREMENT = {"pue": 1.58, "usd_per_kwh": 0.12, "kg_co2_per_kwh": 0.5663, "region": None,
               "cloud_usd_per_gpu_hour": {"cpu": [0.02, 0.05]}}
MIX = os.path.join(list(importlib.util.find_spec("codecarbon").submodule_search_locations)[0], "data",
                   "private_infra", "global_energy_mix.json")


@pytest.fixture
def study(tmp_path):
    """Two completed runs with raw device joules, priced as the runner prices them (explicit 0.5663)."""
    root = tmp_path / "runs"
    for i, joules in enumerate((3.6e6, 1234.5)):
        record = new_record(f"run{i:09d}", f"r{i}", {"seed": i, "measurement": dict(MEASUREMENT)})
        raw = {"device_j": joules, "train_j": joules, "eval_j": None, "attack_j": None, "sampler_j": None}
        derived = derive(raw, 1.0, "cpu", MEASUREMENT)
        record["energy"].update({**raw, **derived["energy"]})
        record["cost"].update({**derived["cost"], "device_hours": 1.0, "device_model": "cpu"})
        record.update(status="completed", co2_kg=derived["co2_kg"], pricing=derived["pricing"])
        write_record(str(root), record)
    return root


def _collect(root, out, *sets):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "robustperf", "collect", str(root), "-o", str(out)]
    for item in sets:
        args += ["--set", item]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _table(root, tmp_path, *sets, name):
    done = _collect(root, tmp_path / name, *sets)
    assert done.returncode == 0, done.stderr
    return pd.read_csv(tmp_path / name).set_index("run_id").sort_index()


def test_two_regions_give_co2_in_the_ratio_of_their_intensities_and_no_run_id_moves(study, tmp_path):
    with open(MIX, encoding="utf-8") as fh:
        mix = json.load(fh)
    base = _table(study, tmp_path, name="base.csv")
    fra = _table(study, tmp_path, "measurement.region=FRA", name="fra.csv")
    deu = _table(study, tmp_path, "measurement.region=de", name="deu.csv")
    assert list(fra.index) == list(base.index) == list(deu.index)  # re-pricing by place moves no run id
    ratio = mix["FRA"]["carbon_intensity"] / mix["DEU"]["carbon_intensity"]
    assert (fra["co2_kg"] / deu["co2_kg"]).tolist() == pytest.approx([ratio] * len(base))
    assert fra["co2_kg"].tolist() == pytest.approx((fra["energy.kwh"] * mix["FRA"]["carbon_intensity"] / 1000).tolist())
    assert (fra["energy.kwh"] == base["energy.kwh"]).all()
    assert (fra["pricing.region"] == "FRA").all() and (deu["pricing.region"] == "DEU").all()
    assert (fra["pricing.carbon_source.from"] == "measurement.region").all()
    assert (fra["pricing.carbon_source.year"] == mix["FRA"]["year"]).all()
    assert fra["pricing.carbon_source.package"].str.startswith("codecarbon ").all()
    assert (base["pricing.carbon_source.from"] == "measurement.kg_co2_per_kwh").all()


def test_an_explicit_intensity_at_collect_time_beats_the_region(study, tmp_path):
    both = _table(study, tmp_path, "measurement.region=gcp:europe-west1", "measurement.kg_co2_per_kwh=0.1",
                  name="both.csv")
    assert both["co2_kg"].tolist() == pytest.approx((both["energy.kwh"] * 0.1).tolist())
    assert (both["pricing.carbon_source.from"] == "measurement.kg_co2_per_kwh").all()
    assert both["pricing.carbon_source.note"].str.contains("overrides measurement.region=gcp:europe-west1").all()


def test_an_unknown_region_at_collect_time_exits_2_with_near_matches(study, tmp_path):
    done = _collect(study, tmp_path / "x.csv", "measurement.region=gcp:europe-wst1")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "measurement.region" in done.stderr and "gcp:europe-wst1" in done.stderr
    assert "gcp:europe-west1" in done.stderr and not (tmp_path / "x.csv").exists()
