"""Laws per group, compared (issue 26 item 1): ``robustperf analyze --by COLUMN`` and the mapping key ``by``."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scaling.analysis import Options, run_analysis
from scaling.mapping import Mapping, load_mapping

from .conftest import PUBLISHED

PAPER_MAPPING = PUBLISHED.parents[2] / "scaling" / "mappings" / "timm-adv-training.yaml"


def two_groups(seed: int, alphas=(0.05, 0.05), n: int = 300, labels=("a", "b")) -> pd.DataFrame:
    """Accuracy = 30 * FLOPs**alpha_g * lognormal noise; group g drawn at random for each row."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, len(alphas), n)
    x = np.exp(rng.uniform(np.log(1e2), np.log(1e6), n))
    y = 30 * x ** np.asarray(alphas)[g] * np.exp(rng.normal(0, 0.05, n))
    return pd.DataFrame({"flops": x, "acc": y, "grp": np.asarray(labels)[g]})


MAPPING = Mapping(flops="flops", acc="acc", by="grp")


def _difference(table, n_boot=20):
    report, _ = run_analysis(table, MAPPING, Options(n_boot=n_boot, figures=False), sections=["envelope"])
    return report["envelope"]


def test_a_single_law_is_not_reported_different_at_the_stated_level():
    """The test's size is honest: over 40 tables drawn from one law (random group labels), the share of
    p < level is near the level (at most 6 of 40 at 5 %: P(X >= 7) < 1 % for Binomial(40, 0.05))."""
    parts = [_difference(two_groups(seed))["group_difference"] for seed in range(40)]
    level = parts[0]["level"]
    assert level == 0.05 and "interaction" in parts[0]["test"]
    rejected = sum(p["p_value"] < level for p in parts)
    assert rejected <= 6, rejected
    assert sum(p["different"] for p in parts) == rejected


def test_two_groups_with_different_exponents_are_reported_different():
    for seed in range(3):
        env = _difference(two_groups(seed, alphas=(0.03, 0.08)), n_boot=100)
        diff = env["group_difference"]
        assert diff["p_value"] < 0.001 and diff["different"]
        assert diff["groups"] == ["a", "b"]
        lo, hi = diff["difference_ci"]
        assert 0 < lo < 0.05 < hi  # the true difference 0.05 lies in the bootstrap interval, 0 does not
        for g, alpha in (("a", 0.03), ("b", 0.08)):
            part = env["groups"][g]
            assert part["alpha"] == pytest.approx(alpha, abs=0.01) and part["alpha_ci"][0] < part["alpha"]
            assert diff["alpha"][g] == part["alpha"]


def test_three_groups_get_an_omnibus_test_and_pairs():
    env = _difference(two_groups(1, alphas=(0.03, 0.03, 0.08), n=450, labels=("x", "y", "z")))
    diff = env["group_difference"]
    assert diff["statistic_name"] == "F" and "omnibus" in diff["test"] and diff["p_value"] < 0.001
    pairs = {tuple(p["groups"]): p for p in diff["pairwise"]}
    assert set(pairs) == {("x", "y"), ("x", "z"), ("y", "z")}
    assert pairs[("x", "z")]["p_value"] < 0.01 and pairs[("x", "y")]["difference_ci"][0] < 0 < \
        pairs[("x", "y")]["difference_ci"][1]


def test_cli_by_writes_each_group_and_the_difference(tmp_path):
    path = tmp_path / "t.csv"
    two_groups(0, alphas=(0.03, 0.08)).to_csv(path, index=False)
    (tmp_path / "m.yaml").write_text("flops: flops\nacc: acc\nby: grp\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "robustperf", "analyze", str(path), "--mapping",
                           str(tmp_path / "m.yaml"), "-o", str(out), "--no-figures", "--bootstrap", "50"],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["by"]["column"] == "grp" and sum(report["by"]["groups"].values()) == 300
    for g in ("a", "b"):
        assert set(report["envelope"]["groups"][g]) >= {"alpha", "alpha_ci", "C", "C_ci"}
        assert any("params_ci" in law for law in report["laws"]["groups"][g].values())
        assert "slope_ci" in report["quantile"]["groups"][g]
    assert report["envelope"]["group_difference"]["p_value"] < 0.05
    assert "Laws per group of `grp`" in (out / "report.md").read_text()


