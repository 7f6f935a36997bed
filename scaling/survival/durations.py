"""Which duration a survival fit uses: FLOPs to failure by default, else the passes, else wall-clock seconds.

A survival table (``survival.parquet`` of a run, ``robustperf collect --survival``) holds the attacker's effort
per point in two clocks:

* ``seconds``: wall time to failure, amortised over the batch. It measures the machine as much as the attack:
  on a shared machine the median seconds per PGD iteration of one model differed 46x between runs, so AFT
  coefficients fitted on seconds mostly say when each run was evaluated.
* ``forward_passes`` and ``backward_passes``: the passes through the model to failure. Counts, the same on
  any machine and under any load.

From the passes this module derives (where the table has their inputs and not the column itself):

* ``attack_passes`` = forward + :data:`BACKWARD_PER_FORWARD` x backward passes, in forward-pass equivalents (a
  backward to the input costs about one forward: no weight gradients, as the suite's FLOP accounting,
  ``benchmarks.training.methods.Method.executed_factor``);
* ``attack_flops`` = ``attack_passes`` x the run's measured forward FLOPs per sample
  (``flops.forward_per_sample``: DeepSpeed's count of one eval-mode forward, the mode the attacks run in).

With no ``survival.duration`` in the mapping (:func:`resolve_duration`) the fit uses the first of
:data:`DURATIONS` that every fitted row has (finite, >= 0): FLOPs, else passes (a run without measured FLOPs),
else seconds (a table written before the passes were recorded), and says which in the report's notes.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import pandas as pd

from .fields import FORWARD_FLOPS
from .mapping import SurvivalMapping

__all__ = ["ATTACK_FLOPS", "ATTACK_PASSES", "BACKWARD_PER_FORWARD", "DESCRIPTIONS", "DURATIONS", "FORWARD_FLOPS",
           "SECONDS", "UNITS", "has_duration", "resolve_duration", "with_attack_cost"]

ATTACK_FLOPS = "attack_flops"
ATTACK_PASSES = "attack_passes"
SECONDS = "seconds"
#: The default durations, in order of preference.
DURATIONS: Tuple[str, ...] = (ATTACK_FLOPS, ATTACK_PASSES, SECONDS)
#: A backward pass to the input costs this many forwards (no weight gradients; 2 with them).
BACKWARD_PER_FORWARD = 1.0
UNITS = {ATTACK_FLOPS: "FLOPs", ATTACK_PASSES: "forward-pass equivalents", SECONDS: "seconds"}
DESCRIPTIONS = {
    ATTACK_FLOPS: "FLOPs to failure: (forward + backward passes) x the run's measured forward FLOPs per sample "
                  f"({FORWARD_FLOPS}); machine-independent",
    ATTACK_PASSES: "forward + backward passes to failure (a backward to the input counted as one forward); "
                   "machine-independent",
    SECONDS: "wall-clock seconds to failure, amortised over the batch: they depend on the machine and its load, "
             "so runs evaluated at different times are not comparable",
}
_PASSES = ("forward_passes", "backward_passes")


def _numbers(table: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def with_attack_cost(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``attack_passes`` (and ``attack_flops``, given ``flops.forward_per_sample``) added from its
    ``forward_passes`` and ``backward_passes``; unchanged when it lacks them or already has the columns."""
    add = {}
    if ATTACK_PASSES not in table.columns and set(_PASSES) <= set(table.columns):
        add[ATTACK_PASSES] = _numbers(table, "forward_passes") + BACKWARD_PER_FORWARD * _numbers(table,
                                                                                                "backward_passes")
    passes = add.get(ATTACK_PASSES)
    if passes is None and ATTACK_PASSES in table.columns:
        passes = _numbers(table, ATTACK_PASSES)
    if ATTACK_FLOPS not in table.columns and passes is not None and FORWARD_FLOPS in table.columns:
        per_sample = _numbers(table, FORWARD_FLOPS)
        add[ATTACK_FLOPS] = passes * np.where(per_sample > 0, per_sample, np.nan)
    return table.assign(**add) if add else table


def has_duration(table: pd.DataFrame, mapping: SurvivalMapping) -> bool:
    """Whether ``table`` has the mapping's duration column (default: any of :data:`DURATIONS`), or the passes
    ``attack_passes`` and ``attack_flops`` are derived from."""
    wanted = DURATIONS if mapping.duration is None else (mapping.duration,)
    derivable = set(_PASSES) <= set(table.columns) and bool({ATTACK_FLOPS, ATTACK_PASSES} & set(wanted))
    return any(c in table.columns for c in wanted) or derivable


def _complete(table: pd.DataFrame, column: str) -> int:
    """Rows of ``table`` whose ``column`` is unusable (missing, not finite or negative)."""
    values = _numbers(table, column)
    return int((~(np.isfinite(values) & (values >= 0))).sum())


def resolve_duration(table: pd.DataFrame, mapping: SurvivalMapping) -> Tuple[str, Optional[str]]:
    """The duration column of a fit on ``table`` (the rows to be fitted) and a note saying which and why.

    An explicit ``mapping.duration`` is used as it is (no note). Otherwise the first of :data:`DURATIONS` that
    every row has; when none does, the first present (the fit then refuses its bad rows, naming them); when none
    is present, ``attack_flops`` (the fit then says it is missing).
    """
    if mapping.duration is not None:
        return mapping.duration, None
    present = [c for c in DURATIONS if c in table.columns]
    skipped = []
    for column in present:
        bad = _complete(table, column)
        if bad == 0:
            note = f"duration {column} ({DESCRIPTIONS[column]})"
            if skipped:
                note += "; not " + "; not ".join(skipped)
            if column == SECONDS and not skipped:
                note += ("; the table has no forward_passes/backward_passes (a survival table written before the "
                         "passes were recorded)")
            elif column != SECONDS:
                note += "; survival.duration: seconds fits wall-clock seconds instead"
            return column, note
        skipped.append(f"{column}: {bad} of {len(table)} rows lack it"
                       + (f" (runs without {FORWARD_FLOPS}, or passes not counted)" if column == ATTACK_FLOPS
                          else ""))
    if not present:
        return ATTACK_FLOPS, None
    column = present[0]
    return column, f"duration {column} ({DESCRIPTIONS[column]}): no default duration is complete"
