"""The summary row the board reads: the columns of ``robustperf summarize`` (issue-23 design, "Summary row"), in
their order, with what the board shows for each (label, unit, how the number was obtained).

The column list is the summarizer's (:data:`submissions.summary.COLUMNS`, the scored figures
:data:`submissions.score.SCORED`); this module adds what the board needs to show them.
"""
from __future__ import annotations

from typing import Dict, Tuple

from ..score import SCORED
from ..summary import COLUMNS

__all__ = ["COLUMNS", "FIGURES", "LABELS", "NUMERIC", "REQUIRED", "SCORED", "TABLE"]

#: the columns a summary CSV must have for the board to show it; the others (spreads, reached_runs,
#: energy_source, submission, result_id) are shown when present and derived or left empty when not
REQUIRED = COLUMNS[:COLUMNS.index("confirmed") + 1]

#: columns holding numbers (an empty cell is "no value": a result with no score, a figure not measured)
NUMERIC = frozenset(("runs", "scored_runs", "reached_runs") + SCORED
                    + tuple(f"{f}_{end}" for f in SCORED for end in ("min", "max")))

#: figure -> (label, unit, how it was obtained); every number the suite reports says how it was obtained
FIGURES: Dict[str, Tuple[str, str, str]] = {
    "epochs_to_target": ("epochs to target", "epochs",
                         "measured: the first epoch whose held-out check reached the target"),
    "time_to_target_s": ("time to target", "s",
                         "measured: wall seconds from the run's start to the end of that epoch's check"),
    "kwh_to_target": ("energy to target", "kWh", "measured by the run's energy meter (see energy source), x PUE"),
    "usd_to_target": ("cost to target", "$", "derived: kWh to target x the run's usd_per_kwh"),
    "co2_kg_to_target": ("CO2 to target", "kg CO2eq", "derived: kWh to target x the run's kg_co2_per_kwh"),
    "train_flops_to_target": ("training FLOPs to target", "FLOPs",
                              "counted: training FLOPs up to that epoch (the record's flops.train_total accounting)"),
    "robust_accuracy": ("robust accuracy", "%",
                        "measured: the target checkpoint confirmed on the test set by the benchmark's evaluation"),
    "clean_accuracy": ("clean accuracy", "%", "measured: the target checkpoint on the clean test set"),
}

#: column -> short header of the benchmark table
LABELS: Dict[str, str] = {
    "submitter": "submitter", "system": "system", "division": "division", "runs": "runs",
    "scored_runs": "scored", "confirmed": "confirmed", "reached_runs": "reached",
    **{f: f"{FIGURES[f][0]} ({FIGURES[f][1]})" for f in SCORED},
}

#: the columns of the benchmark table, in order (the result page shows every column)
TABLE = ("submitter", "system", "division", "robust_accuracy", "time_to_target_s", "kwh_to_target",
         "usd_to_target", "co2_kg_to_target", "epochs_to_target", "train_flops_to_target", "clean_accuracy",
         "runs", "scored_runs", "confirmed")