def test_by_a_missing_column_exits_2_naming_it(tmp_path):
    path = tmp_path / "t.csv"
    two_groups(0).to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "robustperf", "analyze", str(path), "--flops-col", "flops",
                           "--acc-col", "acc", "--by", "nosuch", "-o", str(tmp_path / "o"), "--no-figures"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr and "--by" in proc.stderr and "Traceback" not in proc.stderr


def test_published_table_synthetic_against_not():
    """The reference study's table: the envelope exponent with and without synthetic data (numbers of the
    issue's question; the difference is not significant at 5 %)."""
    table = pd.read_csv(PUBLISHED)
    mapping = load_mapping(str(PAPER_MAPPING)).merged(Mapping(by="synthetic_data"))
    report, _ = run_analysis(table, mapping, Options(n_boot=100, figures=False), sections=["envelope"])
    env = report["envelope"]
    assert report["by"]["groups"] == {"False": 160, "True": 159}
    assert env["groups"]["True"]["alpha"] == pytest.approx(0.01046, abs=2e-5)  # the synthetic runs carry the envelope
    assert env["groups"]["False"]["alpha"] == pytest.approx(0.000715, abs=2e-5)
    diff = env["group_difference"]
    assert diff["difference"] == pytest.approx(0.00975, abs=2e-5)
    assert diff["p_value"] > 0.05 and diff["difference_ci"][0] < 0 < diff["difference_ci"][1]


def test_the_groups_figure_is_drawn(tmp_path):
    from scaling.analysis import analyze

    report = analyze(two_groups(2, alphas=(0.03, 0.08)), MAPPING, str(tmp_path), Options(n_boot=20),
                     sections=["envelope"])
    assert "envelope_by_grp.png" in report["figures"] and (tmp_path / "envelope_by_grp.pdf").stat().st_size > 0


def test_numeric_group_values_and_missing_ones(tmp_path):
    table = two_groups(3, alphas=(0.03, 0.08), labels=(0.0, 0.7))
    table.loc[:9, "grp"] = np.nan
    env = _difference(table)
    assert set(env["groups"]) == {"0.0", "0.7"}
    report, _ = run_analysis(table, MAPPING, Options(n_boot=5, figures=False), sections=["envelope"])
    assert report["by"]["missing"] == 10 and sum(report["by"]["groups"].values()) == 290


def test_too_many_groups_exit_2_naming_the_bound(tmp_path):
    path = tmp_path / "t.csv"
    table = two_groups(0)
    table["grp"] = np.arange(len(table)) % 5
    table.to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "robustperf", "analyze", str(path), "--flops-col", "flops",
                           "--acc-col", "acc", "--by", "grp", "-o", str(tmp_path / "o"), "--no-figures"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "ROBUSTPERF_MAX_GROUPS": "4"})
    assert proc.returncode == 2 and "ROBUSTPERF_MAX_GROUPS" in proc.stderr and "Traceback" not in proc.stderr


def test_by_with_a_table_adapter_runs_the_adapter_once():
    """The RobustBench leaderboard goes through its adapter; the groups reuse the adapted table."""
    root = PUBLISHED.parents[2]
    table = pd.read_csv(root / "tests" / "data" / "robustbench_cifar10_linf.csv")
    mapping = load_mapping(str(root / "scaling" / "mappings" / "robustbench.yaml")).merged(Mapping(by="additional_data"))
    report, _ = run_analysis(table, mapping, Options(n_boot=10, figures=False), sections=["envelope"])
    assert set(report["envelope"]["groups"]) == {"False", "True"}
    assert all("alpha" in part for part in report["envelope"]["groups"].values())
    assert "p_value" in report["envelope"]["group_difference"]
