"""Costs a reader can picture: forecast FLOPs as GPU-hours on a named device, kWh, $, CO2 and CO2 equivalents.

Every number here is an **estimate** (labelled so in the report): ``GPU-hours = FLOPs / (peak FLOP/s x
utilisation) / 3600`` on the named device, ``kWh = GPU-hours x device watts / 1000 x PUE``, ``$ = kWh x price``,
``CO2 kg = kWh x grid intensity``, and each equivalent = CO2 kg / its factor. PUE, price and grid intensity
default to the recipe's measurement defaults (:class:`recipes.schema.MeasurementConfig`); the device, its peak
and power, the assumed utilisation and the equivalents' factors default to :data:`DEFAULTS` and are set by the
mapping file's ``units:`` key (``equivalents`` replaces the whole table).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from recipes import MeasurementConfig
from recipes.carbon import carbon_intensity

from .errors import TableError
from .formatting import md_table, num

#: The factor table of CO2 equivalents: name -> kg CO2e per unit, its unit and its source.
EQUIVALENTS: Dict[str, Dict[str, Any]] = {
    "car_km": {"kg_co2_per_unit": 0.2486, "unit": "km driven by an average US passenger car",
               "source": "US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' (about 400 g CO2 "
                         "per mile = 0.2486 kg/km)"},
    "air_passenger_km": {"kg_co2_per_unit": 0.150, "unit": "passenger-km, long-haul economy flight",
                         "source": "UK DESNZ greenhouse gas conversion factors 2024, condensed set: long-haul "
                                   "economy, with radiative forcing"},
    "car_years": {"kg_co2_per_unit": 4600.0, "unit": "years of a typical US passenger car",
                  "source": "US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' (4.6 t CO2 per "
                            "year)"},
    "gasoline_gallons": {"kg_co2_per_unit": 8.887, "unit": "US gallons of gasoline burned",
                         "source": "US EPA, Greenhouse Gas Equivalencies Calculator (8,887 g CO2 per gallon)"},
}

#: Device and assumptions of the GPU-hour estimate.
DEFAULTS: Dict[str, Any] = {
    "device": "NVIDIA A100-SXM4-80GB",
    "peak_tflops": 312.0,   # dense BF16 tensor-core peak, NVIDIA A100 datasheet
    "utilisation": 0.4,     # assumed model FLOP utilisation of adversarial training (an assumption: set yours)
    "device_watts": 400.0,  # A100 SXM board power (TDP), NVIDIA A100 datasheet
    "flops_per_unit": 1.0,  # FLOPs per unit of the table's FLOPs column (1e12 for a column in TFLOPs)
}
KEYS = ("flops_per_unit", "device", "peak_tflops", "utilisation", "device_watts", "pue", "usd_per_kwh", "kg_co2_per_kwh",
        "equivalents")


def settings(units: Optional[Dict[str, Any]] = None, where: str = "units") -> Dict[str, Any]:
    """The full settings: defaults, the recipe's pricing defaults, then ``units`` (checked; TableError)."""
    m = MeasurementConfig()
    out: Dict[str, Any] = dict(DEFAULTS, pue=m.pue, usd_per_kwh=m.usd_per_kwh, kg_co2_per_kwh=carbon_intensity(m.kg_co2_per_kwh, m.region)[0],
                               equivalents=EQUIVALENTS)
    for key, value in (units or {}).items():
        if key not in KEYS:
            raise TableError(f"{where}: unknown key '{key}'; valid keys: {', '.join(KEYS)}")
        if key == "device":
            if not isinstance(value, str) or not value:
                raise TableError(f"{where}.device must be a device name, got {value!r}")
        elif key == "equivalents":
            value = _equivalents(value, where)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise TableError(f"{where}.{key} must be a positive number, got {value!r}")
            if key == "utilisation" and value > 1:
                raise TableError(f"{where}.utilisation is a fraction of peak, 0 < utilisation <= 1, got {value!r}")
            value = float(value)
        out[key] = value
    return out


