"""TRASH (Meyers et al., Eq. 9): what breaking a point costs against what training on one cost, per run, in
seconds, $ and energy."""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Optional, Sequence

import pandas as pd

from results import J_PER_KWH

from ..errors import SurvivalError, TableError
from .fields import (ATTACK_KWH, ATTACK_SECONDS, DEVICE_MODEL, DEVICE_TABLE_PREFIX, EPOCHS, TRAIN_KWH,
                     TRAIN_SAMPLES, TRAIN_SECONDS)
from .fit import SurvivalFit
from .metrics import rmst

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


def trash_table(fit: SurvivalFit, runs: pd.DataFrame, *, run_column: str = "run_id",
                train_seconds: str = TRAIN_SECONDS, train_samples: str = TRAIN_SAMPLES,
                epochs: Sequence[str] = EPOCHS, device: str = DEVICE_MODEL,
                family: Optional[str] = None) -> pd.DataFrame:
    """TRASH per run (Meyers et al., Eq. 9): training time per training sample / expected time-to-failure per
    attacked sample; > 1 flags the model as broken (cheaper to break a point than to train on one).

    * Training time per training sample: ``timing.train_seconds`` over the distinct training samples
      (``flops.train_samples`` / epochs), epochs included, as the paper; ``trash_per_epoch`` divides by the
      samples processed instead (one epoch's worth).
    * Expected time-to-failure: the chosen AFT model's (default ``survival.best``) restricted mean survival
      time to t* (Eq. 5), averaged over the run's held-out points; ``trash_empirical`` uses the mean observed
      duration of all the run's points instead (a lower bound: censored points count at their budget).
    * In $ and energy: from the run's device in ``measurement.device_table`` ($/h x hours, W x s -> J), and
      from the measured energy where the record has it (``energy.train_kwh``, ``energy.attack_kwh`` over
      ``timing.attack_seconds``: measured mean attack power x expected seconds). On one device the $ ratio
      equals TRASH; the measured energy ratio differs by the power drawn while training vs attacking.

    The survival durations must be in seconds. Returns one row per run with a held-out point.
    """
    if fit.data.runs is None:
        raise SurvivalError(f"TRASH needs the run column {fit.mapping.run!r} in the survival table")
    for column in (run_column, train_seconds, train_samples):
        if column not in runs.columns:
            raise TableError(f"TRASH needs the run column {column!r}", column=column, present=list(runs.columns))
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
        t_train = _num(run, train_seconds)
        per_sample = t_train / (processed / n_epochs) if processed > 0 else float("nan")
        attack = float(per_run[rid])
        row: Dict[str, Any] = {
            "run_id": rid, "train_seconds_per_sample": per_sample, "attack_seconds_per_sample": attack,
            "empirical_seconds_per_sample": float(empirical.get(rid, float("nan"))), "model": model.family,
            "expected_time": "RMST to t_max (held-out points)", "trash": per_sample / attack,
            "trash_per_epoch": per_sample / n_epochs / attack,
        }
        row["trash_empirical"] = per_sample / row["empirical_seconds_per_sample"]
        row["broken"] = bool(row["trash"] > 1.0)
        entry = _device_entry(run, run.get(device) if device in run.index else None)
        row["device"] = entry.get("device") or (run.get(device) if device in run.index else None)
        if entry.get("usd_per_hour") is not None:
            row["train_usd_per_sample"] = per_sample / 3600.0 * entry["usd_per_hour"]
            row["attack_usd_per_sample"] = attack / 3600.0 * entry["usd_per_hour"]
            row["trash_usd"] = row["train_usd_per_sample"] / row["attack_usd_per_sample"]
        train_kwh, attack_kwh, attack_s = (_num(run, c) for c in (TRAIN_KWH, ATTACK_KWH, ATTACK_SECONDS))
        if train_kwh > 0 and attack_kwh > 0 and attack_s > 0 and processed > 0:
            row["train_j_per_sample"] = train_kwh * J_PER_KWH / (processed / n_epochs)
            row["attack_j_per_sample"] = attack_kwh * J_PER_KWH / attack_s * attack
            row["energy_source"] = "measured"
        elif entry.get("watts") is not None:
            row["train_j_per_sample"] = per_sample * entry["watts"]
            row["attack_j_per_sample"] = attack * entry["watts"]
            row["energy_source"] = "device table (W x s)"
        if "train_j_per_sample" in row:
            row["trash_energy"] = row["train_j_per_sample"] / row["attack_j_per_sample"]
        rows.append(row)
    return pd.DataFrame(rows)
