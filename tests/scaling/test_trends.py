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


def test_adapter_counts_built_then_by_name_and_lists_the_rest(trends_report):
    """Every leaderboard model robustbench's zoo builds is counted from the zoo table (built), the others by their
    architecture's name (by-name) where the lookup has it; the rest are listed by model with why (unknown)."""
    _, report = trends_report
    info = report["adapter"]
    assert info["name"] == "robustbench" and info["n_models"] == 99 and info["n_known_architecture"] == 94
    assert info["counts"] == {"built": 76, "by-name": 18, "unknown": 5}
    source = info["count_source"]
    assert source["Carmon2019Unlabeled"] == "built" and source["Amini2024MeanSparse_S-WRN-94-16"] == "built"
    assert source["Debenedetti2022Light_XCiT-L12"] == "built"  # XCiT: built by robustbench's own code
    assert source["Huang2022Revisiting_WRN-A4"] == "built"
    assert source["Madry2018Towards"] == source["Pang2020Bag"] == "by-name"  # on the leaderboard, not in the zoo
    unknown = info["unknown_models"]
    assert set(unknown) == {"Jang2019Adversarial", "Mustafa2019Adversarial", "Pang2020Rethinking",
                            "Xiao2020Enhancing", "Zhang2020Towards"}
    assert source["Bai2023Improving_edm"] == "built"  # the mixing-network ensemble, built on the CPU
    assert unknown["Xiao2020Enhancing"]["why"].startswith("not in robustbench's model zoo; architecture "
                                                          "'DenseNet-121': no builder")
    assert report["excluded"]["missing_flops"] == sorted(unknown)  # listed by model id, never guessed
    assert report["columns"]["flops"] == "inference_flops" and report["n_used"] == 94
    est = info["estimated_training"]
    assert est["basis"] == "estimated-from-card" and est["n_models"] == est["n_cards"] == 9


def test_robustbench_doubling_times_are_pinned(trends_report, capsys):
    out, report = trends_report
    growth = report["trends"]["growth"]
    params = {f["era"]: f for f in growth["params"]}
    flops = {f["era"]: f for f in growth["flops"]}
    train = {f["era"]: f for f in growth["train_flops"]}
    # pinned from the shipped zoo table (make zoo-table), lookup (make robustbench-archs), estimates
    # (make zoo-estimates) and leaderboard copy
    assert params["all"]["doubling_years"] == pytest.approx(2.80465, rel=1e-4) and params["all"]["n"] == 93
    assert params["all"]["doubling_years_ci"] == pytest.approx([1.81721, 6.14224], rel=1e-4)
    assert params["before 2021"]["doubling_years_ci"][1] is None  # the slope's interval reaches 0: no upper bound
    assert flops["all"]["doubling_years"] == pytest.approx(2.53044, rel=1e-4)
    assert flops["all"]["doubling_years_ci"][0] == pytest.approx(1.54013, rel=1e-4)
    assert params["before 2021"]["doubling_years"] == pytest.approx(2.29742, rel=1e-4)
    assert params["2021 on"]["doubling_years"] == pytest.approx(2.20285, rel=1e-4)
    assert flops["2021 on"]["doubling_years"] == pytest.approx(1.76669, rel=1e-4)
    # training compute estimated from the 9 shipped cards (2019-2023), labelled so
    assert train["all"]["n"] == 9 and train["all"]["basis"] == "estimated-from-card"
    assert train["all"]["doubling_years"] == pytest.approx(0.492114, rel=1e-4)
    assert "skipped" in train["2021 on"]  # two cards from 2021 on: too few to fit
    acc = report["trends"]["accuracy_vs_year"]
    assert acc["slope"] == pytest.approx(4.82399, rel=1e-4) and acc["n"] == 93
    frontier = report["trends"]["frontier"]
    assert [f["year"] for f in frontier] == [2018, 2019, 2020, 2021, 2022, 2023, 2024]
    assert frontier[-1]["best_so_far"] == 75.28 and frontier[-1]["model"] == "Amini2024MeanSparse_S-WRN-94-16"
    assert [f["best_so_far"] for f in frontier] == sorted(f["best_so_far"] for f in frontier)
    md = (out / "report.md").read_text()
    assert "## Compute trend of published models" in md and "| params | all | 93 | 2.8 |" in md
    assert "| train_flops (estimated-from-card) | all | 9 | 0.492 |" in md
    for stem in ("trend_params", "trend_flops", "trend_train_flops", "accuracy_by_year"):
        assert (out / f"{stem}.png").stat().st_size > 1000
    assert report["quantile_trend"]["time"] == "year"


