"""Derived energy, money and CO2 from raw measurements: the one place the pricing constants are applied.

A record keeps what was measured in raw units - device energy in joules before PUE (``energy.*_j``),
device-hours and the device model (``cost.device_hours``, ``cost.device_model``) - and, next to them, the
derived columns and the constants used (``pricing``):

- kWh = device joules / 3.6e6 x ``pue`` (facility overhead; 1.58 is the Uptime Institute's 2022 average);
- electricity $ = kWh x ``usd_per_kwh``; CO2 kg = kWh x ``kg_co2_per_kwh`` - the explicit constant, else the
  intensity of ``region`` (codecarbon's packaged data, :mod:`recipes.carbon`), else 0.5663; ``pricing.region`` and
  ``pricing.carbon_source`` say which, with the dataset's name, year and version;
- cloud $ = device-hours x the low/high $ per device-hour of the device model in ``cloud_usd_per_gpu_hour``;
- the same kWh, $ and CO2 of the energy spent until a benchmark's target was reached (``to_target``).

:func:`derive` is used by the run that measures (``benchmarks.measurement.cost``) and by re-pricing
(``robustperf collect/analyze --set measurement.usd_per_kwh=...``), so a finished study is re-priced in
seconds without rerunning anything. Anything unknown stays None, never 0. Imports no torch; re-pricing values
are checked against the recipe schema.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from recipes import SET_SOURCE, all_paths, parse_yaml, validate_value
from recipes.carbon import carbon_intensity
from robustperf_errors import UserError

from .evaluations import evaluation_current, evaluation_key, evaluation_settings, select_evaluation
from .groups import Cost, Energy, Pricing, ToTarget
from .keys import CO2_KG, CONFIG, COST, ENERGY, J_PER_KWH, PRICING, TO_TARGET

__all__ = ["PRICING_KEYS", "SECONDS_PER_HOUR", "CPU", "ENERGY_FIELDS", "PricingError", "derive", "derive_to_target",
           "kwh",
           "match_price", "parse_pricing_overrides", "refresh", "reprice"]

SECONDS_PER_HOUR = 3600.0
CPU = "cpu"
#: The constants (keys of the recipe's ``measurement`` section) that pricing applies.
PRICING_KEYS = tuple(k for k in Pricing.keys() if k != "carbon_source")
#: the keys that decide the carbon intensity (an explicit ``kg_co2_per_kwh`` beats ``region``)
CARBON_KEYS = ("kg_co2_per_kwh", "region")
#: raw device joules -> the derived kWh field beside it.
ENERGY_FIELDS = tuple(zip(Energy.names("device_j", "train_j", "eval_j", "attack_j", "sampler_j"),
                          Energy.names("kwh", "train_kwh", "eval_kwh", "attack_kwh", "sampler_kwh")))
_PUE, = Energy.names("pue")
_KWH = ENERGY_FIELDS[0][1]
_ELECTRICITY, _CLOUD_LOW, _CLOUD_HIGH, _DEVICE_HOURS, _DEVICE_MODEL = Cost.names(
    "electricity_usd", "cloud_usd_low", "cloud_usd_high", "device_hours", "device_model")
_TARGET_J, = ToTarget.names("device_j")
ToTarget.names("kwh", "usd", "co2_kg")
#: The run config's section that holds the pricing constants (``--set measurement.usd_per_kwh=0.24``).
MEASUREMENT = "measurement"


class PricingError(UserError):
    """A re-pricing constant that cannot be used."""


def kwh(joules: Optional[float], pue: float) -> Optional[float]:
    """Facility kWh of ``joules`` measured at the devices."""
    return None if joules is None else joules / J_PER_KWH * pue


def _times(value: Optional[float], factor: Optional[float]) -> Optional[float]:
    return None if value is None or factor is None else value * factor


def match_price(device_model: Optional[str], prices: Optional[Mapping[str, Any]]) -> Optional[Tuple[float, float]]:
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


def _constant(constants: Any, key: str) -> Any:
    if isinstance(constants, Mapping):
        return constants.get(key)
    return getattr(constants, key, None)


def derive(raw_energy: Mapping[str, Any], device_hours: Optional[float], device_model: Optional[str],
           constants: Any) -> Dict[str, Any]:
    """The derived columns from raw measurements and pricing constants.

    Args:
        raw_energy: ``{"device_j": ..., "train_j": ..., ...}`` (keys of :data:`ENERGY_FIELDS`; missing = None).
        device_hours: device-hours billed (GPUs, or CPU cores for CPU runs).
        device_model: GPU model name, ``"cpu"``, or None.
        constants: the ``measurement`` section (a mapping or an object) with :data:`PRICING_KEYS`.

    Returns:
        ``{"energy": {kwh, train_kwh, ..., pue}, "cost": {electricity_usd, cloud_usd_low, cloud_usd_high},
        "co2_kg": ..., "pricing": {the constants used}}``.
    """
    pue = float(_constant(constants, "pue"))
    usd_per_kwh = _constant(constants, "usd_per_kwh")
    region = _constant(constants, "region")
    co2_per_kwh, carbon_source = carbon_intensity(_constant(constants, "kg_co2_per_kwh"), region)
    prices = _constant(constants, "cloud_usd_per_gpu_hour") or {}
    energy: Dict[str, Any] = {derived: kwh(raw_energy.get(joules), pue) for joules, derived in ENERGY_FIELDS}
    energy[_PUE] = pue
    total = energy[_KWH]
    price = match_price(device_model, prices)
    cost = {_ELECTRICITY: _times(total, usd_per_kwh),
            _CLOUD_LOW: _times(device_hours, price[0] if price else None),
            _CLOUD_HIGH: _times(device_hours, price[1] if price else None)}
    pricing = Pricing(pue=pue, usd_per_kwh=usd_per_kwh, kg_co2_per_kwh=co2_per_kwh,
                      cloud_usd_per_gpu_hour={k: [float(v[0]), float(v[1])] for k, v in prices.items()},
                      region=carbon_source.get("region"), carbon_source=carbon_source)
    return {ENERGY: energy, COST: cost, CO2_KG: _times(total, co2_per_kwh), PRICING: pricing.to_dict()}


def derive_to_target(device_j: Optional[float], constants: Any) -> Dict[str, Any]:
    """The ``to_target`` group's derived ``kwh``, ``usd`` and ``co2_kg`` from its raw device joules."""
    total = kwh(device_j, float(_constant(constants, "pue")))
    carbon, _ = carbon_intensity(_constant(constants, "kg_co2_per_kwh"), _constant(constants, "region"))
    return {"kwh": total, "usd": _times(total, _constant(constants, "usd_per_kwh")),
            "co2_kg": _times(total, carbon)}


