"""Training compute of a published model, estimated from its training card with the suite's own FLOP accounting.

The record's ``flops.train_total`` of a run the suite trains is ``3 x`` its executed forward FLOPs
(:func:`benchmarks.measurement.train_flops`): each step's forward FLOPs, profiled, times the steps of its shape.
A step's forward FLOPs are the rows it passes forward: the batch times the method's forward passes per sample
(:meth:`benchmarks.training.methods.Method.forward_passes`: the training attack's passes plus the train-mode
ones, AWP's extra pass when it is on) times the model's forward FLOPs per image. The estimate applies the same
pieces to a card (:mod:`recipes.cards`)::

    forward = F x sum over epochs of images_per_epoch x passes(epoch)     (passes: the method class's own count;
                                                                           AWP's from awp_warmup_epochs on)
    train_total = train_flops(forward, 1) = 3 x forward

with ``F`` the model's forward FLOPs per image (counted as the suite counts its own models). Every card number
given as a range gives a low and a high estimate (all lows together, all highs together). At a device's
throughput and power, measured by a run of this suite (its record: ``flops.train_total`` over
``timing.train_seconds`` per device, ``energy.train_j`` over the same), the FLOPs become device-hours, kWh
(x PUE), $ and CO2 with the pricing constants of that record's ``measurement`` section (or the schema's
defaults), as :mod:`results.pricing` derives a measured run's. Every figure is labelled ``estimated-from-card``
and names its card and its device source; none is ever written into a record.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Tuple

from recipes import MeasurementConfig, RunConfig
from recipes.carbon import carbon_intensity
from recipes.cards import Card, CardError
from results import Flops, Timing
from results.pricing import SECONDS_PER_HOUR, match_price

from ..measurement import train_flops
from ..training.methods.base import get_method

__all__ = ["BASIS", "Device", "passes_per_sample", "forward_flops_total", "estimate", "device_from_record"]

#: how every figure of an estimate was obtained
BASIS = "estimated-from-card"
_DECLARED = object()  # stands for a training attack / AWP that a declaration-only method never builds


def passes_per_sample(method: str, attack_steps: int, awp: bool) -> Dict[str, int]:
    """Forward passes per training sample of ``method`` (its class's own :meth:`forward_passes`), for a run of
    ``attack_steps`` attack steps with or without AWP, without building a trainer, a model or an attack."""
    training: Dict[str, Any] = {"loss": method}
    if awp:
        training["awp_gamma"] = 0.005  # any gamma: the passes do not depend on it
    cfg = RunConfig.from_dict({"training": training, "attack": {"steps": max(1, int(attack_steps))}})
    cls = get_method(method)
    declared = cls.__new__(cls)  # the pass-count declarations read cfg, entry, attack and awp only
    declared.trainer, declared.cfg = None, cfg
    from recipes import catalog

    declared.entry = catalog.get("methods", method)
    declared.attack = _DECLARED if declared.train_attack is not None and attack_steps > 0 else None
    declared.awp = _DECLARED if awp else None
    return declared.forward_passes(awp=awp)


def _sum(passes: Dict[str, int]) -> int:
    return int(passes["attack"]) + int(passes["train"])


def forward_flops_total(card: Card, forward_per_image: float, which: str) -> float:
    """Executed forward FLOPs of the card's training at its ``low`` or ``high`` end (see the module docstring)."""
    pick = (lambda n: n.low) if which == "low" else (lambda n: n.high)
    epochs = pick(card.epochs)
    images = pick(card.images_per_epoch)
    steps = int(pick(card.attack_steps))
    plain = _sum(passes_per_sample(card.method, steps, False))
    if not card.awp:
        return forward_per_image * images * epochs * plain
    warmup = 0.0 if card.awp_warmup_epochs is None else \
        (card.awp_warmup_epochs.high if which == "low" else card.awp_warmup_epochs.low)  # low: fewest AWP epochs
    warmup = min(warmup, epochs)
    with_awp = _sum(passes_per_sample(card.method, steps, True))
    return forward_per_image * images * (warmup * plain + (epochs - warmup) * with_awp)


@dataclasses.dataclass(frozen=True)
class Device:
    """A device's measured training throughput and power, and the pricing constants to apply."""

    name: str
    #: training FLOPs (the train_total accounting) per device-second
    flops_per_second: float
    #: mean device power while training, W (before PUE); None: unknown
    watts: Optional[float]
    #: where the numbers come from (a record's path and run id, a device table)
    source: str
    watts_source: str
    measurement: MeasurementConfig = dataclasses.field(default_factory=MeasurementConfig)


def _num(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 \
        and math.isfinite(value) else None


def device_from_record(record: Dict[str, Any], path: str) -> Device:
    """The device of a record of this suite: its training throughput (``flops.train_total`` /
    (``timing.train_seconds`` x devices)), its power (``energy.train_j`` over the same; else the board power of
    its model in ``measurement.device_table``) and its run's pricing constants.

    Raises:
        CardError: the record lacks training FLOPs or seconds (naming the file and the field).
    """
    fields = (Flops.path("train_total"), Timing.path("train_seconds"))
    raw = [(record.get(group) or {}).get(name) for group, name in (f.split(".") for f in fields)]
    flops, seconds = (_num(v) for v in raw)
    for key, value, given in zip(fields, (flops, seconds), raw):
        if value is None:
            raise CardError("a device record needs a measured training run", file=path, key=key, value=given)
    energy = record.get("energy") or {}
    hardware = record.get("hardware") or {}
    devices = int(_num(energy.get("devices")) or _num(hardware.get("count")) or 1)
    name = str((record.get("cost") or {}).get("device_model") or "unknown")
    config = ((record.get("config") or {}).get("measurement")) or {}
    measurement = RunConfig.from_dict({"measurement": config}, file=path).measurement
    joules = _num(energy.get("train_j"))
    if joules is not None:
        watts, watts_source = joules / (seconds * devices), f"measured ({energy.get('source')}) by the record"
    else:
        table = {k.lower(): v for k, v in (measurement.device_table or {}).items()}
        hit = match_price(name, {k: (v["watts"], v["watts"]) for k, v in table.items()})
        watts = hit[0] if hit else None
        watts_source = "measurement.device_table board power" if hit else "unknown (no energy, no device_table entry)"
    return Device(name=name, flops_per_second=flops / (seconds * devices), watts=watts,
                  source=f"{path} (run {record.get('run_id')})", watts_source=watts_source, measurement=measurement)


def _range(low: Optional[float], high: Optional[float]) -> Optional[Dict[str, float]]:
    return None if low is None or high is None else {"low": low, "high": high}


def estimate(card: Card, forward_per_image: float, forward_source: str,
             device: Optional[Device] = None) -> Dict[str, Any]:
    """The card's training compute (and, with ``device``, device-hours, kWh, $ and CO2), low and high.

    Returns a JSON-ready mapping: ``basis`` (:data:`BASIS`), ``card``, ``model``, the ``inputs`` (each card
    number with its source, ``forward_flops_per_image`` with ``forward_source``), ``train_flops`` {low, high},
    and with a device ``device`` (name, source, throughput, power), ``device_hours``, ``kwh``,
    ``electricity_usd``, ``cloud_usd``, ``co2_kg`` - each {low, high} or None where unknown.
    """
    if not (isinstance(forward_per_image, (int, float)) and forward_per_image > 0):
        raise CardError("no forward FLOPs per image for the card's model", file=card.file, key="architecture",
                        value=card.architecture)
    flops = {w: float(train_flops(int(round(forward_flops_total(card, forward_per_image, w))), 1))
             for w in ("low", "high")}
    out: Dict[str, Any] = {
        "basis": BASIS, "model": card.model, "dataset": card.dataset, "threat": card.threat, "card": card.file,
        "paper": card.paper, "method": card.method, "architecture": card.architecture,
        "inputs": {k: ({"low": getattr(card, k).low, "high": getattr(card, k).high, "source": card.sources[k]}
                       if k in ("epochs", "attack_steps", "batch_size", "images_per_epoch") else
                       {"value": getattr(card, k), "source": card.sources[k]})
                   for k in ("epochs", "attack_steps", "batch_size", "images_per_epoch", "ema", "awp", "pretraining")},
        "forward_flops_per_image": {"value": float(forward_per_image), "source": forward_source},
        "train_flops": flops,
    }
    if card.awp_warmup_epochs is not None:
        out["inputs"]["awp_warmup_epochs"] = {"low": card.awp_warmup_epochs.low, "high": card.awp_warmup_epochs.high,
                                              "source": card.sources["awp_warmup_epochs"]}
    if device is None:
        return out
    m = device.measurement
    carbon, carbon_source = carbon_intensity(m.kg_co2_per_kwh, m.region)
    hours = {w: flops[w] / device.flops_per_second / SECONDS_PER_HOUR for w in flops}
    kwh = {w: hours[w] * device.watts / 1000.0 * m.pue for w in hours} if device.watts else None
    prices: Optional[Tuple[float, float]] = match_price(device.name, m.cloud_usd_per_gpu_hour)
    out.update(device={"name": device.name, "source": device.source, "flops_per_second": device.flops_per_second,
                       "watts": device.watts, "watts_source": device.watts_source,
                       "pricing": {"pue": m.pue, "usd_per_kwh": m.usd_per_kwh, "kg_co2_per_kwh": carbon,
                                   "carbon_source": carbon_source,
                                   "cloud_usd_per_device_hour": list(prices) if prices else None}},
               device_hours=hours,
               kwh=kwh,
               electricity_usd=_range(*(kwh[w] * m.usd_per_kwh for w in ("low", "high"))) if kwh else None,
               co2_kg=_range(*(kwh[w] * carbon for w in ("low", "high"))) if kwh else None,
               cloud_usd=_range(hours["low"] * prices[0], hours["high"] * prices[1]) if prices else None)
    return out