def mapping_units(mapping: Any) -> Dict[str, Any]:
    """The ``units`` of a mapping, with its electricity price (``usd_per_kwh`` / ``--usd-per-kwh``) as the price
    unless ``units`` sets its own: one price per analysis."""
    units = dict(getattr(mapping, "units", None) or {})
    price = getattr(mapping, "usd_per_kwh", None)
    if price is not None and "usd_per_kwh" not in units:
        units["usd_per_kwh"] = price
    return units


def _equivalents(value: Any, where: str) -> Dict[str, Dict[str, Any]]:
    if not isinstance(value, dict):
        raise TableError(f"{where}.equivalents must map names to {{kg_co2_per_unit, unit, source}}")
    out = {}
    for name, entry in value.items():
        if not isinstance(entry, dict) or set(entry) - {"kg_co2_per_unit", "unit", "source"}:
            raise TableError(f"{where}.equivalents.{name}: expected keys kg_co2_per_unit, unit, source")
        factor = entry.get("kg_co2_per_unit")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
            raise TableError(f"{where}.equivalents.{name}.kg_co2_per_unit must be a positive number, got {factor!r}")
        if not entry.get("source"):
            raise TableError(f"{where}.equivalents.{name}: a factor needs its source")
        out[str(name)] = {"kg_co2_per_unit": float(factor), "unit": str(entry.get("unit", name)),
                          "source": str(entry["source"])}
    return out


def picture(flops: Optional[float], units: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """GPU-hours, kWh, $, CO2 kg and CO2 equivalents of ``flops`` FLOPs (``None`` for ``None``)."""
    if flops is None:
        return None
    s = settings(units)
    gpu_hours = float(flops) * s["flops_per_unit"] / (s["peak_tflops"] * 1e12 * s["utilisation"]) / 3600.0
    kwh = gpu_hours * s["device_watts"] / 1000.0 * s["pue"]
    co2 = kwh * s["kg_co2_per_kwh"]
    return {"device": s["device"], "peak_tflops": s["peak_tflops"], "utilisation": s["utilisation"],
            "gpu_hours": gpu_hours, "kwh": kwh, "usd": kwh * s["usd_per_kwh"], "co2_kg": co2,
            "equivalents": {k: co2 / e["kg_co2_per_unit"] for k, e in s["equivalents"].items()},
            "how": f"estimated: FLOPs{' x %g' % s['flops_per_unit'] if s['flops_per_unit'] != 1 else ''} / ({s['peak_tflops']:g} TFLOP/s peak x {s['utilisation']:g} utilisation) on "
                   f"{s['device']}; kWh = GPU-hours x {s['device_watts']:g} W x PUE {s['pue']:g}; "
                   f"$ = kWh x {s['usd_per_kwh']:g}; CO2 = kWh x {s['kg_co2_per_kwh']:g} kg/kWh"}


def markdown_rows(rows: List[Dict[str, Any]], used: Optional[Dict[str, Any]] = None) -> List[str]:
    """A report.md table of the pictured costs of forecast rows that have them, with the factors' sources
    (``used``: the settings, as :func:`settings` returns them)."""
    rows = [r for r in rows if r.get("pictured")]
    if not rows:
        return []
    first = rows[0]["pictured"]
    names = list(first["equivalents"])
    lines = ["Costs a reader can picture (" + first["how"] + "):", ""]
    lines += md_table(["target", "GPU-hours", "kWh", "$", "CO2 kg"] + names,
                      [[f"{r['target']:g} %", num(r["pictured"]["gpu_hours"]), num(r["pictured"]["kwh"]),
                        num(r["pictured"]["usd"]), num(r["pictured"]["co2_kg"])]
                       + [num(r["pictured"]["equivalents"][n]) for n in names] for r in rows])
    if used:
        lines += ["CO2 equivalents: " + "; ".join(f"`{k}` = {e['unit']}, {e['kg_co2_per_unit']:g} kg CO2e each "
                                                f"({e['source']})" for k, e in used["equivalents"].items()), ""]
    return lines
