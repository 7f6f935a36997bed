"""The design of a survival fit: checked durations and events, dummy-coded covariates, trial level, the split."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import InsufficientDataError, SurvivalError, SurvivalValuesError, TableError
from .durations import resolve_duration, with_attack_cost
from .fields import DESIGN_COVARIATES, OUTCOME_COVARIATES
from .mapping import SurvivalMapping


@dataclass
class SurvivalData:
    """The design of one fit: ``frame`` has columns ``T``, ``E`` and the (dummy-coded) covariates."""

    frame: pd.DataFrame
    covariates: List[str]
    columns: Dict[str, str]
    """design column -> source column (a dummy names its source column and level)"""
    references: Dict[str, Any]
    """categorical source column -> its reference level"""
    runs: Optional[pd.Series]
    notes: List[str]
    duration: str = "seconds"
    """the duration column fitted (the mapping's, or the default :func:`.durations.resolve_duration` chose)"""


_EVENT_TEXT = {"true": 1, "false": 0, "1": 1, "0": 0, "1.0": 1, "0.0": 0}


def _refuse(what: str, column: str, values: pd.Series, bad: np.ndarray, expected: str) -> None:
    first = int(np.flatnonzero(bad)[0])
    value = values.iloc[first]
    value = value.item() if isinstance(value, np.generic) else value  # 2.0, not np.float64(2.0)
    raise SurvivalValuesError(
        f"survival table: the {what} column {column!r} holds {value!r} in {int(bad.sum())} of {len(values)} rows "
        f"(first at row {values.index[first]}); expected {expected}; fix or remove those rows (a survival model "
        "cannot use them)", column=column)


def _event(series: pd.Series, name: str) -> pd.Series:
    """0/1 events; any other value (text, 2, 0.5, missing) refuses the table, naming the column and the rows."""
    if series.dtype == bool:
        return series.astype(int)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        text = series.astype(str).str.strip().str.lower()
        values = text.map(_EVENT_TEXT).to_numpy(dtype="float64", na_value=np.nan)
        values[series.isna().to_numpy()] = np.nan
    bad = ~((values == 0) | (values == 1))
    if bad.any():
        # the words read "event column 'event' holds 'maybe' in 3 of 200 rows"
        _refuse("event", name, series, bad, "1 or true (failed), 0 or false (censored)")
    return pd.Series(values.astype(int), index=series.index)


def _check_durations(series: pd.Series, name: str) -> None:
    """Durations must be numbers >= 0 (0: failed before any effort, dropped later with a note)."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~(np.isfinite(values) & (values >= 0))
    if bad.any():
        _refuse("duration", name, series, bad, "a finite time to failure or censoring >= 0")


def _require(table: pd.DataFrame, column: str, what: str) -> None:
    if column not in table.columns:
        raise TableError(f"the survival {what} column {column!r} is not in the table", column=column,
                         present=list(table.columns), hint=f"name it with survival.{what}")


def trial_level(table: pd.DataFrame, mapping: SurvivalMapping, covariates: Sequence[str]) -> pd.DataFrame:
    """One row per run, as the paper fitted: duration = the run's total attack time over its points, event =
    any point failed (lifelines casts the failure count to bool), ``failures`` = how many did."""
    _require(table, mapping.run, "run")
    grouped = table.groupby(mapping.run, sort=True)
    out = pd.DataFrame({
        mapping.duration: grouped[mapping.duration].sum(),
        "failures": grouped[mapping.event].sum(),
        "points": grouped.size(),
    })
    out[mapping.event] = (out["failures"] > 0).astype(int)
    for column in covariates:
        out[column] = grouped[column].first()
    return out.reset_index()


def prepare(table: pd.DataFrame, mapping: SurvivalMapping) -> SurvivalData:
    """Check the mapped columns and build the design: positive durations, 0/1 events, numeric covariates,
    dummies for categorical ones; drop (and note) unusable rows and constant covariates."""
    notes: List[str] = []
    table = with_attack_cost(table)
    if mapping.duration is not None:
        _require(table, mapping.duration, "duration")
    _require(table, mapping.event, "event")
    if mapping.config is not None:
        _require(table, "config", "config")
        table = table[table["config"] == mapping.config]
        if table.empty:
            raise SurvivalError(f"no rows with config == {mapping.config!r}")
    duration, note = resolve_duration(table, mapping)
    if note:
        notes.append(note)
    mapping = dataclasses.replace(mapping, duration=duration)
    _require(table, mapping.duration, "duration")
    # bad durations and events are refused before anything else, with their column and count (never dropped)
    _check_durations(table[mapping.duration], mapping.duration)
    events = _event(table[mapping.event], mapping.event)
    if mapping.covariates is not None:
        covariates = list(mapping.covariates)
        for column in covariates:
            _require(table, column, "covariates")
    else:
        covariates = [c for c in DESIGN_COVARIATES if c in table.columns]
    if mapping.outcomes:
        covariates += [c for c in OUTCOME_COVARIATES if c in table.columns and c not in covariates]
    for bad in (mapping.duration, mapping.event):
        if bad in covariates:
            raise SurvivalError(f"{bad!r} is the {'duration' if bad == mapping.duration else 'event'} and cannot "
                                "also be a covariate")
    if mapping.level == "trial":
        table = trial_level(table.assign(**{mapping.event: events}), mapping, covariates)
        events = table[mapping.event].astype(int)
    frame = pd.DataFrame({"T": pd.to_numeric(table[mapping.duration], errors="coerce"), "E": events},
                         index=table.index)
    columns: Dict[str, str] = {}
    references: Dict[str, Any] = {}
    kept: List[str] = []
    for column in covariates:
        series = table[column]
        if series.dtype == bool or series.dtype == object or str(series.dtype) == "category":
            levels = sorted(series.dropna().astype(str).unique())
            if len(levels) < 2:
                notes.append(f"covariate {column} has one level ({levels[0] if levels else 'none'}): dropped")
                continue
            references[column] = levels[0]
            for level in levels[1:]:
                name = f"{column}[{level}]"
                frame[name] = (series.astype(str) == level).astype(float).where(series.notna())
                columns[name] = column
                kept.append(name)
        else:
            values = pd.to_numeric(series, errors="coerce")
            if values.nunique(dropna=True) < 2:
                notes.append(f"covariate {column} is constant: dropped")
                continue
            frame[column] = values.astype(float)
            columns[column] = column
            kept.append(column)
    usable = frame.notna().all(axis=1) & np.isfinite(frame["T"])
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} rows with a missing value in the covariates: "
                     "dropped")
    positive = frame["T"] > 0
    if (usable & ~positive).any():
        notes.append(f"{int((usable & ~positive).sum())} rows with a non-positive duration (failed before any "
                     "attack effort, e.g. misclassified clean points): dropped, as an AFT model needs T > 0")
    frame = frame[usable & positive]
    runs = table.loc[frame.index, mapping.run] if (mapping.run in table.columns and mapping.level == "sample") \
        else (table.loc[frame.index, mapping.run] if mapping.run in table.columns else None)
    if len(frame) < max(10, 2 * (len(kept) + 2)):
        raise InsufficientDataError("AFT survival models", max(10, 2 * (len(kept) + 2)), len(frame),
                                    f"rows with a positive {mapping.duration} and every covariate")
    if int(frame["E"].sum()) == 0:
        raise SurvivalError(f"no failures in {len(frame)} rows (every point survived its budget): a survival "
                            "model needs events; attack longer or with a larger eps")
    return SurvivalData(frame.reset_index(drop=True), kept, columns, references,
                        None if runs is None else runs.reset_index(drop=True), notes, mapping.duration)


def split(n: int, test_fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Seeded random train/test row indices (test = round(n * test_fraction), at least 1 and at most n-2)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = min(max(1, int(round(n * test_fraction))), n - 2)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
