"""Power over time: each epoch's training energy per device kind, its seconds and average power.

An epoch's figures are the run's cumulative ``train`` window (the meter's totals, summed over resumed sessions)
less the epochs before it (the rows already in ``metrics.jsonl``, restored with the checkpoint), so the epochs
add up to the run's training energy (``energy.train_j``) however often the run was resumed. The rows go to
``metrics.jsonl`` and W&B (keys :data:`EPOCH_KEYS`); the record keeps the compact series (``energy.epochs``,
bounded by the ``epoch_series`` limit).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from recipes.limits import limit

from .cost import KINDS

ENERGY_J, SECONDS, POWER_W = "train_energy_j", "train_energy_seconds", "train_power_w"
#: metrics.jsonl key of each device kind's joules in the epoch's train window
KIND_KEYS = {kind: f"train_{kind}_j" for kind in KINDS}
EPOCH_KEYS = (ENERGY_J, *KIND_KEYS.values(), SECONDS, POWER_W)

__all__ = ["ENERGY_J", "EPOCH_KEYS", "KIND_KEYS", "POWER_W", "SECONDS", "epoch_energy", "epoch_series"]


def _sum(rows: Sequence[Dict[str, Any]], key: str) -> Optional[float]:
    values = [row.get(key) for row in rows]
    return None if any(v is None for v in values) else float(sum(values))


def epoch_energy(train: Optional[Dict[str, Any]], history: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The epoch's metrics: joules per kind, their sum, seconds and mean power of its ``train`` window.

    Args:
        train: the meter's cumulative ``train`` window (``totals()["windows"]["train"]``), None when absent.
        history: the metrics rows of the earlier epochs.
    """
    out: Dict[str, Any] = {key: None for key in EPOCH_KEYS}
    if train is None:
        return out
    seconds_before = _sum(history, SECONDS)
    if seconds_before is not None:
        out[SECONDS] = float(train["seconds"]) - seconds_before
    kinds = train.get("kinds_j")
    if train.get("energy_j") is None or kinds is None:
        return out
    for kind, key in KIND_KEYS.items():
        if kind in kinds:
            before = _sum(history, key)
            out[key] = None if before is None else float(kinds[kind]) - before
    parts = [out[KIND_KEYS[k]] for k in KINDS if k in kinds]
    if parts and all(p is not None for p in parts):
        out[ENERGY_J] = sum(parts)
        if out[SECONDS]:
            out[POWER_W] = out[ENERGY_J] / out[SECONDS]
    return out


def epoch_series(history: Sequence[Dict[str, Any]]) -> Optional[List[list]]:
    """The record's ``energy.epochs``: ``[epoch, seconds, gpu_j, cpu_j, dram_j]`` per epoch; None when no epoch
    was metered. Over the ``epoch_series`` limit, rows are summed in groups of k consecutive epochs (each row
    named by the last epoch it holds), so the series still adds up to the training energy."""
    rows = [[h.get("epoch"), h.get(SECONDS), *(h.get(KIND_KEYS[k]) for k in KINDS)] for h in history
            if h.get(SECONDS) is not None]
    if not rows:
        return None
    bound = limit("epoch_series")
    k = -(-len(rows) // bound)
    if k > 1:
        rows = [[group[-1][0], *(None if any(r[i] is None for r in group) else sum(r[i] for r in group)
                                 for i in range(1, 5))] for group in (rows[j:j + k] for j in range(0, len(rows), k))]
    return rows