def reprice(record: Dict[str, Any], constants: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """``record`` (a copy) with its derived kWh, $ and CO2 recomputed from its raw measurements.

    Args:
        record: a record of the current schema (``results.read_record`` upgrades older ones).
        constants: pricing constants to change (a subset of :data:`PRICING_KEYS`); the others are those the
            record was priced with (its ``pricing`` group, else its config's ``measurement``). A ``region``
            given without ``kg_co2_per_kwh`` replaces the carbon intensity the record was priced with.
    """
    out = copy.deepcopy(record)
    used = _asked(out.get(PRICING) or {})
    measurement = ((out.get(CONFIG) or {}).get(MEASUREMENT) or {})
    merged = {k: used.get(k) if used.get(k) is not None else measurement.get(k) for k in PRICING_KEYS}
    constants = dict(constants or {})
    if "region" in constants and "kg_co2_per_kwh" not in constants:
        merged["kg_co2_per_kwh"] = None
    merged.update(constants)
    if merged.get("pue") is None:
        return out  # never priced (no measurement): nothing to derive
    energy = out.setdefault(ENERGY, {})
    cost = out.setdefault(COST, {})
    used_pue = used.get("pue") or energy.get(_PUE)
    for joules, derived_key in ENERGY_FIELDS:  # a record written without its raw joules: recover them exactly
        if energy.get(joules) is None and isinstance(energy.get(derived_key), (int, float)) and used_pue:
            energy[joules] = energy[derived_key] / used_pue * J_PER_KWH
    derived = derive(energy, cost.get(_DEVICE_HOURS), cost.get(_DEVICE_MODEL), merged)
    energy.update(derived[ENERGY])
    cost.update(derived[COST])
    out[CO2_KG] = derived[CO2_KG]
    out[PRICING] = derived[PRICING]
    to_target = out.get(TO_TARGET)
    if isinstance(to_target, dict) and to_target.get(_TARGET_J) is not None:
        to_target.update(derive_to_target(to_target[_TARGET_J], merged))
    return out


def _asked(used: Mapping[str, Any]) -> Dict[str, Any]:
    """A record's ``pricing`` as the constants asked: a carbon intensity that came from the region or the
    default is no explicit constant (it follows the region when re-priced)."""
    out = dict(used)
    if (out.get("carbon_source") or {}).get("from") in ("measurement.region", "default"):
        out["kg_co2_per_kwh"] = None
    return out


def parse_pricing_overrides(overrides: Sequence[str]) -> Dict[str, Any]:
    """``["measurement.usd_per_kwh=0.24", ...]`` -> ``{"usd_per_kwh": 0.24}``; only pricing keys are allowed.

    Values are checked against the recipe schema's field specs (the one vocabulary), so a bad one is reported
    as a recipe ``--set`` would be.

    Raises:
        PricingError: a malformed item or a key that is not a pricing constant; RecipeError: a bad value.
    """
    paths = all_paths()
    allowed = [f"{MEASUREMENT}.{k}" for k in PRICING_KEYS]
    out: Dict[str, Any] = {}
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise PricingError(f"{SET_SOURCE}: cannot re-price with {item!r}: expected KEY=VALUE with KEY one of "
                               f"{', '.join(allowed)}")
        value, _ = parse_yaml(text, SET_SOURCE) if text.strip() else (None, {})
        out[key.split(".", 1)[1]] = validate_value(key, value, paths[key], SET_SOURCE)
    return out


def refresh(record: Dict[str, Any], config: Mapping[str, Any], *, evaluate: bool = True
            ) -> Tuple[Dict[str, Any], List[str], bool]:
    """The cheap updates a completed record needs for ``config`` (the same run: only settings outside the run
    identity differ): a stored evaluation with the asked settings becomes the headline; other pricing
    constants re-price it from its raw measurements.

    Returns:
        ``(record copy, what changed in words, whether an evaluation with new settings must still run)``.
    """
    out = copy.deepcopy(record)
    changes: List[str] = []
    needs_evaluation = False
    evaluation = config.get("evaluation") or {}
    if evaluate and not evaluation_current(out, evaluation):
        key = evaluation_key(evaluation_settings(evaluation))
        if select_evaluation(out, key):
            changes.append(f"its stored evaluation {key} with these settings is the headline again")
        else:
            needs_evaluation = True
    used = out.get(PRICING) or {}
    measurement = config.get(MEASUREMENT) or {}
    wanted = {k: measurement[k] for k in PRICING_KEYS if k in measurement}
    if used.get("pue") is not None:
        differ = [k for k, v in wanted.items() if k not in CARBON_KEYS and used.get(k) != v]
        if any(k in wanted for k in CARBON_KEYS) and (
                carbon_intensity(wanted.get("kg_co2_per_kwh"), wanted.get("region"))[0] != used.get("kg_co2_per_kwh")
                or (wanted.get("region") or None) != (used.get("region") or None)):
            differ += [k for k in CARBON_KEYS if wanted.get(k) is not None] or ["kg_co2_per_kwh"]
        if differ:
            changes.append("re-priced with " + ", ".join(f"{MEASUREMENT}.{k}" for k in differ))
    if changes:
        out[CONFIG] = copy.deepcopy(dict(config))
        out = reprice(out, wanted if used.get("pue") is not None else None)
    return out, changes, needs_evaluation
