"""LSF: no server can be installed here, so the generated scripts are executed by bash with the variables LSF
sets (LSB_JOBID, 1-based LSB_JOBINDEX) and must run the right matrix entries with the real ``robustperf run``;
a stand-in ``bsub`` on PATH checks only the submission commands and the parsing of bsub's answers."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

from launchers.launch import launch
from recipes import load_recipe
from results import load_record

FAST = ["training.epochs=1", "attack.steps=1", "evaluation.autoattack=null", "evaluation.pgd_steps=2",
        "training.select_subset=64", "training.select_pgd_steps=2"]


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_lsf_array_element_runs_its_matrix_entry(tmp_path, tiny_recipe):
    """Element 2 (1-based LSB_JOBINDEX) of an array over matrix indices 1 and 3 trains run 3, and only it.
    (Every element's mapping is checked with a recording task in test_scripts; this one is the real run.)"""
    overrides = ["repeats=2", *FAST]
    recipe = load_recipe(str(tiny_recipe), overrides)
    results = tmp_path / "results"
    result = launch(recipe, scheduler="lsf", results_dir=str(results), indices="1,3", dry_run=True,
                    overrides=overrides)
    (job,) = result.jobs
    text = pathlib.Path(job.script).read_text()
    assert '#BSUB -J "tiny-digits[1-2]%2"' in text and "INDICES=(1 3)" in text
    proc = subprocess.run(["bash", job.script], cwd=result.folder, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, LSB_JOBID="777", LSB_JOBINDEX="2"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = recipe.runs()
    record = load_record(str(results), runs[3].run_id)
    assert record["status"] == "completed", record["failure_reason"]
    assert record["job"]["scheduler"] == "lsf" and str(record["job"]["job_id"]) == "777"
    assert str(record["job"]["array_task_id"]) == "2"
    assert [load_record(str(results), runs[i].run_id) for i in (0, 1, 2)] == [None, None, None]


FAKE_BSUB = """#!/bin/bash
# stand-in for LSF's bsub: records argv and stdin, answers like bsub
n=$(( $(ls "$BSUB_LOG" | wc -l) + 100 ))
{ printf '%s\\n' "$@"; echo ---; cat; } > "$BSUB_LOG/$n"
if [ -n "${BSUB_FAIL:-}" ]; then echo "$BSUB_FAIL" >&2; exit 255; fi
echo "Job <$n> is submitted to queue <normal>."
"""


@pytest.fixture
def fake_bsub(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "bsub").write_text(FAKE_BSUB)
    (bindir / "bsub").chmod(0o755)
    log = tmp_path / "bsub-calls"
    log.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("BSUB_LOG", str(log))
    return log


def test_bsub_submission_chain_and_split(fake_bsub, tmp_path, tiny_recipe):
    recipe = load_recipe(str(tiny_recipe), ["repeats=3"])
    result = launch(recipe, scheduler="lsf", results_dir=str(tmp_path / "r"),
                    parameters={"chain": 1, "max_array_size": 4})
    assert [(j.array, j.link, j.job_id, j.depends_on) for j in result.jobs] == [
        (0, 0, "100", None), (0, 1, "101", "100"), (1, 0, "102", None), (1, 1, "103", "102")]
    calls = {int(p.name): p.read_text() for p in fake_bsub.iterdir()}
    argv = {n: text.split("---\n")[0].split() for n, text in calls.items()}
    stdin = {n: text.split("---\n", 1)[1] for n, text in calls.items()}
    assert argv == {100: [], 101: ["-w", "ended(100)"], 102: [], 103: ["-w", "ended(102)"]}
    assert '#BSUB -J "tiny-digits[1-4]%2"' in stdin[100] and "INDICES=(0 1 2 3)" in stdin[100]
    assert '#BSUB -J "tiny-digits[1-2]%2"' in stdin[102] and "INDICES=(4 5)" in stdin[102]
    ledger = json.loads(next((tmp_path / "r" / "_launch").glob("*/launch.json")).read_text())
    assert [j["job_id"] for j in ledger["jobs"]] == ["100", "101", "102", "103"]
    assert ledger["jobs"][2]["run_ids"] == [s.run_id for s in recipe.runs()[4:]]


def test_bsub_error_is_shown_verbatim(fake_bsub, tmp_path, tiny_recipe, monkeypatch, capsys):
    import robustperf

    monkeypatch.setenv("BSUB_FAIL", "Bad resource requirement syntax. Job not submitted.")
    code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", "lsf", "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "bsub refused the job script" in err and "exit status 255" in err
    assert "Bad resource requirement syntax. Job not submitted." in err
    assert "script: " + str(next((tmp_path / "r" / "_launch").glob("*/array-000.bsub"))) in err
    assert not list((tmp_path / "r").glob("*/result.json"))


FAKE_BJOBS = """#!/bin/bash
# stand-in for LSF's bjobs: $BJOBS_MODE says how it answers
case "$BJOBS_MODE" in
  list) printf '101|0|RUN\\n102|3|PEND\\n103|0|DONE\\n' ;;
  none) echo "No job found" >&2; exit 255 ;;
  down) echo "LSF is down. Please wait ..." >&2; exit 255 ;;
esac
"""


@pytest.fixture
def fake_bjobs(tmp_path, monkeypatch):
    bindir = tmp_path / "bin-bjobs"
    bindir.mkdir()
    (bindir / "bjobs").write_text(FAKE_BJOBS)
    (bindir / "bjobs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_bjobs_failure_is_loud_not_nothing_alive(fake_bjobs, monkeypatch):
    from launchers.errors import LaunchError
    from launchers.lsf import LsfExecutor

    monkeypatch.setenv("BJOBS_MODE", "list")
    assert LsfExecutor.alive_jobs(["101", "102[3]", "103", "104"]) == {"101", "102[3]"}
    monkeypatch.setenv("BJOBS_MODE", "none")
    assert LsfExecutor.alive_jobs(["101"]) == set()
    monkeypatch.setenv("BJOBS_MODE", "down")
    with pytest.raises(LaunchError, match="bjobs failed") as err:
        LsfExecutor.alive_jobs(["101"])
    assert "LSF is down" in str(err.value)
