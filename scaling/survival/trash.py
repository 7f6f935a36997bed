"""TRASH (Meyers et al., Eq. 9): what breaking a point costs against what training on one cost, per run: in FLOPs
(a fit on ``attack_flops``, the default duration), or in seconds with $ and energy beside (a fit on ``seconds``).

The energy of a row says where it came from (``energy_source``): the record's own ``energy.source`` (``zeus``,
``nvidia-smi``, ``estimate-tdp``, ...) when its kWh are used, else the device table's watts x seconds;
:func:`energy_provenance` summarises the rows (a mix is reported as one)."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Dict, Iterable, Optional, Sequence

import pandas as pd

from results import J_PER_KWH

from ..errors import SurvivalError, TableError
from .durations import ATTACK_FLOPS, SECONDS
from .fields import (ATTACK_KWH, ATTACK_SECONDS, DEVICE_MODEL, DEVICE_TABLE_PREFIX, ENERGY_SOURCE, EPOCHS,
                     TRAIN_EXECUTED, TRAIN_KWH, TRAIN_SAMPLES, TRAIN_SECONDS, TRAIN_TOTAL)
from .fit import SurvivalFit
from .metrics import rmst

#: TRASH's unit for each duration it can use.
UNITS = {SECONDS: "seconds", ATTACK_FLOPS: "flops"}
#: ``energy_source`` of a row whose record has kWh but no ``energy.source``.
UNRECORDED = "unrecorded (the record has no energy.source)"
DEVICE_TABLE = "device table (W x s)"


def match_device(device_model: Any, models: Sequence[str]) -> Optional[str]:
    """The device-table key naming ``device_model`` as a whole token, case-insensitively, longest first
    (``"NVIDIA L4"`` -> ``L4``, ``"Tesla V100-SXM2-16GB"`` -> ``V100``); None when none does."""
    if not isinstance(device_model, str) or not device_model:
        return None
    for key in sorted(models, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![0-9])", device_model, re.IGNORECASE):
            return key
    return None


def _device_entry(run: pd.Series, device_model: Any) -> Dict[str, Optional[float]]:
    models = sorted({c[len(DEVICE_TABLE_PREFIX):].rsplit(".", 1)[0] for c in run.index
                     if c.startswith(DEVICE_TABLE_PREFIX)})
    key = match_device(device_model, models)
    if key is None:
        return {}
    out = {}
    for field_name in ("usd_per_hour", "watts"):
        value = run.get(f"{DEVICE_TABLE_PREFIX}{key}.{field_name}")
        out[field_name] = float(value) if value is not None and pd.notna(value) else None
    out["device"] = key
    return out


def _num(run: pd.Series, column: str) -> float:
    value = run.get(column) if column in run.index else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if math.isfinite(value) else float("nan")


def trash_unit(duration: str) -> Optional[str]:
    """TRASH's unit for a fit on ``duration`` (``flops`` or ``seconds``); None where TRASH cannot be computed."""
    return UNITS.get(duration)


def energy_provenance(sources: Iterable[Any]) -> Optional[str]:
    """One label for the ``energy_source`` of TRASH rows: the source when all agree, else ``mixed: a (n runs),
    b (m runs)``; None when no row has energy."""
    counts = Counter(str(s) for s in sources if isinstance(s, str) and s)
    if not counts:
        return None
    if len(counts) == 1:
        return next(iter(counts))
    return "mixed: " + ", ".join(f"{s} ({n} run{'s' if n != 1 else ''})" for s, n in sorted(counts.items()))


def _record_source(run: pd.Series) -> str:
    value = run.get(ENERGY_SOURCE) if ENERGY_SOURCE in run.index else None
    return value if isinstance(value, str) and value else UNRECORDED


def _train_flops(run: pd.Series):
    """Training FLOPs of the run and where they come from: executed (forward + backward estimated per pass),
    else the 3 x forward convention."""
    executed = _num(run, TRAIN_EXECUTED)
    if executed > 0:
        return executed, TRAIN_EXECUTED
    total = _num(run, TRAIN_TOTAL)
    if total > 0:
        return total, f"{TRAIN_TOTAL} (3 x forward for every pass)"
    return float("nan"), None


