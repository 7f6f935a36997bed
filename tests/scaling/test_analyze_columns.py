"""What ``analyze`` needs of a table and its mapping (issue 22): an empty mapping file is a mistake; every
column named explicitly (a flag, a mapping key, a section's setting) must exist, while absent defaults only skip
their sections; no section is required, so a survival-only table is analysed and a failed envelope fit is that
section's failure; ``--targets`` is bounded and each target checked."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import robustperf
from scaling.analysis import Options, run_analysis
from scaling.errors import TableError
from scaling.mapping import Mapping
from tests.conftest import ROOT
from tests.scaling.conftest import PUBLISHED

PAPER_MAPPING = os.path.join(ROOT, "scaling", "mappings", "timm-adv-training.yaml")
CORE = ["--flops-col", "train_flops*epochs", "--acc-col", "aa_robust_acc"]


def _analyze(tmp_path, *argv):
    return robustperf.main(["analyze", *map(str, argv), "-o", str(tmp_path / "out"), "--no-figures",
                            "--bootstrap", "20"])


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("robustperf analyze: error: ")]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------------------- empty mapping


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "null\n", "{}\n", "---\n", "\ufeff"])
def test_an_empty_mapping_file_is_one_line_exit_2(clean_results_dir, tmp_path, capsys, text):
    """Our records would be analysed with the default columns: an empty file is still the wrong file."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(text, encoding="utf-8")
    assert _analyze(tmp_path, clean_results_dir, "--mapping", mapping) == 2
    line = _error_line(capsys)
    assert f"{mapping}: the mapping file is empty" in line and "flops, acc" in line
    assert not (tmp_path / "out" / "report.json").exists()


def test_an_empty_mapping_path_is_one_line_exit_2(clean_results_dir, tmp_path, capsys):
    assert _analyze(tmp_path, clean_results_dir, "--mapping", "") == 2
    assert "--mapping: a mapping file is needed, got an empty path" in _error_line(capsys)


# -------------------------------------------------------------------------------- explicitly named columns

FLAGS = {"cost": "--cost-col", "co2": "--co2-col", "kwh": "--kwh-col", "facet": "--facet", "time": "--time-col",
         "flops": "--flops-col", "acc": "--acc-col", "features": "--feature", "group": "--group"}


@pytest.mark.parametrize("key", list(FLAGS))
@pytest.mark.parametrize("how", ["flag", "mapping"])
def test_a_named_column_the_table_lacks_is_exit_2(tmp_path, capsys, key, how):
    """Whether its section would run or be skipped, a column the user named must exist."""
    argv = [PUBLISHED, *CORE]
    if how == "flag":
        argv = [*argv, FLAGS[key], "no_such_col"]
    else:
        mapping = tmp_path / "m.yaml"
        mapping.write_text(f"{key}: {'[no_such_col]' if key in ('features', 'group') else 'no_such_col'}\n")
        argv = [PUBLISHED, *(CORE if key not in ("flops", "acc") else
                             [a for pair in zip(CORE[::2], CORE[1::2]) if pair[0] != FLAGS[key] for a in pair]),
                "--mapping", mapping]
    assert _analyze(tmp_path, *argv) == 2
    line = _error_line(capsys)
    assert "column 'no_such_col'" in line and f"named by {FLAGS[key]} or the mapping key '{key}'" in line
    assert "columns present: train_loss" in line


def test_a_product_with_one_absent_factor_is_exit_2(tmp_path, capsys):
    assert _analyze(tmp_path, PUBLISHED, *CORE, "--cost-col", "train_electricity_cost*epoch") == 2
    assert "no cost column 'epoch' (did you mean 'epochs'?)" in _error_line(capsys)


@pytest.mark.parametrize("section, setting", [("trends", "params"), ("trends", "label"),
                                              ("survival", "duration"), ("survival", "event")])
def test_a_column_named_in_a_sections_settings_must_exist(tmp_path, capsys, section, setting):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f"sections:\n  {section}:\n    {setting}: no_such_col\n")
    assert _analyze(tmp_path, PUBLISHED, *CORE, "--mapping", mapping) == 2
    line = _error_line(capsys)
    assert "column 'no_such_col'" in line and f"sections.{section}.{setting}" in line


def test_absent_defaults_only_skip_their_sections(published):
    report, _ = run_analysis(published, Mapping(flops="train_flops*epochs", acc="aa_robust_acc"),
                             Options(n_boot=10))
    for name, default in (("electricity", "cost"), ("co2", "co2"), ("kwh", "kwh")):
        assert report[name] == {"skipped": f"no {default} column (pass --{default}-col)"}
    assert report["columns"]["facet"] is None and "envelope" in report["sections"]


