"""Grid carbon intensity by place (``measurement.region``) from codecarbon's packaged data, read as files.

A region is one of (matched case-insensitively; the recipe keeps the canonical spelling):

- a country: ISO 3166 alpha-3 (``FRA``) or alpha-2 (``FR``) code -> codecarbon's ``global_energy_mix.json``
  (Our World in Data's energy data: each country's electricity carbon intensity and the year it is for);
- a grid zone: a US state ``US-VA`` (EPA eGRID, ``2023/usa_emissions.json``, lbs/MWh converted), a Nordic
  bidding zone ``SE1``..``SE4``, ``NO1``..``NO5`` (``nordic_emissions.json``), a Chinese province ``CN-BJ``
  (``2023/china_provincial_emissions.json``);
- a cloud region: ``gcp:europe-west1`` (Google's per-region figures, ``cloud/impact.csv``), or ``aws:us-east-1`` /
  ``azure:francecentral``, priced with the zone or country they lie in (:mod:`recipes.carbon_clouds`).

Only the installed package's data files are read (its trackers are never started, nothing goes to the network);
its version is recorded with the dataset's name, file and year (``pricing.carbon_source``). An explicit
``measurement.kg_co2_per_kwh`` beats the region; with neither, :data:`DEFAULT_KG_CO2_PER_KWH` applies. An unknown
region is a :class:`~recipes.errors.RecipeError` naming the key and value with the nearest known regions.
"""
from __future__ import annotations

import csv
import difflib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Tuple

from .carbon_clouds import CLOUD_LOCATIONS
from .errors import RecipeError

__all__ = ["DEFAULT_KG_CO2_PER_KWH", "PACKAGE", "Intensity", "regions", "lookup", "near_regions", "check_region",
           "carbon_intensity"]

#: kg CO2eq per kWh when neither ``measurement.kg_co2_per_kwh`` nor ``measurement.region`` is set: the suite's
#: single constant before regions existed, kept so that runs priced before compare with runs priced now.
DEFAULT_KG_CO2_PER_KWH = 0.5663
#: the package whose data files hold the intensities
PACKAGE = "codecarbon"
_KG_PER_LB = 0.45359237
_LONGEST = 64  # a longer value is no region: no near-match search over it


@dataclass(frozen=True)
class Intensity:
    """One region's grid carbon intensity and where it comes from."""

    region: str
    kg_per_kwh: float
    place: str
    dataset: str
    file: str
    year: Optional[int]
    via: Optional[str] = None

    def source(self) -> Dict[str, Any]:
        """The record's ``pricing.carbon_source`` of this intensity (with the package version)."""
        out = asdict(self)
        out.pop("kg_per_kwh")
        out["package"] = f"{PACKAGE} {_version()}"
        return out


def _version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _data_dir() -> str:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RecipeError(f"measurement.region needs the {PACKAGE} package's data files; install robustperf's "
                          f"requirements (make install)", key="measurement.region")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def _read_json(rel: str) -> Any:
    with open(os.path.join(_data_dir(), rel), encoding="utf-8") as fh:
        return json.load(fh)


def _countries(table: Dict[str, Intensity], aliases: Dict[str, str]) -> None:
    rel = "private_infra/global_energy_mix.json"
    for code, entry in _read_json(rel).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("carbon_intensity"), (int, float)):
            continue
        name = str(entry.get("country_name") or code)
        table[code.upper()] = Intensity(code.upper(), entry["carbon_intensity"] / 1000.0, name,
                                        "Our World in Data energy mix, country electricity carbon intensity "
                                        "(codecarbon global_energy_mix.json)", f"{PACKAGE}/data/{rel}",
                                        entry.get("year"))
        aliases[name.upper()] = code.upper()
    try:
        import pycountry  # codecarbon's own dependency: ISO 3166 alpha-2 -> alpha-3
    except ImportError:  # pragma: no cover - installed with codecarbon
        return
    for country in pycountry.countries:
        if country.alpha_3 in table:
            aliases[country.alpha_2.upper()] = country.alpha_3


def _us_states(table: Dict[str, Intensity]) -> None:
    rel = "private_infra/2023/usa_emissions.json"
    data = _read_json(rel)
    source = data.get("_source") or {}
    for state, entry in data.items():
        if state.startswith("_") or not isinstance(entry, dict) or "regionCode" not in entry:
            continue
        code = f"US-{entry['regionCode'].upper()}"
        table[code] = Intensity(code, entry["emissions"] * _KG_PER_LB / 1000.0, f"{state.title()}, USA",
                                f"{source.get('name', 'EPA eGRID')} (codecarbon usa_emissions.json; lbs/MWh "
                                f"converted)", f"{PACKAGE}/data/{rel}", source.get("year"))


def _zones(table: Dict[str, Intensity], rel: str, dataset: str, skip: Tuple[str, ...] = ()) -> None:
    data = _read_json(rel)
    year = (data.get("metadata") or {}).get("year")
    for code, entry in (data.get("data") or {}).items():
        if code.upper() in skip or not isinstance(entry.get("emission_factor"), (int, float)):
            continue
        table[code.upper()] = Intensity(code.upper(), entry["emission_factor"] / 1000.0,
                                        str(entry.get("description") or code), dataset, f"{PACKAGE}/data/{rel}",
                                        entry.get("year", year))


