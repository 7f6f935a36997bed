"""Tables: collecting records, loading files, column expressions, mappings and invalid values."""
from __future__ import annotations

import numpy as np
import pytest

from scaling.analysis import Options, run_analysis
from scaling.errors import InvalidValuesError, TableError
from scaling.mapping import Mapping, load_mapping
from scaling.table import collect, completed, load_table, numeric_column, write_table

PUBLISHED_MAPPING = Mapping(flops="train_flops*epochs", acc="aa_robust_acc", features=("at", "at_steps"))


def test_product_columns(published):
    values = numeric_column(published, "train_flops * epochs", "FLOPs", "--flops-col")
    np.testing.assert_allclose(values, published["train_flops"] * published["epochs"])


def test_missing_column_is_named_with_the_columns_present(published):
    with pytest.raises(TableError) as info:
        numeric_column(published, "train_flops*epoch", "FLOPs", "--flops-col")
    text = str(info.value)
    assert "no FLOPs column 'epoch'" in text and "did you mean 'epochs'" in text and "--flops-col" in text
    assert "columns present: train_loss, train_emissions, train_flops" in text and "aa_robust_acc" in text
    assert info.value.column == "epoch" and "epochs" in info.value.present


def test_text_column_is_not_numeric(published):
    with pytest.raises(TableError, match="'model' is not numeric: 319 values such as 'wide_resnet34_20_dm'"):
        numeric_column(published, "model", "accuracy", "--acc-col")


def test_collect_keeps_every_run_and_lists_the_problems(results_dir):
    table, problems = collect(str(results_dir))
    assert len(table) == 290  # 288 completed, one running, one failed; the corrupt record cannot be a row
    assert table["status"].value_counts().to_dict() == {"completed": 288, "running": 1, "failed": 1}
    assert {p.kind for p in problems} == {"corrupt", "failed", "incomplete"}
    failed = next(p for p in problems if p.kind == "failed")
    assert failed.reason == "CUDA out of memory" and failed.path.endswith("zz-failed/result.json")
    assert "corrupt JSON" in next(p for p in problems if p.kind == "corrupt").reason
    assert {"record_path", "flops.train_total", "accuracy.autoattack", "config.training.loss",
            "config.training.ema_decay"} <= set(table.columns)
    assert list(table.columns[:3]) == ["record_path", "schema_version", "run_id"]
    assert len(completed(table)) == 288
    loaded, listed = load_table(str(results_dir))
    assert len(loaded) == 288 and len(listed) == 3


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_written_tables_read_back(results_dir, tmp_path, suffix):
    table, _ = collect(str(results_dir))
    path = str(tmp_path / f"table.{suffix}")
    write_table(table, path)
    back, problems = load_table(path)
    assert problems == [] and back.shape == table.shape
    np.testing.assert_allclose(back["flops.train_total"].astype(float), table["flops.train_total"].astype(float))
    assert list(back["status"]) == list(table["status"])


def test_unknown_table_format(tmp_path):
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(TableError, match="unknown table format"):
        load_table(str(tmp_path / "t.xlsx"))
    with pytest.raises(TableError, match="no such table"):
        load_table(str(tmp_path / "absent.csv"))


def test_mapping_yaml(tmp_path):
    good = tmp_path / "m.yaml"
    good.write_text("flops: train_flops*epochs\nacc: aa_robust_acc\nfeatures: [at, at_steps]\nco2: null\n"
                    "usd_per_kwh: 0.19\n")
    m = load_mapping(str(good))
    assert m == Mapping(flops="train_flops*epochs", acc="aa_robust_acc", features=("at", "at_steps"), co2="none",
                        usd_per_kwh=0.19)
    assert m.merged(Mapping(acc="eval_acc")).acc == "eval_acc"
    bad = tmp_path / "bad.yaml"
    bad.write_text("flop: x\n")
    with pytest.raises(TableError, match="unknown key 'flop'; valid keys: flops, acc, cost"):
        load_mapping(str(bad))


def test_nonpositive_flops_are_reported_not_dropped(published):
    table = published.copy()
    table.loc[[3, 7, 9], "train_flops"] = [0.0, -1.0, np.inf]
    with pytest.raises(InvalidValuesError) as info:
        run_analysis(table, PUBLISHED_MAPPING, Options(n_boot=10))
    assert "3 of 319 rows have non-positive or infinite FLOPs (train_flops*epochs): row 3, row 7, row 9" in str(
        info.value)
    assert "--drop-nonpositive" in str(info.value)
    report, _ = run_analysis(table, PUBLISHED_MAPPING, Options(n_boot=10, drop_nonpositive=True))
    assert report["excluded"]["nonpositive_flops"] == ["row 3", "row 7", "row 9"] and report["n_used"] == 316


def test_missing_values_are_excluded_and_listed(published):
    table = published.copy()
    table.loc[5, "aa_robust_acc"] = np.nan
    table.loc[6, "epochs"] = np.nan
    report, _ = run_analysis(table, PUBLISHED_MAPPING, Options(n_boot=10))
    assert report["excluded"]["missing_acc"] == ["row 5"] and report["excluded"]["missing_flops"] == ["row 6"]
    assert report["n_used"] == 317


def test_default_columns_of_an_external_table_say_what_to_pass(published):
    with pytest.raises(TableError, match="no FLOPs column 'flops.train_total'.*pass --flops-col"):
        run_analysis(published, Mapping(), Options(n_boot=10))
    with pytest.raises(TableError, match="no factor column 'activation'.*--feature"):
        run_analysis(published, Mapping(flops="train_flops", acc="aa_robust_acc", features=("activation",)))
    report, _ = run_analysis(published, Mapping(flops="train_flops", acc="aa_robust_acc"), Options(n_boot=10))
    assert "default factor columns missing" in report["gbr"]["skipped"]
    assert report["electricity"] == {"skipped": "no cost column (pass --cost-col)"}
    assert report["repeats"]["group"] == [] and report["repeats"]["configs"] == []