NAMES = st.text(st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(FLAGS)), name=NAMES)
def test_any_absent_named_column_is_refused_naming_it(published, key, name):
    """The class: any column name, by any key, absent from the table -> TableError naming it; present -> fine."""
    from scaling.analysis import check_named_columns

    name = name.strip()
    if not name or name.lower() == "none":
        return
    value = (name,) if key in ("features", "group") else name
    mapping = Mapping(**{key: value})
    if name in published.columns:
        check_named_columns(published, mapping)
        return
    with pytest.raises(TableError) as info:
        check_named_columns(published, mapping)
    assert f"'{name}'" in str(info.value) and FLAGS[key] in str(info.value)


# ------------------------------------------------------------------------------------ no section is required


def _survival_table(path):
    rng = np.random.default_rng(0)
    rows = []
    for r, lr in enumerate([0.1, 0.05, 0.01, 0.2, 0.02, 0.15]):
        for point in range(40):
            t = float(rng.weibull(1.5) * (1 + 10 * lr))
            rows.append({"run_id": f"run{r:09d}", "point": point, "seconds": t, "event": int(t < 1.5),
                         "config.training.lr": lr})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_survival_only_table_is_analysed(tmp_path, capsys):
    """No FLOPs, no accuracy: the envelope and every section reading them are skipped, one line each; survival
    runs and the report is written (exit 0)."""
    table = _survival_table(tmp_path / "points.csv")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("sections:\n  survival: {duration: seconds, event: event, families: [weibull]}\n")
    assert _analyze(tmp_path, table, "--mapping", mapping) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["sections"] == ["survival"] and report["survival"]["n"] == 240
    assert report["n_used"] == 0 and report["observed"] is None
    for name in ("envelope", "laws", "forecast", "law_forecast", "electricity", "quantile", "gbr", "repeats"):
        assert report[name] == {"skipped": "no FLOPs column 'flops.train_total' (pass --flops-col)"}, name
        assert out.count(f"skipped section {name}: ") == 1
    assert "envelope: accuracy =" not in out
    assert "Envelope scaling law" not in (tmp_path / "out" / "report.md").read_text()


def test_a_failed_envelope_fit_is_that_sections_failure(tmp_path, capsys):
    """The columns are there, the fit is not (2 bins above the collapse threshold): reported, the rest runs."""
    assert _analyze(tmp_path, PUBLISHED, "--flops-col", "train_flops", "--acc-col", "aa_robust_acc",
                    "--collapse", "60") == 0
    captured = capsys.readouterr()
    why = "envelope power law: needs at least 3 usable points, got 2 (only 2 of 19 bins hold runs; try fewer --bins)"
    assert f"note: envelope: {why}" in captured.err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["envelope"] == {"skipped": why} and report["skipped_sections"]["envelope"] == why
    for name in ("laws", "forecast", "factors"):
        assert report[name] == {"skipped": "needs section 'envelope', which did not run"}
    assert "repeats" in report["sections"]


def test_a_table_no_section_can_use_is_exit_2(tmp_path, capsys):
    table = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]}).to_csv(table, index=False)
    assert _analyze(tmp_path, table) == 2
    line = _error_line(capsys)
    assert "nothing to analyse" in line and "no FLOPs column 'flops.train_total'" in line and "--flops-col" in line


# ------------------------------------------------------------------------------------------------ targets


def test_a_hundred_thousand_targets_fail_fast(tmp_path):
    """The probe's input: in a fresh interpreter, refused at once (it ran for ever: a bootstrap per target)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "robustperf.py"), "analyze", str(PUBLISHED),
                           "--mapping", PAPER_MAPPING, "-o", str(tmp_path / "o"), "--no-figures", "--targets",
                           *map(str, range(1, 100_001))], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "the number of target accuracies is 100,000, above the limit of 100" in proc.stderr
    assert "ROBUSTPERF_MAX_TARGETS" in proc.stderr and time.monotonic() - start < 60


def test_the_targets_limit_is_the_variables(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ROBUSTPERF_MAX_TARGETS", "3")
    assert _analyze(tmp_path, PUBLISHED, *CORE, "--targets", "50", "55", "58", "59") == 2
    assert "is 4, above the limit of 3" in _error_line(capsys)


def test_a_target_of_100_percent_is_refused_with_why(tmp_path, capsys):
    assert _analyze(tmp_path, PUBLISHED, *CORE, "--targets", "60", "100") == 2
    line = _error_line(capsys)
    assert "100 % robust accuracy is not a target" in line and "give targets below 100" in line


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=120))
def test_every_target_is_checked(targets):
    from scaling.cli_analyze import check_targets

    good = len(targets) <= 100 and all(np.isfinite(t) and 0 < t < 100 for t in targets)
    if good:
        check_targets(targets, TableError)
    else:
        with pytest.raises(TableError, match="--targets"):
            check_targets(targets, TableError)