def _gcp(table: Dict[str, Intensity]) -> None:
    rel = "cloud/impact.csv"
    with open(os.path.join(_data_dir(), rel), encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if (row.get("provider") or "").strip() != "gcp":
                continue
            code = f"gcp:{row['region'].strip()}"
            place = ", ".join(x for x in (row.get("city"), row.get("country_name")) if x)
            table[code.upper()] = Intensity(code, float(row["impact"]) / 1000.0, place,
                                            "Google Cloud region carbon data (codecarbon cloud/impact.csv; "
                                            f"{row.get('source') or 'no source given'})", f"{PACKAGE}/data/{rel}",
                                            None)


_TABLE: Optional[Tuple[Dict[str, Intensity], Dict[str, str]]] = None


def _load() -> Tuple[Dict[str, Intensity], Dict[str, str]]:
    global _TABLE
    if _TABLE is None:
        table: Dict[str, Intensity] = {}
        aliases: Dict[str, str] = {}
        _countries(table, aliases)
        _us_states(table)
        _zones(table, "private_infra/nordic_emissions.json", "ENTSO-E generation per bidding zone (codecarbon "
               "nordic_emissions.json)", skip=("FI",))  # Finland: the country's own entry (FIN, FI)
        _zones(table, "private_infra/2023/china_provincial_emissions.json", "MEE/NBS of China provincial "
               "electricity CO2 emission factors (codecarbon china_provincial_emissions.json)")
        _gcp(table)
        for name, (zone, place) in CLOUD_LOCATIONS.items():
            at = table.get(zone)
            if at is not None:
                table[name.upper()] = Intensity(name, at.kg_per_kwh, place, at.dataset, at.file, at.year,
                                                via=f"{name} lies in {zone} ({at.place}): robustperf's cloud "
                                                    "region map (recipes/carbon_clouds.py)")
        _TABLE = table, aliases
    return _TABLE


def regions() -> List[str]:
    """Every known region, canonical spelling (countries' alpha-3 codes; alpha-2 codes are accepted too)."""
    return sorted(entry.region for entry in _load()[0].values())


def lookup(region: str) -> Optional[Intensity]:
    """The intensity of ``region`` (any case; an alpha-2 country code too); None when unknown."""
    if not isinstance(region, str):
        return None
    table, aliases = _load()
    key = region.strip().upper()
    return table.get(aliases.get(key, key))


def near_regions(region: Any, n: int = 5) -> List[str]:
    """The known regions spelled most like ``region`` (names of countries count: ``France`` -> ``FRA``)."""
    text = str(region).strip().upper()
    if not text or len(text) > _LONGEST:
        return []
    table, aliases = _load()
    names = {key: entry.region for key, entry in table.items()}
    names.update({alias: table[code].region for alias, code in aliases.items()})
    out: List[str] = []
    for key in difflib.get_close_matches(text, list(names), n=3 * n, cutoff=0.6):
        entry = table[names[key].upper()]
        label = f"{entry.region} ({entry.place})"
        if label not in out:
            out.append(label)
    return out[:n]


def check_region(path: str, value: Any, file: Optional[str]) -> str:
    """The recipe check of ``measurement.region``: its canonical spelling, or a RecipeError with near matches."""
    if not isinstance(value, str) or not value.strip():
        raise RecipeError("expected a region: a country code (FRA or FR), a grid zone (US-VA, SE3, CN-BJ) or a "
                          "cloud region (gcp:europe-west1, aws:us-east-1, azure:francecentral)", file=file,
                          key=path, value=value)
    hit = lookup(value)
    if hit is None:
        near = near_regions(value)
        raise RecipeError(f"unknown region in {PACKAGE} {_version()}'s data ({len(_load()[0])} known: country "
                          "codes, US-XX states, Nordic zones, CN-XX provinces, gcp:/aws:/azure: regions; "
                          + (f"nearest: {', '.join(near)}" if near else "no near match") + ")", file=file,
                          key=path, value=value)
    return hit.region


def carbon_intensity(kg_co2_per_kwh: Optional[float], region: Optional[str]) -> Tuple[float, Dict[str, Any]]:
    """The kg CO2eq per kWh to price with and ``pricing.carbon_source`` saying where it comes from.

    An explicit ``kg_co2_per_kwh`` beats ``region`` (and the source says it overrode the region); else the
    region's intensity; else :data:`DEFAULT_KG_CO2_PER_KWH`.

    Raises:
        RecipeError: an unknown region.
    """
    if kg_co2_per_kwh is not None:
        note = "explicit measurement.kg_co2_per_kwh"
        if region:
            note += f"; it overrides measurement.region={region} (explicit beats region)"
        return float(kg_co2_per_kwh), {"from": "measurement.kg_co2_per_kwh", "region": region, "note": note}
    if region:
        hit = lookup(region)
        if hit is None:
            check_region("measurement.region", region, None)
        assert hit is not None
        return hit.kg_per_kwh, {"from": "measurement.region", **hit.source()}
    return DEFAULT_KG_CO2_PER_KWH, {"from": "default", "region": None,
                                    "note": "neither measurement.region nor measurement.kg_co2_per_kwh set: the "
                                            f"suite's constant {DEFAULT_KG_CO2_PER_KWH} kg/kWh"}
