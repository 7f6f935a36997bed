"""``robustperf collect --survival``: every run's survival.parquet joined with its run's columns by run_id."""
from __future__ import annotations

import pandas as pd

import results
from results.keys import SURVIVAL_TABLE
from robustperf import main


def _run(root, run_id, lr, rows, pointer=True, write=True):
    record = results.new_record(run_id, "n", {"seed": 0, "training": {"lr": lr}}, recipe="r")
    record.update(status=results.COMPLETED)
    record["timing"]["train_seconds"] = 10.0
    if pointer:
        record["survival"].update(file=SURVIVAL_TABLE, rows=rows, configs=["pgd-3"], events={"pgd-3": 1})
    results.write_record(str(root), record)
    if write:
        pd.DataFrame({"run_id": run_id, "which": "best", "config": "pgd-3", "point": range(rows),
                      "clean_correct": True, "event": [True] + [False] * (rows - 1), "attack": "pgd",
                      "seconds": 0.01, "iterations": 1, "forward_passes": 2.0, "eps": 0.1}
                     ).to_parquet(root / run_id / SURVIVAL_TABLE, index=False)


def test_collect_survival_joins_run_columns(tmp_path, capsys):
    root = tmp_path / "runs"
    _run(root, "aaaaaaaaaaaa", 0.1, 3)
    _run(root, "bbbbbbbbbbbb", 0.01, 4)
    _run(root, "cccccccccccc", 0.5, 2, pointer=False, write=False)  # evaluated before survival data existed
    _run(root, "dddddddddddd", 0.2, 5, write=False)  # pointer set, file lost
    out = tmp_path / "survival.parquet"
    assert main(["collect", str(root), "--survival", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "dddddddddddd/survival.parquet: survival table unreadable" in err
    assert "survival: 7 rows from 2 of 4 runs" in err
    table = pd.read_parquet(out)
    assert len(table) == 7 and sorted(table["run_id"].unique()) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    lr = table.groupby("run_id")["config.training.lr"].first().to_dict()
    assert lr == {"aaaaaaaaaaaa": 0.1, "bbbbbbbbbbbb": 0.01}
    assert (table["timing.train_seconds"] == 10.0).all() and "survival.file" not in table.columns
    # --strict refuses to write when a pointed-to table is missing
    assert main(["collect", str(root), "--survival", "--strict", "-o", str(tmp_path / "s2.parquet")]) == 1
    assert not (tmp_path / "s2.parquet").exists()
