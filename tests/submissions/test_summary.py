"""The results summarizer (submissions/summary.py, ``robustperf summarize``) on synthetic submission folders: the
design's columns in order, one row per result, scores in full precision, unique stable result ids, the board of
its CSV, and every refusal in one line naming the file and key (exit 2), with nothing written."""
from __future__ import annotations

import csv
import json
import math
import os

import pytest

from submissions.board import load_inputs
from submissions.summary import COLUMNS, summarize
from tests.submissions.conftest import one_line_error, robustperf
from tests.submissions.synthetic import make_submission

#: the issue-23 design's summary columns ("Summary row"), spelled out as the design writes them
DESIGN_COLUMNS = (
    ["benchmark", "division", "submitter", "system", "runs", "scored_runs", "epochs_to_target", "time_to_target_s",
     "kwh_to_target", "usd_to_target", "co2_kg_to_target", "train_flops_to_target", "robust_accuracy",
     "clean_accuracy", "confirmed"]
    + [f"{figure}_{end}" for figure in ("epochs_to_target", "time_to_target_s", "kwh_to_target", "usd_to_target",
                                        "co2_kg_to_target", "train_flops_to_target", "robust_accuracy",
                                        "clean_accuracy") for end in ("min", "max")]
    + ["reached_runs", "energy_source", "submission", "result_id"])
RUNS = "results/1xAMD_EPYC_2c/digits-linf-0.2"


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        return next(reader), [dict(zip(COLUMNS, line)) for line in reader]


@pytest.fixture
def summarize_cli(console):
    return lambda *args: console("summarize", *args)


def test_summarize_writes_the_designs_columns_and_one_row_per_result(tmp_path):
    scored = make_submission(tmp_path / "scored", seconds=(30.0, 20.0, 25.0, 40.0, 22.0))
    missed = make_submission(tmp_path / "missed", submitter="slow", seconds=(30.0, None, None, 40.0, 22.0))
    short = make_submission(tmp_path / "short", submitter="short", division="open", seconds=(30.0, 20.0, 25.0))
    out = tmp_path / "summary.csv"
    proc = robustperf("summarize", str(scored), str(missed), str(short), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    assert f"{missed}: no score: 2 of 5 runs missed the target: the benchmark's rules allow 1" in proc.stderr
    assert f"{short}: no score: 3 runs: the benchmark's rules ask for exactly 5" in proc.stderr
    header, rows = _read(out)
    assert header == DESIGN_COLUMNS == list(COLUMNS)
    assert [r["submission"] for r in rows] == [str(scored), str(missed), str(short)]
    row = rows[0]
    # runs 30, 20, 25, 40, 22 s: 20 (fastest) and 40 (slowest) dropped -> 30, 25, 22 scored (runs 0, 2, 4)
    assert row["time_to_target_s"] == repr(math.fsum([30.0, 25.0, 22.0]) / 3) == "25.666666666666668"
    assert (row["time_to_target_s_min"], row["time_to_target_s_max"]) == ("22.0", "30.0")
    # synthetic records: kWh = s * 3e-4, robust accuracy 50.5 + k, clean 90 + k / 10, epoch 3 + k % 2
    assert float(row["kwh_to_target"]) == pytest.approx((30 + 25 + 22) * 3e-4 / 3, rel=1e-15)
    assert float(row["robust_accuracy"]) == (50.5 + 52.5 + 54.5) / 3 == 52.5
    assert float(row["clean_accuracy"]) == pytest.approx((90.0 + 90.2 + 90.4) / 3, rel=1e-15)
    assert (row["epochs_to_target"], row["epochs_to_target_min"], row["epochs_to_target_max"]) == ("3.0", "3", "3")
    assert (row["runs"], row["scored_runs"], row["reached_runs"], row["confirmed"]) == ("5", "3", "5", "true")
    assert (row["benchmark"], row["division"], row["submitter"], row["system"], row["energy_source"]) == (
        "digits-linf-0.2", "closed", "lab", "1xAMD_EPYC_2c", "rapl")
    assert row["result_id"] == "digits-linf-0.2/closed/lab/1xAMD_EPYC_2c"
    for row, reached in ((rows[1], "3"), (rows[2], "3")):  # no score: empty figures, not confirmed
        assert all(row[c] == "" for c in COLUMNS if c.endswith(("_target", "_s", "accuracy", "_min", "_max")))
        assert (row["scored_runs"], row["confirmed"], row["reached_runs"]) == ("", "false", reached)
    assert rows[2]["runs"] == "3" and rows[2]["division"] == "open"
    assert sorted(os.listdir(tmp_path)) == ["missed", "scored", "short", "summary.csv"]  # no temporary file left


def test_every_number_reads_back_exactly(tmp_path):
    folders = [str(make_submission(tmp_path / f"s{i}", submitter=f"lab{i}",
                                   seconds=tuple(10.0 / (k + 3 + i) for k in range(5)))) for i in range(3)]
    subs = summarize(folders)
    from submissions.summary import write_summary

    write_summary(str(tmp_path / "s.csv"), subs)
    _, rows = _read(tmp_path / "s.csv")
    for sub, row in zip(subs, rows):
        for column, value in sub.row.items():
            if isinstance(value, float):
                assert float(row[column]) == value, column  # repr: no digit lost
    # the board reads the summarizer's CSV back to the same rows it reads from the folders themselves
    from_csv = load_inputs([str(tmp_path / "s.csv")])
    from_folders = load_inputs(folders)
    for a, b in zip(from_csv, from_folders):
        assert a.row == b.row and not a.runs and len(b.runs) == 5


def test_result_ids_are_unique_slugs_that_do_not_depend_on_the_order(tmp_path):
    twins = [str(make_submission(tmp_path / name, submitter="Ac me/../x")) for name in ("b", "a", "c")]
    ids = {s.folder: s.row["result_id"] for s in summarize(twins)}
    base = "digits-linf-0.2/closed/Ac_me_.._x/1xAMD_EPYC_2c"
    assert ids == {twins[1]: base, twins[0]: f"{base}-2", twins[2]: f"{base}-3"}  # by folder path: a, b, c
    assert {s.folder: s.row["result_id"] for s in summarize(twins[::-1])} == ids
    assert all(part not in ("", ".", "..") and not part.startswith(".") for i in ids.values() for part in i.split("/"))


def test_the_board_of_a_summary_shows_every_result(tmp_path, console):
    folders = [str(make_submission(tmp_path / f"s{i}", submitter=f"lab{i}")) for i in range(3)]
    assert console("summarize", *folders, "-o", str(tmp_path / "summary.csv")).returncode == 0
    proc = console("board", str(tmp_path / "summary.csv"), "-o", str(tmp_path / "site"))
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.relative_to(tmp_path / "site" / "results").as_posix()
                   for p in (tmp_path / "site" / "results").rglob("*.html"))
    assert pages == [f"digits-linf-0.2/closed/lab{i}/1xAMD_EPYC_2c.html" for i in range(3)]


