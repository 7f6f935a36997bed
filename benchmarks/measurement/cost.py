"""Turn measured joules and seconds into the record's energy, money and CO2 fields.

kWh = measured device energy x ``measurement.pue`` (facility overhead; 1.58 is the Uptime Institute's 2022
average); electricity $ = kWh x ``usd_per_kwh``; CO2 kg = kWh x ``kg_co2_per_kwh``; cloud $ = device-hours x
the low/high $/h of the device model in ``cloud_usd_per_gpu_hour`` (Strubell et al., "Energy and Policy
Considerations for Deep Learning in NLP", ACL 2019, for the method). Every price comes from the recipe;
anything unknown is None, never 0.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional, Tuple

from .energy import TOTAL, Window

J_PER_KWH = 3.6e6
SECONDS_PER_HOUR = 3600.0
CPU = "cpu"
#: Windows reported separately as energy.<name>_kwh.
NAMED_WINDOWS = ("train", "eval", "attack")


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


def match_price(device_model: Optional[str], prices: Mapping[str, Any]) -> Optional[Tuple[float, float]]:
    """The (low, high) $/device-hour whose key names ``device_model``; None when no key does.

    Keys match as whole model tokens, case-insensitively, the longest first: ``"NVIDIA H100 80GB HBM3"`` ->
    ``H100``, ``"NVIDIA A100-SXM4-40GB"`` -> ``A100`` (not ``A10``). ``"cpu"`` matches the ``cpu`` key only.
    """
    if not device_model or not prices:
        return None
    model = device_model.strip()
    for key in sorted(prices, key=len, reverse=True):
        if key.lower() == CPU:
            hit = model.lower() == CPU
        else:
            hit = re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![0-9])", model, re.IGNORECASE) is not None
        if hit:
            low, high = prices[key]
            return float(low), float(high)
    return None


def _kwh(joules: Optional[float], pue: float) -> Optional[float]:
    return None if joules is None else joules / J_PER_KWH * pue


def _times(value: Optional[float], factor: Optional[float]) -> Optional[float]:
    return None if value is None or factor is None else value * factor


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
        ``{"energy": {...}, "cost": {...}, "co2_kg": ..., "timing": {train/eval/attack_seconds}}`` with the
        record's keys; every kWh includes PUE; ``energy.mean_power_w`` is the raw device power.
    """
    windows = _windows(windows_or_totals)
    pue = float(measurement_cfg.pue)
    total = windows.get(TOTAL)
    if total is None:
        parts = [windows[n] for n in ("train", "eval") if n in windows]
        total = {"seconds": sum(p["seconds"] for p in parts) if parts else None,
                 "energy_j": None if not parts or any(p["energy_j"] is None for p in parts)
                 else sum(p["energy_j"] for p in parts),
                 "sampler_energy_j": None if not parts or any(p.get("sampler_energy_j") is None for p in parts)
                 else sum(p["sampler_energy_j"] for p in parts)}
    seconds, joules = total.get("seconds"), total.get("energy_j")
    kwh = _kwh(joules, pue)
    energy = {
        "kwh": kwh, "source": _source(windows_or_totals, windows), "pue": pue,
        "mean_power_w": joules / seconds if joules is not None and seconds else None,
        "sampler_kwh": _kwh(total.get("sampler_energy_j"), pue), "devices": device_count,
    }
    for name in NAMED_WINDOWS:
        energy[f"{name}_kwh"] = _kwh(windows[name]["energy_j"], pue) if name in windows else None
    device_hours = None
    if seconds is not None and device_count:
        device_hours = seconds / SECONDS_PER_HOUR * device_count
    price = match_price(device_model, getattr(measurement_cfg, "cloud_usd_per_gpu_hour", None) or {})
    cost = {
        "electricity_usd": _times(kwh, measurement_cfg.usd_per_kwh),
        "cloud_usd_low": _times(device_hours, price[0] if price else None),
        "cloud_usd_high": _times(device_hours, price[1] if price else None),
        "device_hours": device_hours, "device_model": device_model,
    }
    timing = {f"{name}_seconds": windows[name]["seconds"] if name in windows else None for name in NAMED_WINDOWS}
    return {"energy": energy, "cost": cost, "co2_kg": _times(kwh, measurement_cfg.kg_co2_per_kwh),
            "timing": timing}
