"""``robustperf collect`` and ``robustperf analyze`` end to end: exit codes, stderr, report.json, figures."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import robustperf
from tests.conftest import ROOT

from tests.scaling.conftest import PUBLISHED, PUBLISHED_ARGS

REPORT_KEYS = {"envelope", "electricity", "co2", "gbr", "quantile", "forecast", "repeats", "excluded", "figures"}


@pytest.fixture(scope="module")
def published_report(tmp_path_factory):
    """The published table analysed in a fresh interpreter through the console command's module."""
    out = tmp_path_factory.mktemp("published")
    proc = subprocess.run([sys.executable, "-m", "robustperf", "analyze", str(PUBLISHED), "-o", str(out),
                           *PUBLISHED_ARGS, "--bootstrap", "300"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out / "report.json") as fh:
        return out, json.load(fh), proc


def test_analyze_reproduces_the_paper_end_to_end(published_report):
    out, report, proc = published_report
    assert REPORT_KEYS <= set(report)
    env = report["envelope"]
    assert env["C"] == pytest.approx(50.856, rel=1e-3) and env["alpha"] == pytest.approx(0.010460, rel=1e-3)
    assert {"C", "alpha", "alpha_ci", "C_ci", "r2", "n_bins", "bin_scale", "dropped", "points"} <= set(env)
    assert (env["n_bins"], env["bin_scale"], env["dropped"], len(env["points"])) == (19, "log", 47, 19)
    assert env["alpha_ci"][0] < env["alpha"] < env["alpha_ci"][1]
    elec = report["electricity"]
    assert elec["alpha"] == pytest.approx(0.9504, rel=1e-3) and elec["n"] == 319
    assert {"alpha", "alpha_ci", "C", "r2", "n"} <= set(elec) and {"alpha", "alpha_ci", "C", "r2", "n"} <= set(
        report["co2"])
    assert {"r2_test", "mae_test", "cv_r2_mean", "cv_r2_sd", "importances"} <= set(report["gbr"])
    assert report["gbr"]["r2_test"] > 0.8
    assert report["quantile"]["q"] == 0.9
    assert [f["target"] for f in report["forecast"]] == [60, 65, 70, 75]
    assert [f["extrapolation"] for f in report["forecast"]] == [False, True, True, True]
    assert all("usd" in f and "co2_kg" in f for f in report["forecast"])
    assert "envelope: accuracy = 50.86 * FLOPs^0.01046" in proc.stdout
    assert proc.stderr == ""  # no numpy/scipy warnings leak


def test_analyze_writes_figures_and_markdown(published_report):
    out, report, _ = published_report
    stems = {"envelope", "electricity", "co2", "quantile", "gbr_predicted_vs_true", "gbr_importances",
             "acc_vs_flops_by_at_steps", "acc_vs_flops_by_synthetic_data"}
    for stem in stems:
        for fmt in ("png", "pdf"):
            path = out / f"{stem}.{fmt}"
            assert path.stat().st_size > 1000, path
            assert f"{stem}.{fmt}" in report["figures"]
    with open(out / "envelope.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "| NLS (scipy) | 50.86 |" in md and "0.9504" in md and "[envelope](envelope.png)" in md
    assert "**extrapolation**" in md
    assert not [f for f in os.listdir(out) if f.startswith(".tmp-")]  # atomic writes leave no temp files


def test_mapping_file_equals_flags(tmp_path, published_report):
    _, report, _ = published_report
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("flops: train_flops*epochs\nacc: aa_robust_acc\ncost: none\nco2: none\n"
                       "features: [at, at_steps]\n")
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path / "out"), "--mapping", str(mapping),
                            "--no-figures", "--bootstrap", "20", "--targets", "58", "70"]) == 0
    got = json.loads((tmp_path / "out" / "report.json").read_text())
    assert got["envelope"]["C"] == report["envelope"]["C"] and got["envelope"]["alpha"] == report["envelope"]["alpha"]
    assert got["electricity"] == {"skipped": "no cost column (pass --cost-col)"}
    assert [f["target"] for f in got["forecast"]] == [58, 70] and got["figures"] == []


