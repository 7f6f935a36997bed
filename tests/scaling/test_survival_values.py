"""Survival tables with durations < 0 or missing, or events other than 0/1, are refused (the column and how many
rows), never fitted after a note: for any table contents (property test), and through `robustperf analyze`."""
from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling.errors import ScalingError, SurvivalError, SurvivalValuesError, TableError
from scaling.survival import SurvivalMapping, prepare
from tests.conftest import ROOT

GOOD_DURATIONS = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
BAD_DURATIONS = st.one_of(st.floats(max_value=-1e-300, allow_nan=False), st.just(math.nan), st.just(math.inf),
                          st.just(-math.inf), st.just(None), st.just("soon"))
GOOD_EVENTS = st.sampled_from([0, 1, True, False, 0.0, 1.0, "true", "False", "1", "0"])
BAD_EVENTS = st.one_of(st.sampled_from([2, -1, 0.5, math.nan, None, "maybe", "yes", "", "2"]),
                       st.integers(min_value=2), st.floats(min_value=1.0001, allow_nan=False, allow_infinity=False))


def _good_event(e) -> bool:
    if isinstance(e, str):
        return e.strip().lower() in ("true", "false", "1", "0")
    if isinstance(e, (bool, int, float)):
        return float(e) in (0.0, 1.0)  # NaN is neither
    return False


@st.composite
def tables(draw):
    """A survival table of 12..40 rows, some of whose durations and events may be bad, and how many are."""
    n = draw(st.integers(12, 40))
    durations = draw(st.lists(st.one_of(GOOD_DURATIONS, BAD_DURATIONS), min_size=n, max_size=n))
    events = draw(st.lists(st.one_of(GOOD_EVENTS, BAD_EVENTS), min_size=n, max_size=n))
    bad_d = sum(not (isinstance(d, float) and math.isfinite(d) and d >= 0) for d in durations)
    bad_e = sum(not _good_event(e) for e in events)
    frame = pd.DataFrame({"seconds": pd.Series(durations, dtype=object), "event": pd.Series(events, dtype=object),
                          "x": np.arange(n, dtype=float)})
    # a column of numbers is stored as numbers, as a CSV or Parquet reader would give it
    for column in ("seconds", "event"):
        converted = pd.to_numeric(frame[column], errors="coerce")
        if converted.notna().sum() == frame[column].notna().sum():
            frame[column] = converted
    return frame, bad_d, bad_e


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_bad_durations_or_events_refuse_the_table_naming_column_and_count(case):
    frame, bad_d, bad_e = case
    mapping = SurvivalMapping(duration="seconds", covariates=("x",))
    if bad_d or bad_e:
        with pytest.raises(SurvivalValuesError) as err:
            prepare(frame, mapping)
        text = str(err.value)
        column, count = ("seconds", bad_d) if bad_d else ("event", bad_e)
        assert f"column '{column}' holds" in text and f" in {count} of {len(frame)} rows" in text, text
        assert "\n" not in text
        assert isinstance(err.value, TableError) and isinstance(err.value, SurvivalError)  # exit 2, stops analyze
    else:
        try:
            data = prepare(frame, mapping)
        except ScalingError as err:  # too few positive rows, or no failure: other messages, not a refusal
            assert not isinstance(err, SurvivalValuesError), err
        else:
            assert not any("missing value in the duration" in n for n in data.notes)


def test_trial_level_and_configs_check_the_fitted_rows():
    frame = pd.DataFrame({"seconds": [1.0, -2.0] * 20, "event": [1, 0] * 20, "run_id": [f"r{i % 4}" for i in range(40)],
                          "config": ["pgd-3", "autoattack-standard"] * 20})
    with pytest.raises(SurvivalValuesError, match=r"'seconds' holds -2\.0 in 20 of 40 rows \(first at row 1\)"):
        prepare(frame, SurvivalMapping(duration="seconds", level="trial"))
    # the negative durations are the other configuration's: the PGD rows alone are fine
    data = prepare(frame.assign(seconds=np.where(frame["config"] == "pgd-3", np.arange(40) + 1.0, -2.0)),
                   SurvivalMapping(duration="seconds", config="pgd-3", covariates=()))
    assert len(data.frame) == 20


def _per_point_table(rows_per_run: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for r in range(8):
        parts.append(pd.DataFrame({
            "run_id": f"run{r:02d}", "config": "pgd-10", "seconds": rng.exponential(1.0, rows_per_run),
            "event": rng.integers(0, 2, rows_per_run), "config.training.lr": 0.01 * (1 + r),
            "flops.train_total": 1e12 * (1 + r), "accuracy.autoattack": 20.0 + r}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("column,value,count", [("seconds", np.nan, 3), ("event", 2, 5)])
def test_analyze_refuses_bad_survival_values_in_one_line(tmp_path, column, value, count):
    table = _per_point_table()
    table[column] = table[column].astype(float)
    table.loc[list(range(7, 7 + count)), column] = value
    path = tmp_path / "survival.parquet"
    table.to_parquet(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "robustperf", "analyze", str(path), "-o", str(tmp_path / "out"),
                           "--no-figures", "--bins", "3", "--bootstrap", "10"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.search(rf"the (duration|event) column '{column}' holds .* in {count} of {len(table)} rows "
                     r"\(first at row 7\)", lines[0]), lines[0]
    assert not (tmp_path / "out" / "report.json").exists()