def trash_table(fit: SurvivalFit, runs: pd.DataFrame, *, run_column: str = "run_id",
                train_seconds: str = TRAIN_SECONDS, train_samples: str = TRAIN_SAMPLES,
                epochs: Sequence[str] = EPOCHS, device: str = DEVICE_MODEL,
                family: Optional[str] = None, unit: Optional[str] = None) -> pd.DataFrame:
    """TRASH per run (Meyers et al., Eq. 9): training cost per training sample / expected cost to failure per
    attacked sample; > 1 flags the model as broken (cheaper to break a point than to train on one).

    * ``unit`` (default: from the fit's duration, :func:`trash_unit`): ``flops`` for a fit on ``attack_flops``
      (machine-independent), ``seconds`` for one on ``seconds`` (wall clock: it depends on the machine's load).
    * Training cost per training sample: ``flops.train_executed`` (else ``flops.train_total``, named in
      ``train_flops_source``) or ``timing.train_seconds``, over the distinct training samples
      (``flops.train_samples`` / epochs), epochs included, as the paper; ``trash_per_epoch`` divides by the
      samples processed instead (one epoch's worth).
    * Expected cost to failure: the chosen AFT model's (default ``survival.best``) restricted mean survival
      time to t* (Eq. 5), averaged over the run's held-out points; ``trash_empirical`` uses the mean observed
      duration of all the run's points instead (a lower bound: censored points count at their budget).
    * In seconds only, also in $ and energy: from the run's device in ``measurement.device_table`` ($/h x hours,
      W x s -> J), and from the record's energy where it has it (``energy.train_kwh``, ``energy.attack_kwh`` over
      ``timing.attack_seconds``: mean attack power x expected seconds), labelled with the record's
      ``energy.source`` (``estimate-tdp`` is an estimate, not a measurement). On one device the $ ratio equals
      TRASH; the record's energy ratio differs by the power drawn while training vs attacking.

    Returns one row per run with a held-out point.
    """
    if fit.data.runs is None:
        raise SurvivalError(f"TRASH needs the run column {fit.mapping.run!r} in the survival table")
    fitted = trash_unit(fit.mapping.duration)
    unit = unit or fitted or "seconds"
    if unit not in UNITS.values() or (fitted is not None and unit != fitted):
        raise SurvivalError(f"TRASH in {unit!r} on a fit of {fit.mapping.duration!r}: expected "
                            + (repr(fitted) if fitted else f"one of {', '.join(UNITS.values())}"))
    needed = (run_column, train_samples) + ((train_seconds,) if unit == "seconds" else ())
    for column in needed:
        if column not in runs.columns:
            raise TableError(f"TRASH needs the run column {column!r}", column=column, present=list(runs.columns))
    if unit == "flops" and not {TRAIN_EXECUTED, TRAIN_TOTAL} & set(runs.columns):
        raise TableError(f"TRASH in FLOPs needs the run column {TRAIN_EXECUTED!r} or {TRAIN_TOTAL!r}",
                         column=TRAIN_EXECUTED, present=list(runs.columns))
    model = fit.models[family or fit.best]
    frame = fit.data.frame
    test_runs = fit.data.runs.iloc[fit.test].to_numpy()
    predicted = rmst(model.fitter, frame.iloc[fit.test], fit.t_max)
    per_run = pd.DataFrame({"run": test_runs, "rmst": predicted}).groupby("run")["rmst"].mean()
    empirical = pd.DataFrame({"run": fit.data.runs.to_numpy(), "T": frame["T"].to_numpy()}).groupby("run")["T"].mean()
    rows = []
    for _, run in runs.drop_duplicates(run_column).iterrows():
        rid = run[run_column]
        if rid not in per_run.index:
            continue
        n_epochs = next((v for v in (_num(run, c) for c in epochs) if v == v and v > 0), 1.0)
        processed = _num(run, train_samples)
        if unit == "flops":
            train_cost, train_source = _train_flops(run)
        else:
            train_cost, train_source = _num(run, train_seconds), None
        per_sample = train_cost / (processed / n_epochs) if processed > 0 else float("nan")
        attack = float(per_run[rid])
        row: Dict[str, Any] = {
            "run_id": rid, f"train_{unit}_per_sample": per_sample, f"attack_{unit}_per_sample": attack,
            f"empirical_{unit}_per_sample": float(empirical.get(rid, float("nan"))), "model": model.family,
            "expected_time": "RMST to t_max (held-out points)", "unit": unit, "trash": per_sample / attack,
            "trash_per_epoch": per_sample / n_epochs / attack,
        }
        if train_source is not None:
            row["train_flops_source"] = train_source
        row["trash_empirical"] = per_sample / row[f"empirical_{unit}_per_sample"]
        row["broken"] = bool(row["trash"] > 1.0)
        entry = _device_entry(run, run.get(device) if device in run.index else None)
        row["device"] = entry.get("device") or (run.get(device) if device in run.index else None)
        if unit == "seconds":
            _money_and_energy(row, run, entry, per_sample, attack, processed, n_epochs)
        rows.append(row)
    return pd.DataFrame(rows)


def _money_and_energy(row: Dict[str, Any], run: pd.Series, entry: Dict[str, Any], per_sample: float, attack: float,
                      processed: float, n_epochs: float) -> None:
    """The seconds-based TRASH in $ and energy (row updated in place)."""
    if entry.get("usd_per_hour") is not None:
        row["train_usd_per_sample"] = per_sample / 3600.0 * entry["usd_per_hour"]
        row["attack_usd_per_sample"] = attack / 3600.0 * entry["usd_per_hour"]
        row["trash_usd"] = row["train_usd_per_sample"] / row["attack_usd_per_sample"]
    train_kwh, attack_kwh, attack_s = (_num(run, c) for c in (TRAIN_KWH, ATTACK_KWH, ATTACK_SECONDS))
    if train_kwh > 0 and attack_kwh > 0 and attack_s > 0 and processed > 0:
        row["train_j_per_sample"] = train_kwh * J_PER_KWH / (processed / n_epochs)
        row["attack_j_per_sample"] = attack_kwh * J_PER_KWH / attack_s * attack
        row["energy_source"] = _record_source(run)  # the record's provenance: measured or estimated
    elif entry.get("watts") is not None:
        row["train_j_per_sample"] = per_sample * entry["watts"]
        row["attack_j_per_sample"] = attack * entry["watts"]
        row["energy_source"] = DEVICE_TABLE
    if "train_j_per_sample" in row:
        row["trash_energy"] = row["train_j_per_sample"] / row["attack_j_per_sample"]
