"""Hostile tables and records (issue 12): bad values, duplicate and misplaced runs are reported by collect and
status and kept out of the table; analyze refuses bad prices, seeds, outputs and corrupt compressed tables."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest

from launchers.status import collect_status
from results import new_record, write_record
from scaling.table import collect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _record(results, run_id, acc=50.0, flops=1e12):
    record = new_record(run_id, f"run-{run_id}", {"seed": 0}, "t")
    record["status"] = "completed"
    record["accuracy"].update(clean=90.0, pgd=acc + 5, autoattack=acc)
    record["flops"]["train_total"] = flops
    record["energy"]["kwh"] = 0.001
    write_record(str(results), record)
    return results / run_id / "result.json"


def _edit(path, dotted, raw):
    """Put a raw JSON token (NaN, -1, "12") at a dotted field: what a hand edit or hostile file holds."""
    text = path.read_text()
    group, key = dotted.split(".")
    old = json.dumps(json.loads(text)[group][key])
    needle = f'"{key}": {old}'
    assert needle in text, needle
    path.write_text(text.replace(needle, f'"{key}": {raw}', 1))


@pytest.mark.parametrize("dotted,raw,why", [
    ("accuracy.autoattack", "NaN", "not finite"),
    ("energy.kwh", "-0.5", "negative"),
    ("flops.train_total", '"1e12"', "not a number"),
    ("accuracy.clean", "140.0", "above 100"),
    ("accuracy.pgd", "Infinity", "not finite"),
])
def test_bad_values_are_reported_and_left_out(tmp_path, dotted, raw, why):
    good = _record(tmp_path, "aaaaaaaaaaaa")
    bad = _record(tmp_path, "bbbbbbbbbbbb", acc=60.0)
    _edit(bad, dotted, raw)
    table, problems = collect(str(tmp_path))
    assert list(table["run_id"]) == ["aaaaaaaaaaaa"]
    (problem,) = problems
    # the schema's type check (a string where a number belongs) already makes the record corrupt
    assert (problem.kind == "invalid" and why in problem.reason) or problem.kind == "corrupt", problem
    assert dotted in problem.reason, problem
    status = collect_status(str(tmp_path))
    note = next(r.note for r in status.runs if r.run_id == "bbbbbbbbbbbb" or "bbbbbbbbbbbb" in str(r.note))
    assert note and dotted in note
    assert str(good) not in str(problems)


def test_duplicate_run_ids_and_misnamed_folders_are_reported(tmp_path):
    _record(tmp_path, "aaaaaaaaaaaa")
    shutil.copytree(tmp_path / "aaaaaaaaaaaa", tmp_path / "copy-of-a")   # same run, second folder
    _record(tmp_path, "cccccccccccc")
    os.rename(tmp_path / "cccccccccccc", tmp_path / "renamed")           # a folder not named after its run
    table, problems = collect(str(tmp_path))
    # issue 22: a run counts once, from the folder named by its run_id; a copy or renamed folder is reported only
    assert sorted(table["run_id"]) == ["aaaaaaaaaaaa"]
    reasons = {os.path.basename(os.path.dirname(p.path)): (p.kind, p.reason) for p in problems}
    assert reasons["copy-of-a"][0] == "misplaced" and "is named 'copy-of-a'" in reasons["copy-of-a"][1]
    assert "aaaaaaaaaaaa itself is in" in reasons["copy-of-a"][1].replace("'", "")
    assert reasons["renamed"][0] == "misplaced" and "'cccccccccccc'" in reasons["renamed"][1]
    status = collect_status(str(tmp_path))
    assert [r.run_id for r in status.runs].count("aaaaaaaaaaaa") == 2  # listed, not merged away
    assert status.counts()["completed"] == 1 and status.counts()["misplaced"] == 2 and status.total() == 1


def _analyze(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "robustperf", "analyze", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)


@pytest.mark.parametrize("args,needle", [
    (["--usd-per-kwh", "-0.12"], "--usd-per-kwh"),
    (["--usd-per-kwh", "nan"], "--usd-per-kwh"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2 ** 40)], "--seed"),
    (["--bins", "0"], "--bins"),
])
def test_analyze_refuses_bad_flags(tmp_path, args, needle):
    _record(tmp_path / "res", "aaaaaaaaaaaa")
    proc = _analyze(tmp_path / "res", "-o", tmp_path / "out", *args)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_analyze_refuses_an_output_that_is_a_file_or_cannot_be_made(tmp_path):
    _record(tmp_path / "res", "aaaaaaaaaaaa")
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub", ""):
        proc = _analyze(tmp_path / "res", "-o", out)
        assert proc.returncode == 2 and "-o/--output" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("name,damage", [("t.csv.gz", "truncate"), ("t.csv.gz", "garbage"),
                                         ("t.parquet", "truncate"), ("t.csv", "binary")])
def test_corrupt_tables_exit_2(tmp_path, name, damage):
    path = tmp_path / name
    if name.endswith(".gz"):
        data = gzip.compress(b"flops,acc\n" + b"1e12,50\n" * 2000)
    elif name.endswith(".parquet"):
        import pandas as pd

        pd.DataFrame({"flops": [1e12] * 50, "acc": [50.0] * 50}).to_parquet(path)
        data = path.read_bytes()
    else:
        data = b"flops,acc\n1e12,50\n"
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "garbage":
        data = data[:10] + b"\x00garbage" * 50
    else:
        data = b"\xff\xfe\x00\x81" * 200
    path.write_bytes(data)
    proc = _analyze(path, "-o", tmp_path / "out", "--flops-col", "flops", "--acc-col", "acc")
    assert proc.returncode == 2 and str(path) in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_analysis_and_table_outputs_are_never_written_through_a_link(tmp_path, capsys):
    """Issue 22: a link where `analyze` or `collect -o` writes is refused (exit 2, named); its target is kept."""
    import robustperf
    from tests.scaling.conftest import PUBLISHED, PUBLISHED_ARGS

    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").symlink_to(victim)
    code = robustperf.main(["analyze", str(PUBLISHED), "-o", str(out), *PUBLISHED_ARGS[:4], "--no-figures",
                            "--bootstrap", "20"])
    err = capsys.readouterr().err
    assert code == 2 and "report.json" in err and "symbolic link" in err and "Traceback" not in err, err
    _record(tmp_path / "res", "aaaaaaaaaaaa")
    (tmp_path / "table.csv").symlink_to(victim)
    code = robustperf.main(["collect", str(tmp_path / "res"), "-o", str(tmp_path / "table.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "table.csv" in err and "symbolic link" in err, err
    assert victim.read_text() == "keep\n" and (tmp_path / "table.csv").is_symlink()
