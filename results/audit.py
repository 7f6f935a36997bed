"""Values no run can produce: checked wherever records become a table or a status (collect, status).

:func:`value_problems` checks one record's numeric fields (numbers, finite, not negative; accuracies at most
100 %): a hand edit, a bad merge or a hostile file must not reach a fit as NaN, a string or a negative energy.
:func:`audit` adds what only the set of records shows: a folder whose name is not its record's ``run_id`` and a
``run_id`` found in more than one folder (a copied run; counted once).
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .schema import get

__all__ = ["NUMERIC_FIELDS", "PERCENT_FIELDS", "Finding", "audit", "value_problems"]

#: Record fields that, when set, are non-negative finite numbers.
NUMERIC_FIELDS = (
    "params", "seed", "co2_kg",
    "flops.forward_per_sample", "flops.train_forward_per_sample", "flops.train_total", "flops.train_executed",
    "flops.forward_macs_per_sample", "flops.train_samples", "flops.steps",
    "timing.train_seconds", "timing.eval_seconds", "timing.attack_seconds", "timing.attack_seconds_per_sample",
    "energy.kwh", "energy.train_kwh", "energy.eval_kwh", "energy.attack_kwh", "energy.pue", "energy.mean_power_w",
    "energy.sampler_kwh", "energy.device_j", "energy.train_j", "energy.eval_j", "energy.attack_j", "energy.sampler_j",
    "pricing.pue", "pricing.usd_per_kwh", "pricing.kg_co2_per_kwh",
    "cost.electricity_usd", "cost.cloud_usd_low", "cost.cloud_usd_high", "cost.device_hours",
    "accuracy.clean", "accuracy.pgd", "accuracy.autoattack", "accuracy.autoattack_n", "accuracy.pgd_n",
    "accuracy.clean_n",
    "training.epochs", "training.epochs_completed", "training.global_batch_size", "training.world_size",
    "training.best_epoch", "training.best_pgd_subset", "training.final_train_loss",
)
#: Percentages: at most 100.
PERCENT_FIELDS = ("accuracy.clean", "accuracy.pgd", "accuracy.autoattack", "training.best_pgd_subset")


def value_problems(record: Dict[str, Any]) -> List[str]:
    """What is wrong with the values of one (schema-valid) record: ``field: value (why)`` each."""
    problems = []
    for field in NUMERIC_FIELDS:
        value = get(record, field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{field}: {value!r} is not a number")
        elif not math.isfinite(value):
            problems.append(f"{field}: {value!r} is not finite")
        elif value < 0:
            problems.append(f"{field}: {value!r} is negative")
        elif field in PERCENT_FIELDS and value > 100:
            problems.append(f"{field}: {value!r} is above 100 %")
    return problems


class Finding:
    """What :func:`audit` found about one record file: its problems and whether its row must be left out."""

    def __init__(self) -> None:
        self.problems: List[str] = []
        self.exclude = False

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __str__(self) -> str:
        return "; ".join(self.problems)


def audit(entries: Iterable[Tuple[str, Optional[Dict[str, Any]]]]) -> Dict[str, Finding]:
    """Findings per record path of ``(path, record)`` pairs (records that could be read; None are skipped).

    Bad values and the second and later copies of a ``run_id`` are to be left out of tables; a folder named
    otherwise than its run is reported only.
    """
    findings: Dict[str, Finding] = {}
    first: Dict[str, str] = {}
    for path, record in entries:
        if record is None:
            continue
        finding = findings.setdefault(path, Finding())
        run_id = record.get("run_id")
        folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if isinstance(run_id, str) and folder != run_id:
            finding.problems.append(f"the folder is named {folder!r} but holds run {run_id!r} (rename it to its "
                                    f"run_id)")
        if run_id in first:
            finding.problems.append(f"duplicate: run {run_id!r} is also in {first[run_id]} (counted once, from "
                                    f"there)")
            finding.exclude = True
        else:
            first[run_id] = path
        values = value_problems(record)
        if values:
            finding.problems.extend(values)
            finding.exclude = True
    return {path: f for path, f in findings.items() if f}