def test_analyze_options_change_the_fit(tmp_path):
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path), *PUBLISHED_ARGS[:4], "--feature", "at",
                            "--bins", "10", "--bin-scale", "linear", "--collapse", "20", "--no-figures",
                            "--bootstrap", "20"]) == 0
    env = json.loads((tmp_path / "report.json").read_text())["envelope"]
    assert (env["n_bins"], env["bin_scale"], env["collapse"]) == (10, "linear", 20.0)
    assert env["dropped"] == int((pd.read_csv(PUBLISHED)["aa_robust_acc"] <= 20).sum())
    assert env["alpha"] != pytest.approx(0.01046, rel=1e-3)


def test_analyze_a_results_directory(results_dir, tmp_path, capsys):
    assert robustperf.main(["analyze", str(results_dir), "-o", str(tmp_path), "--bootstrap", "50"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "CUDA out of memory" in err and "corrupt JSON" in err and "status running" in err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_rows"] == 288 and len(report["problems"]) == 3
    assert report["columns"]["flops"] == "flops.train_total" and report["columns"]["acc"] == "accuracy.autoattack"
    assert report["gbr"]["features"] == ["params", "config.data.synthetic_fraction", "config.model.activation",
                                         "config.training.loss", "config.attack.steps", "config.training.ema_decay"]
    assert report["gbr"]["levels"]["config.training.ema_decay"] == ["0.995", "<none>"]
    assert report["kwh"]["alpha"] == pytest.approx(1.0, abs=0.01)  # records: kWh proportional to FLOPs
    assert report["repeats"]["n_configs"] == 96 and all(c["n"] == 3 for c in report["repeats"]["configs"])
    assert all(f["kwh"] and f["usd"] and f["co2_kg"] for f in report["forecast"])
    assert os.path.exists(tmp_path / "acc_vs_flops_by_config.training.ema_decay.pdf")


def test_collect_lists_problems_and_strict_fails(results_dir, tmp_path, capsys):
    out = tmp_path / "table.parquet"
    assert robustperf.main(["collect", str(results_dir), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    for reason in ("failed: CUDA out of memory", "incomplete: status running", "corrupt: corrupt JSON"):
        assert reason in err
    assert len(pd.read_parquet(out)) == 290
    strict = tmp_path / "strict.csv"
    assert robustperf.main(["collect", str(results_dir), "-o", str(strict), "--strict"]) == 1
    assert "--strict: table not written" in capsys.readouterr().err and not strict.exists()


def test_collect_clean_directory_to_stdout(clean_results_dir, capsys):
    assert robustperf.main(["collect", str(clean_results_dir), "--strict"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("record_path,schema_version,run_id") and len(out.splitlines()) == 289


@pytest.mark.parametrize("argv, message", [
    (["--flops-col", "train_flop"], "no FLOPs column 'train_flop' (did you mean 'train_flops'?)"),
    (["--flops-col", "train_flops", "--acc-col", "aa_robust_acc", "--feature", "activation"],
     "no factor column 'activation'"),
    (["--flops-col", "train_flops", "--acc-col", "aa_robust_acc", "--targets", "60", "120"],
     "0 < target < 100; got 120"),
    (["--flops-col", "train_flops", "--acc-col", "aa_robust_acc", "--group", "seed"], "no group column 'seed'"),
])
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, argv, message):
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path), "--no-figures", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustperf analyze: error: ") and message in err and "Traceback" not in err


def test_nonpositive_flops_exit_2(tmp_path, capsys, published):
    table = published.copy()
    table.loc[0, "train_flops"] = 0
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    assert robustperf.main(["analyze", str(path), "-o", str(tmp_path / "o"), *PUBLISHED_ARGS[:4]]) == 2
    assert "1 of 319 rows have non-positive or infinite FLOPs (train_flops*epochs): row 0" in capsys.readouterr().err
