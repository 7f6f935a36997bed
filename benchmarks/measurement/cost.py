"""Turn measured joules and seconds into the record's energy, money and CO2 fields.

The raw measurements (device joules before PUE per window, device-hours, device model) go into the record
as they are; the derived kWh, $ and CO2 come from :func:`results.pricing.derive`, the one function that
applies the pricing constants (kWh = device energy x ``measurement.pue``; electricity $ = kWh x
``usd_per_kwh``; CO2 kg = kWh x ``kg_co2_per_kwh``; cloud $ = device-hours x the low/high $/h of the device
model in ``cloud_usd_per_gpu_hour``; Strubell et al., "Energy and Policy Considerations for Deep Learning in
NLP", ACL 2019, for the method), so a finished study can be re-priced without rerunning. Every price comes
from the recipe or a re-pricing flag; anything unknown is None, never 0.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from results import Cost, Energy, Timing
from results.keys import CO2_KG, COST, ENERGY, PRICING, TIMING
from results.pricing import CPU, SECONDS_PER_HOUR, derive, match_price  # noqa: F401 - match_price re-exported

from .energy import TOTAL, Window

#: Windows reported separately as energy.<name>_kwh.
NAMED_WINDOWS = ("train", "eval", "attack")

# the fields filled here are fields of their typed groups (a rename fails here, at import)
#: Device kinds a meter splits its joules into, reported as energy.<kind>_j; energy.includes lists those measured.
KINDS = ("gpu", "cpu", "dram")

Energy.names("device_j", "sampler_j", *(f"{name}_j" for name in NAMED_WINDOWS), "source", "mean_power_w", "devices",
             *(f"{kind}_j" for kind in KINDS), "includes", "measured", "readings", "missing")
Cost.names("device_hours", "device_model")
Timing.names(*(f"{name}_seconds" for name in NAMED_WINDOWS))


def _windows(windows_or_totals: Any) -> Dict[str, Dict[str, Any]]:
    """Accept ``EnergyMeter.totals()``, its ``windows`` dict, or a dict of :class:`Window`."""
    data = windows_or_totals
    if isinstance(data, Mapping) and "windows" in data and isinstance(data["windows"], Mapping):
        data = data["windows"]
    return {name: (w.to_dict() if isinstance(w, Window) else dict(w)) for name, w in (data or {}).items()}


def _source(windows_or_totals: Any, windows: Dict[str, Dict[str, Any]]) -> Optional[str]:
    if isinstance(windows_or_totals, Mapping) and windows_or_totals.get("source"):
        total = windows.get(TOTAL, {}).get("source")
        return total or windows_or_totals["source"]
    sources = {w.get("source") for w in windows.values() if w.get("source")}
    return "+".join(sorted(sources)) or None


def summarize(windows_or_totals: Any, measurement_cfg, device_model: Optional[str],
              device_count: Optional[int]) -> Dict[str, Any]:
    """Record fields from measured windows.

    Args:
        windows_or_totals: ``EnergyMeter.totals()`` (or its windows). ``total`` (the union of the windows) is
            the run's energy and time; without it, train + eval.
        measurement_cfg: the recipe's ``measurement`` section (pue, usd_per_kwh, kg_co2_per_kwh,
            cloud_usd_per_gpu_hour).
        device_model: GPU model name (``"NVIDIA H100 80GB HBM3"``), ``"cpu"`` for CPU runs, None if unknown.
        device_count: devices billed: GPUs, or CPU cores for CPU runs (the ``cpu`` price is per core-hour).

    Returns:
        ``{"energy": {...}, "cost": {...}, "co2_kg": ..., "pricing": {...}, "timing": {...}}`` with the
        record's keys; every kWh includes PUE, every ``energy.*_j`` is raw device joules (before PUE);
        ``energy.mean_power_w`` is the raw device power; ``pricing`` the constants applied. The headline joules
        are the sum over the device kinds measured (``energy.includes``: on a GPU run metered by Zeus, the host's
        CPU packages and DRAM beside the GPUs), each kind's share in ``energy.<kind>_j``.
    """
    windows = _windows(windows_or_totals)
    total = windows.get(TOTAL)
    if total is None:
        parts = [windows[n] for n in ("train", "eval") if n in windows]
        total = {"seconds": sum(p["seconds"] for p in parts) if parts else None,
                 "energy_j": None if not parts or any(p["energy_j"] is None for p in parts)
                 else sum(p["energy_j"] for p in parts),
                 "sampler_energy_j": None if not parts or any(p.get("sampler_energy_j") is None for p in parts)
                 else sum(p["sampler_energy_j"] for p in parts)}
    seconds, joules = total.get("seconds"), total.get("energy_j")
    raw = {"device_j": joules, "sampler_j": total.get("sampler_energy_j")}
    for name in NAMED_WINDOWS:
        raw[f"{name}_j"] = windows[name]["energy_j"] if name in windows else None
    device_hours = None
    if seconds is not None and device_count:
        device_hours = seconds / SECONDS_PER_HOUR * device_count
    derived = derive(raw, device_hours, device_model, measurement_cfg)
    kinds = total.get("kinds_j") if joules is not None else None
    info = windows_or_totals if isinstance(windows_or_totals, Mapping) else {}
    energy = {**raw, **derived[ENERGY], "source": _source(windows_or_totals, windows),
              "mean_power_w": joules / seconds if joules is not None and seconds else None,
              "devices": device_count,
              **{f"{kind}_j": (kinds or {}).get(kind) for kind in KINDS},
              "includes": sorted(kinds, key=lambda k: (KINDS + (k,)).index(k)) if kinds else None,
              "measured": info.get("measured") or None, "readings": info.get("readings") or None,
              "missing": info.get("missing") or None}
    cost = {**derived[COST], "device_hours": device_hours, "device_model": device_model}
    timing = {f"{name}_seconds": windows[name]["seconds"] if name in windows else None for name in NAMED_WINDOWS}
    return {ENERGY: energy, COST: cost, CO2_KG: derived[CO2_KG], PRICING: derived[PRICING], TIMING: timing}