def test_make_trends_prints_the_doubling_times(repo_root, tmp_path, capsys):
    assert robustperf.main(["analyze", str(ROBUSTBENCH), "--mapping",
                            str(repo_root / "scaling" / "mappings" / "robustbench.yaml"), "-o", str(tmp_path),
                            "--no-figures", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "trends: doubling time of params (all, 93 models, 2018-2024): 2.8 years, 95% CI [1.82, 6.14]" in out
    assert "trends: doubling time of flops (2021 on, 54 models, 2021-2024): 1.77 years, 95% CI [0.931, 17.2]" in out
    assert "trends: doubling time of train_flops estimated-from-card (all, 9 models, 2019-2023): 0.492 years" in out


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


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_the_adapter_prefers_the_built_count_then_the_name_then_lists(tmp_path):
    """A leaderboard of four models against a real zoo table and lookup on disk: one built (the zoo table's count,
    not its architecture's), one the zoo failed to build but whose architecture the lookup has (by-name), one
    neither has (unknown, with both reasons), one the zoo lists but has not counted (unknown)."""
    from scaling.adapters import apply_adapter

    board = pd.DataFrame({"model_id": ["A", "B", "C", "D"], "venue": ["ICML 2019", "NeurIPS 2020", "arXiv, Oct 2021",
                                                                      "ICLR 2022"],
                          "architecture": ["WRN-28-10", "WRN-28-10", "DenseNet-121", "WRN-28-10"],
                          "autoattack_acc": ["50.1", "52.0", "40.0", "55.0"], "additional_data": ["True", "False", "",
                                                                                                "False"]})
    zoo = _write(tmp_path / "zoo.csv", "# a comment\nname,dataset,threat,params,forward_flops,status,note\n"
                 "A,cifar10,Linf,7,70,profiled,built\nB,cifar10,Linf,,,failed,RuntimeError: boom\n"
                 "D,cifar10,Linf,,,not counted,not yet counted: make zoo-table\nA,cifar100,Linf,9,90,profiled,x\n")
    lookup = _write(tmp_path / "archs.csv", "architecture,model,params,forward_flops,status,note\n"
                    "WRN-28-10,wrn-28-10,5,50,profiled,robustperf profile\n")
    out, info = apply_adapter(board, {"name": "robustbench", "zoo": zoo, "lookup": lookup, "dataset": "cifar10",
                                      "threat": "Linf"})
    assert list(out["count_source"]) == ["built", "by-name", "unknown", "by-name"]
    assert list(out["params"].fillna(-1)) == [7, 5, -1, 5] and list(out["inference_flops"].fillna(-1)) == [70, 50, -1, 50]
    assert info["counts"] == {"built": 1, "by-name": 2, "unknown": 1}
    assert info["unknown_models"] == {"C": {"architecture": "DenseNet-121", "why": "not in robustbench's model zoo; "
                                            "architecture 'DenseNet-121': not in the lookup"}}
    assert list(out["additional_data"]) == [True, False, None, False]  # not stated stays unknown
    # without a lookup (ImageNet: the CIFAR lookup does not transfer) the not-built ones are unknown, with why
    out, info = apply_adapter(board, {"name": "robustbench", "zoo": zoo, "dataset": "cifar10", "threat": "Linf"})
    assert info["counts"] == {"built": 1, "by-name": 0, "unknown": 3}
    assert info["unknown_models"]["B"]["why"] == "failed: RuntimeError: boom; no architecture lookup for this leaderboard"
    assert info["unknown_models"]["D"]["why"].startswith("not counted: ")


def test_the_doubling_time_of_estimated_training_compute_is_fitted_on_a_table(tmp_path):
    """sections.trends.train_flops: a table whose training FLOPs double every 0.8 years (parameters every 2)
    gives those doubling times back, the training one labelled estimated-from-card; rows without it are left out."""
    rng = np.random.default_rng(1)
    year = np.repeat(np.arange(2016, 2025), 6).astype(float)
    noise = np.exp(rng.normal(0, 0.05, year.size))
    train = 1e17 * 2 ** ((year - 2016) / 0.8) * noise
    train[::4] = np.nan  # models without a card
    table = pd.DataFrame({"year": year, "params": 1e7 * 2 ** ((year - 2016) / 2) * noise,
                          "flops": 1e9 * 2 ** ((year - 2016) / 3) * noise, "acc": 40 + year - 2016,
                          "train_flops_estimated": train})
    mapping = Mapping(flops="flops", acc="acc", time="year",
                      sections={"trends": {"params": "params", "train_flops": "train_flops_estimated"}})
    report, _ = run_analysis(table, mapping, Options(n_boot=10), sections=["trends"])
    growth = report["trends"]["growth"]
    fit = growth["train_flops"][0]
    assert fit["basis"] == "estimated-from-card" and fit["n"] == int(np.isfinite(train).sum())
    assert fit["doubling_years"] == pytest.approx(0.8, rel=0.02)
    assert growth["params"][0]["doubling_years"] == pytest.approx(2.0, rel=0.02) and "basis" not in growth["params"][0]
    assert growth["flops"][0]["doubling_years"] == pytest.approx(3.0, rel=0.02)


@pytest.mark.parametrize("board, mapping, n", [("robustbench_cifar100_linf.csv", "robustbench_cifar100.yaml", 38),
                                               ("robustbench_imagenet_linf.csv", "robustbench_imagenet.yaml", 30)])
def test_cifar100_and_imagenet_leaderboards_count_every_model_by_one_source(repo_root, board, mapping, n):
    """The CIFAR-100 and ImageNet Linf leaderboards (robustbench 1.1.1's own tables): every model counted from the
    zoo table (built), by name (CIFAR-100 only: the lookup is 3x32x32), or listed as unknown; a year for each
    but the baseline whose venue is N/A."""
    from scaling.adapters import apply_adapter

    loaded = load_mapping(str(repo_root / "scaling" / "mappings" / mapping))
    out, info = apply_adapter(pd.read_csv(DATA / board), loaded.adapter)
    assert info["n_models"] == n and sum(info["counts"].values()) == n
    assert set(out["count_source"]) <= {"built", "by-name", "unknown"}
    assert info["counts"]["built"] + len(info["unknown_models"]) + info["counts"]["by-name"] == n
    assert all(m["why"] for m in info["unknown_models"].values())
    # every model is built by robustbench's code (the ResNet-50 baseline without its torchvision weights, the
    # mixing-network ensembles on the CPU); only the baseline, whose venue is N/A, has no year
    assert info["counts"] == {"built": n, "by-name": 0, "unknown": 0} and info["unknown_models"] == {}
    assert info["no_year"] == (["Standard_R50"] if "imagenet" in board else [])
    assert out["additional_data"].isna().all()  # the package's tables do not state extra data


def test_make_trends_fits_the_imagenet_leaderboard(repo_root, tmp_path, capsys):
    assert robustperf.main(["analyze", str(DATA / "robustbench_imagenet_linf.csv"), "--mapping",
                            str(repo_root / "scaling" / "mappings" / "robustbench_imagenet.yaml"), "-o", str(tmp_path),
                            "--no-figures", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "trends: doubling time of params (all, 29 models, 2019-2024): 1.69 years, 95% CI [1.18, 2.98]" in out
    assert "trends: doubling time of flops (all, 29 models, 2019-2024): 1.6 years, 95% CI [1.13, 2.71]" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert all("skipped" in f for f in report["trends"]["growth"]["train_flops"])  # no ImageNet card yet
