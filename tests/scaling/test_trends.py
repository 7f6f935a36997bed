"""The compute trend of published robust models: the RobustBench adapter, doubling times, eras, frontier."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import robustperf
from scaling.adapters import venue_year
from scaling.analysis import Options, run_analysis
from scaling.errors import TableError
from scaling.sections.trends import growth_fit
from scaling.mapping import Mapping, load_mapping

from tests.scaling.conftest import DATA

ROBUSTBENCH = DATA / "robustbench_cifar10_linf.csv"


@pytest.fixture(scope="module")
def trends_report(repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("trends")
    code = robustperf.main(["analyze", str(ROBUSTBENCH), "--mapping",
                            str(repo_root / "scaling" / "mappings" / "robustbench.yaml"), "-o", str(out),
                            "--bootstrap", "50"])
    assert code == 0
    return out, json.loads((out / "report.json").read_text())


def test_year_from_the_venue():
    assert [venue_year(v) for v in ("NeurIPS 2019", "arXiv, Oct 2020", "GitHub,<br>Oct 2019", "TMLR, Aug 2024")] \
        == [2019, 2020, 2019, 2024]
    assert np.isnan(venue_year("")) and np.isnan(venue_year(None))


def test_adapter_transfers_measured_sizes_and_lists_unknown_architectures(trends_report):
    _, report = trends_report
    info = report["adapter"]
    assert info["name"] == "robustbench" and info["n_models"] == 99 and info["n_known_architecture"] == 78
    unknown = info["unknown_architectures"]
    assert "MeanSparse WideResNet-94-16" in unknown and "XCiT-L12" in unknown and "WideResNet-70-16" not in unknown
    assert "ResNet-18" not in unknown  # built: benchmarks/models has the CIFAR ResNet-18
    assert "no builder" in unknown["ResNet-50"]["why"] and unknown["ResNet-50"]["models"] == 2
    assert report["excluded"]["missing_flops"][:1] == ["Amini2024MeanSparse_Ra_WRN_70_16"]  # listed by model id
    assert report["columns"]["flops"] == "inference_flops" and report["n_used"] == 78


def test_robustbench_doubling_times_are_pinned(trends_report, capsys):
    out, report = trends_report
    growth = report["trends"]["growth"]
    params = {f["era"]: f for f in growth["params"]}
    flops = {f["era"]: f for f in growth["flops"]}
    # pinned from the shipped lookup (make robustbench-archs) and the shipped leaderboard copy
    assert params["all"]["doubling_years"] == pytest.approx(5.03076, rel=1e-4) and params["all"]["n"] == 77
    assert params["all"]["doubling_years_ci"][0] == pytest.approx(2.34577, rel=1e-4)
    assert params["all"]["doubling_years_ci"][1] is None  # the slope's interval reaches 0: no upper bound
    assert flops["all"]["doubling_years"] == pytest.approx(4.79509, rel=1e-4)
    assert flops["all"]["doubling_years_ci"][0] == pytest.approx(1.98276, rel=1e-4)
    assert params["before 2021"]["doubling_years"] == pytest.approx(2.68893, rel=1e-4)
    assert params["2021 on"]["doubling_years"] == pytest.approx(5.23143, rel=1e-4)
    assert flops["2021 on"]["doubling_years"] == pytest.approx(3.00197, rel=1e-4)
    acc = report["trends"]["accuracy_vs_year"]
    assert acc["slope"] == pytest.approx(4.58154, rel=1e-4) and acc["n"] == 77
    frontier = report["trends"]["frontier"]
    assert [f["year"] for f in frontier] == [2018, 2019, 2020, 2021, 2022, 2023, 2024]
    assert frontier[-1]["best_so_far"] == 75.28 and frontier[-1]["model"] == "Amini2024MeanSparse_S-WRN-94-16"
    assert [f["best_so_far"] for f in frontier] == sorted(f["best_so_far"] for f in frontier)
    md = (out / "report.md").read_text()
    assert "## Compute trend of published models" in md and "| params | all | 77 | 5.03 |" in md
    for stem in ("trend_params", "trend_flops", "accuracy_by_year"):
        assert (out / f"{stem}.png").stat().st_size > 1000
    assert report["quantile_trend"]["time"] == "year"


def test_make_trends_prints_the_doubling_times(repo_root, tmp_path, capsys):
    assert robustperf.main(["analyze", str(ROBUSTBENCH), "--mapping",
                            str(repo_root / "scaling" / "mappings" / "robustbench.yaml"), "-o", str(tmp_path),
                            "--no-figures", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "trends: doubling time of params (all, 77 models, 2018-2024): 5.03 years, 95% CI [2.35, ∞]" in out
    assert "trends: doubling time of flops (2021 on, 40 models, 2021-2024): 3 years, 95% CI [1.03, ∞]" in out


def test_growth_fit_recovers_a_known_doubling_time():
    rng = np.random.default_rng(0)
    year = rng.uniform(2015, 2025, 200)
    value = 1e6 * 2 ** ((year - 2015) / 1.5) * np.exp(rng.normal(0, 0.3, year.size))
    fit = growth_fit(year, value, "all")
    lo, hi = fit["doubling_years_ci"]
    assert lo < 1.5 < hi and fit["doubling_years"] == pytest.approx(1.5, rel=0.05)
    assert fit["growth_5_years"] == pytest.approx(2 ** (5 / 1.5), rel=0.15)
    shrinking = growth_fit(year, 1e6 * 2 ** (-(year - 2015) / 1.5), "all")
    assert shrinking["doubling_years"] is None and shrinking["slope"] < 0 and shrinking["doubling_years_ci"][1] is None


def test_trends_need_a_time_column(published):
    report, _ = run_analysis(published, Mapping(flops="train_flops*epochs", acc="aa_robust_acc"), Options(n_boot=10),
                             sections=["envelope", "trends"])
    assert report["skipped_sections"]["trends"].startswith("no time column")


def test_adapter_settings_are_checked(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("adapter: {name: robustbench, lookups: x.csv}\n")
    with pytest.raises(TableError, match="adapter.lookups: unknown key; valid keys of 'robustbench': lookup"):
        load_mapping(str(bad))
    bad.write_text("adapter: nonesuch\n")
    with pytest.raises(TableError, match="unknown adapter 'nonesuch'; valid: robustbench"):
        load_mapping(str(bad))
    bad.write_text("adapter: {name: robustbench, lookup: missing.csv}\n")
    with pytest.raises(TableError, match="missing.csv: cannot read the architecture lookup"):
        run_analysis(pd.read_csv(ROBUSTBENCH), load_mapping(str(bad)), Options(n_boot=10))
