"""``robustperf check`` on a real closed digits-linf-0.2 result (the reference recipe's 5 seeds, packaged by
``robustperf submit``): it passes; editing any file, removing a run, or a run whose config overrode a key the
closed division fixes each makes it fail with exit 1, naming the file and the rule; nothing to check is exit 2."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import yaml

from submissions.check import check_submission
from submissions.layout import manifest_text
from tests.benchmarks.conftest import cached_run  # noqa: F401 - the cached trained runs (a session fixture)
from tests.submissions._digits import BENCHMARK, five_runs, robustperf, submit  # noqa: F401



@pytest.fixture(scope="session")
def packaged(five_runs, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("packaged") / "sub"
    done = submit(five_runs, out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def sub(packaged, tmp_path):
    """A copy of the packaged submission, for the test to change."""
    return shutil.copytree(packaged, tmp_path / "sub")


def _runs(sub):
    meta = json.loads((sub / "submission.json").read_text())
    return sub / "results" / meta["system"] / BENCHMARK


def _lines(sub):
    return [str(v) for v in check_submission(str(sub))]


def _rehash(sub):
    """What a packager who changed files would do: a fresh MANIFEST.sha256 of the folder as it is."""
    files = {str(p.relative_to(sub)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sub.rglob("*")
             if p.is_file() and p.name != "MANIFEST.sha256"}
    (sub / "MANIFEST.sha256").write_text(manifest_text(files))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_closed_result_of_five_seeds_passes(packaged):
    done = robustperf("check", packaged)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.strip() == f"robustperf check: {packaged}: valid"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_editing_any_file_fails_the_manifest_naming_the_file(sub):
    files = sorted(p for p in sub.rglob("*") if p.is_file() and p.name != "MANIFEST.sha256")
    assert len(files) == 2 + 5 * 4
    for path in files:
        original = path.read_bytes()
        path.write_bytes(original.replace(b"5", b"6", 1) if b"5" in original else original + b" ")
        lines = _lines(sub)
        assert f"{path}: manifest: its sha256 differs from MANIFEST.sha256's: the file changed after it was " \
               "packaged" in lines, (path, lines)
        path.write_bytes(original)
    assert _lines(sub) == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_an_edited_record_fails_with_the_file_and_rule_named(sub):
    record = _runs(sub) / "run_2" / "result.json"
    data = json.loads(record.read_text())
    data["to_target"]["seconds"] /= 2  # a faster run than measured
    record.write_text(json.dumps(data, indent=2))
    done = robustperf("check", sub)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{record}: manifest: its sha256 differs" in done.stdout
    assert "INVALID" in done.stderr and "(manifest)" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_removing_a_run_fails_naming_the_runs_rule(sub):
    runs = _runs(sub)
    shutil.rmtree(runs / "run_4")
    lines = _lines(sub)
    assert f"{runs / 'run_4' / 'result.json'}: manifest: listed in MANIFEST.sha256 but missing" in lines
    assert f"{runs}: runs: 4 runs, the benchmark {BENCHMARK} asks for 5 (its repeats)" in lines
    # a packager who also rewrote the manifest and submission.json still fails the runs rule
    meta = json.loads((sub / "submission.json").read_text())
    meta.update(runs=4, seeds=meta["seeds"][:4], run_ids=meta["run_ids"][:4])
    (sub / "submission.json").write_text(json.dumps(meta))
    _rehash(sub)
    assert _lines(sub) == [f"{runs}: runs: 4 runs, the benchmark {BENCHMARK} asks for 5 (its repeats)"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_run_that_overrode_a_governed_key_fails_naming_the_key_and_rule(sub):
    run = _runs(sub) / "run_1"
    data = json.loads((run / "result.json").read_text())
    data["config"]["model"]["depth"] = 16  # a deeper model than the closed division's reference model
    (run / "result.json").write_text(json.dumps(data, indent=2))
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["base"]["model"]["depth"] = 16
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    _rehash(sub)
    done = robustperf("check", sub)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"{run / 'result.json'}: division: config.model.depth = 16: closed division of {BENCHMARK} fixes " \
           "model.depth to 10 (the reference model, no extra data)" in lines, lines
    assert any(line.startswith(f"{run / 'recipe.yaml'}: recipe: does not load: ") and "model.depth" in line
               for line in lines), lines
    assert any(line.startswith(f"{run / 'result.json'}: record: run_id ") for line in lines), lines
    assert any(line.startswith(f"{_runs(sub)}: configuration: the runs are not one configuration: they differ in "
                               "config.model.depth") for line in lines), lines


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_log_of_another_run_or_an_edited_log_fails(sub):
    runs = _runs(sub)
    shutil.copyfile(runs / "run_0" / "mllog.txt", runs / "run_3" / "mllog.txt")
    log = runs / "run_2" / "mllog.txt"
    log.write_text(log.read_text().replace('"status": "success"', '"status": "aborted"'))
    _rehash(sub)
    lines = _lines(sub)
    assert any(line.startswith(f"{runs / 'run_3' / 'mllog.txt'}: mllog: run_start names run ") for line in lines)
    assert f"{log}: mlperf-compliance: failed test:  (s['run_status'] == 'success') == s['reached']" in lines


def test_nothing_to_check_is_exit_2(tmp_path):
    done = robustperf("check", tmp_path / "missing")
    assert done.returncode == 2 and done.stderr.strip() == \
        f"robustperf check: error: {tmp_path / 'missing'}: no such submission folder"
    (tmp_path / "file").write_text("x")
    assert robustperf("check", tmp_path / "file").returncode == 2


def test_an_empty_folder_is_invalid_naming_what_is_missing(tmp_path):
    done = robustperf("check", tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [f"{tmp_path / 'MANIFEST.sha256'}: manifest: missing: every file's checksum "
                                        "is listed there",
                                        f"{tmp_path / 'MANIFEST.sha256'}: layout: missing",
                                        f"{tmp_path / 'submission.json'}: layout: missing"]
