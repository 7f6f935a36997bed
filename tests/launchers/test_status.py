"""``robustperf status``: counts and table from the records on disk, the matrix, and earlier launches."""
from __future__ import annotations

import json
import os
import pathlib

from launchers.plan import LAUNCH_DIR, write_ledger
from launchers.status import collect_status, format_table
from recipes import load_recipe
from results import new_record, write_record


def _records(results: pathlib.Path, recipe):
    runs = recipe.runs()
    done = new_record(runs[0].run_id, runs[0].name, runs[0].config, recipe.name)
    done["status"] = "completed"
    write_record(str(results), done)
    failed = new_record(runs[1].run_id, runs[1].name, runs[1].config, recipe.name)
    failed.update(status="failed", failure_reason="training diverged: loss is nan at epoch 1")
    write_record(str(results), failed)
    gone = new_record(runs[2].run_id, runs[2].name, runs[2].config, recipe.name)
    gone["job"].update(scheduler="local", host=os.uname().nodename, pid=2 ** 22 + 7)  # no such process
    write_record(str(results), gone)
    broken = results / "0123456789ab"
    broken.mkdir()
    (broken / "result.json").write_text("{not json")
    return runs


def test_status_with_recipe_counts_the_whole_matrix(tmp_path, tiny_recipe, capsys):
    import robustperf

    recipe = load_recipe(str(tiny_recipe), ["repeats=2"])
    results = tmp_path / "results"
    runs = _records(results, recipe)
    status = collect_status(str(results), runs, {})
    assert status.counts() == {"completed": 1, "failed": 1, "running": 1, "pending": 1, "unreadable": 1}
    assert [r.index for r in status.runs] == [0, 1, 2, 3, None]
    assert "launch again to resume" in status.runs[2].note
    table = format_table(status)
    assert "5 runs: 1 completed, 1 failed, 1 running, 1 pending, 1 unreadable" in table
    assert "training diverged: loss is nan at epoch 1" in table
    assert "corrupt JSON" in table

    assert robustperf.main(["status", str(results), "--recipe", str(tiny_recipe), "--set", "repeats=2",
                            "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["pending"] == 1 and data["total"] == 5
    assert data["runs"][1]["failure_reason"].startswith("training diverged")


def test_status_without_recipe_counts_disk_and_launched_runs(tmp_path, tiny_recipe, capsys):
    import robustperf

    recipe = load_recipe(str(tiny_recipe), ["repeats=2"])
    results = tmp_path / "results"
    runs = _records(results, recipe)
    folder = results / LAUNCH_DIR / "x"
    folder.mkdir(parents=True)
    write_ledger(str(folder), {"scheduler": "slurm", "dry_run": False,
                               "jobs": [{"job_id": "12", "run_ids": [r.run_id for r in runs]}]})
    status = collect_status(str(results), None, {})
    assert status.counts() == {"completed": 1, "failed": 1, "running": 1, "pending": 1, "unreadable": 1}
    assert robustperf.main(["status", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{results}: 5 runs: 1 completed, 1 failed, 1 running, 1 pending")
    assert "submitted as slurm job 12" in out


def test_status_of_a_missing_directory_exits_2(tmp_path, capsys):
    import robustperf

    assert robustperf.main(["status", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