def test_refusals_end_in_one_line_naming_the_file_and_key(tmp_path, summarize_cli):
    out = tmp_path / "out.csv"
    (tmp_path / "plain").mkdir()
    one_line_error(summarize_cli(str(tmp_path / "plain"), "-o", str(out)), "plain", "no submission.json")
    folder = make_submission(tmp_path / "sub")
    record = folder / RUNS / "run_2" / "result.json"
    good = json.loads(record.read_text("utf-8"))

    def with_to_target(**changes):
        record.write_text(json.dumps(dict(good, to_target=dict(good["to_target"], **changes))), encoding="utf-8")
        return summarize_cli(str(folder), "-o", str(out))

    one_line_error(with_to_target(kwh="lots"), "run_2/result.json", "key to_target.kwh", "'lots'")
    one_line_error(with_to_target(seconds=float("inf")), "run_2/result.json", "key to_target.seconds")
    one_line_error(with_to_target(reached="yes"), "run_2/result.json", "key to_target.reached", "'yes'")
    one_line_error(with_to_target(seconds=None), "run_2/result.json", "key to_target.seconds", "reached is true")
    one_line_error(with_to_target(confirmation=[1]), "run_2/result.json", "key to_target.confirmation")
    record.write_text(json.dumps(good), encoding="utf-8")
    (folder / RUNS / "run_4" / "result.json").unlink()
    one_line_error(summarize_cli(str(folder), "-o", str(out)), "run_4/result.json", "missing")
    meta_path = folder / "submission.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta_path.write_text(json.dumps(dict(meta, benchmark="cifar11-linf-8")), encoding="utf-8")
    one_line_error(summarize_cli(str(folder), "-o", str(out)), "submission.json", "key 'benchmark'", "cifar11-linf-8")
    meta_path.write_text(json.dumps(dict(meta, submitter=7)), encoding="utf-8")
    one_line_error(summarize_cli(str(folder), "-o", str(out)), "submission.json", "key submitter", "7")
    meta_path.write_text("[]", encoding="utf-8")
    one_line_error(summarize_cli(str(folder), "-o", str(out)), "submission.json", "expected a JSON object")
    assert not out.exists()


def test_unsafe_outputs_and_repeated_inputs_are_refused(tmp_path, summarize_cli):
    folder = str(make_submission(tmp_path / "sub"))
    one_line_error(summarize_cli(folder, os.path.join(folder, "."), "-o", str(tmp_path / "x.csv")), "given twice")
    target = tmp_path / "precious.txt"
    target.write_text("keep", encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(target)
    one_line_error(summarize_cli(folder, "-o", str(tmp_path / "link.csv")), "link.csv", "symbolic link")
    assert target.read_text("utf-8") == "keep"
    (tmp_path / "dir.csv").mkdir()
    one_line_error(summarize_cli(folder, "-o", str(tmp_path / "dir.csv")), "dir.csv")
    assert not (tmp_path / "x.csv").exists()
    (tmp_path / "old.csv").write_text("old", encoding="utf-8")
    assert summarize_cli(folder, "-o", str(tmp_path / "old.csv")).returncode == 0  # replaced, atomically
    assert _read(tmp_path / "old.csv")[0] == DESIGN_COLUMNS


def test_a_huge_record_fails_fast_naming_the_bound(tmp_path):
    folder = make_submission(tmp_path / "big")
    (folder / RUNS / "run_1" / "result.json").write_text(" " * 5_000 + "{}", encoding="utf-8")
    proc = robustperf("summarize", str(folder), "-o", str(tmp_path / "s.csv"), ROBUSTPERF_MAX_JSON_BYTES="2000")
    one_line_error(proc, "run_1/result.json", "ROBUSTPERF_MAX_JSON_BYTES")
    assert not (tmp_path / "s.csv").exists()
