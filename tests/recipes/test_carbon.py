"""measurement.region: the grid carbon intensity of a country, grid zone or cloud region, read from codecarbon's
packaged data files (recipes/carbon.py). Expected values are read from the same files here, never typed in."""
from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes import RecipeError
from recipes.carbon import (DEFAULT_KG_CO2_PER_KWH, carbon_intensity, check_region, lookup, near_regions,
                            regions)
from recipes.carbon_clouds import CLOUD_LOCATIONS
from tests.conftest import ROOT

DATA = os.path.join(list(importlib.util.find_spec("codecarbon").submodule_search_locations)[0], "data")
VERSION = importlib.metadata.version("codecarbon")


def _json(rel):
    with open(os.path.join(DATA, rel), encoding="utf-8") as fh:
        return json.load(fh)


def _expand(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "robustperf", "expand", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_country_by_alpha3_or_alpha2_reads_the_global_energy_mix_with_its_year():
    mix = _json("private_infra/global_energy_mix.json")
    for code in ("FRA", "fr", "Deu", "USA"):
        hit = lookup(code)
        entry = mix[hit.region]
        assert hit.kg_per_kwh == pytest.approx(entry["carbon_intensity"] / 1000.0)
        assert hit.year == entry["year"] and hit.place == entry["country_name"]
    source = carbon_intensity(None, "FR")[1]
    assert source["from"] == "measurement.region" and source["region"] == "FRA"
    assert source["package"] == f"codecarbon {VERSION}" and source["file"].endswith("global_energy_mix.json")
    assert "Our World in Data" in source["dataset"] and source["year"] == mix["FRA"]["year"]


def test_grid_zones_read_their_own_files():
    usa = _json("private_infra/2023/usa_emissions.json")
    virginia = next(v for v in usa.values() if isinstance(v, dict) and v.get("regionCode") == "VA")
    assert lookup("US-VA").kg_per_kwh == pytest.approx(virginia["emissions"] * 0.45359237 / 1000.0)
    assert lookup("us-va").year == usa["_source"]["year"]
    nordic = _json("private_infra/nordic_emissions.json")["data"]
    assert lookup("SE3").kg_per_kwh == pytest.approx(nordic["SE3"]["emission_factor"] / 1000.0)
    china = _json("private_infra/2023/china_provincial_emissions.json")["data"]
    assert lookup("CN-BJ").kg_per_kwh == pytest.approx(china["CN-BJ"]["emission_factor"] / 1000.0)


def test_cloud_regions_gcp_from_its_table_aws_and_azure_from_the_zone_they_lie_in():
    with open(os.path.join(DATA, "cloud", "impact.csv"), encoding="utf-8-sig", newline="") as fh:
        gcp = {r["region"]: float(r["impact"]) for r in csv.DictReader(fh) if r["provider"] == "gcp"}
    assert lookup("gcp:europe-west1").kg_per_kwh == pytest.approx(gcp["europe-west1"] / 1000.0)
    assert lookup("GCP:Europe-West1").region == "gcp:europe-west1"
    aws = carbon_intensity(None, "aws:us-east-1")
    assert aws[0] == lookup("US-VA").kg_per_kwh and "US-VA" in aws[1]["via"] and aws[1]["year"] is not None
    assert carbon_intensity(None, "azure:francecentral")[0] == lookup("FRA").kg_per_kwh


@pytest.mark.parametrize("name", sorted(CLOUD_LOCATIONS))
def test_every_mapped_cloud_region_resolves_to_a_zone_in_the_data(name):
    zone, _ = CLOUD_LOCATIONS[name]
    assert lookup(name) is not None and lookup(name).kg_per_kwh == lookup(zone).kg_per_kwh


def test_an_explicit_intensity_beats_the_region_and_says_so():
    kg, source = carbon_intensity(0.1, "FRA")
    assert kg == 0.1 and source["from"] == "measurement.kg_co2_per_kwh"
    assert "overrides measurement.region=FRA" in source["note"]
    assert carbon_intensity(None, None) == (DEFAULT_KG_CO2_PER_KWH, carbon_intensity(None, None)[1])
    assert carbon_intensity(None, None)[1]["from"] == "default"


def test_an_unknown_region_is_a_recipe_error_with_near_matches():
    with pytest.raises(RecipeError) as err:
        check_region("measurement.region", "Frnace", "r.yaml")
    text = str(err.value)
    assert "r.yaml" in text and "measurement.region" in text and "'Frnace'" in text and "FRA (France)" in text
    assert any(n.startswith("aws:us-east-1 ") for n in near_regions("aws:us-east1"))


def test_an_unknown_region_in_a_recipe_file_exits_2_naming_file_key_value_and_near_matches(tmp_path):
    recipe = tmp_path / "r.yaml"
    text = (ROOT / "recipes" / "tiny-digits.yaml").read_text()
    recipe.write_text(text.replace("  evaluation:", "  measurement: {region: azure:francecentrl}\n  evaluation:", 1))
    done = _expand(recipe, "--count")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert str(recipe) in done.stderr and "measurement.region" in done.stderr and "azure:francecentrl" in done.stderr
    assert "azure:francecentral (Paris)" in done.stderr
    done = _expand(ROOT / "recipes" / "tiny-digits.yaml", "--set", "measurement.region=Germny", "--count")
    assert done.returncode == 2 and "DEU (Germany)" in done.stderr and "Traceback" not in done.stderr


def test_the_region_changes_no_run_id():
    def ids(*sets):
        done = _expand(ROOT / "recipes" / "tiny-digits.yaml", *sets)
        assert done.returncode == 0, done.stderr
        return [json.loads(line)["run_id"] for line in done.stdout.splitlines()]

    base = ids()
    assert base and ids("--set", "measurement.region=FRA") == base
    assert ids("--set", "measurement.region=aws:us-east-1", "--set", "measurement.kg_co2_per_kwh=0.2") == base


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(regions())), st.booleans())
def test_any_known_region_in_any_case_is_itself(region, upper):
    spelled = region.upper() if upper else region.lower()
    assert lookup(spelled).region == region and check_region("k", f" {spelled} ", None) == region


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_other_text_is_a_recipe_error_never_a_crash(text):
    if lookup(text) is not None:
        return
    with pytest.raises(RecipeError):
        check_region("measurement.region", text, None)
