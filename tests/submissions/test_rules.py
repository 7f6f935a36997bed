"""The suite's ruleset for MLPerf's official log checker (submissions/rules/common.yaml): the official checker,
run as its own command (``python -m mlperf_logging.compliance_checker --config <ruleset>``), passes a real digits
benchmark run's log with no failure and no warning, and again after ``robustperf evaluate`` rewrote the log; it
fails logs that break its rules; its MLPerf part is MLPerf Training 6.1.0's common rules but for the changes the
file names."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from submissions.compliance import RULES, RULESET, check_log
from tests.benchmarks.conftest import cached_run  # noqa: F401 - the cached trained runs (a session fixture)
from tests.submissions._digits import reference_runs, robustperf

#: MLPerf's rules our ruleset changes, and how (tests the file's own header)
CHANGED = {"BEGIN": "CODE", "submission_division": "POST", "run_stop": ("CHECK", "POST"),
           "eval_accuracy": ("CHECK", "POST")}


def official(log, tmp_path, rules=RULES):
    """MLPerf's checker as a process: (exit code, its output)."""
    cmd = [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training", "--ruleset", RULESET,
           "--config", str(rules), "--log_output", str(tmp_path / "checker.log"), str(log)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def assert_passes(log, tmp_path):
    code, out = official(log, tmp_path)
    assert code == 0 and "SUCCESS" in out, out
    assert not [line for line in out.splitlines() if line.startswith(("WARNING", "ERROR"))], out
    assert check_log(str(log)) == []


@pytest.fixture
def run_dir(cached_run, tmp_path):  # noqa: F811 - the imported fixture
    """A real run of the benchmark's reference recipe (seed 0; cached), in the test's folder."""
    results = reference_runs(cached_run, tmp_path / "results", [0])
    (run,) = [p for p in results.iterdir() if p.is_dir()]
    return run


@pytest.mark.timeout(600)
def test_the_official_checker_passes_a_real_benchmark_runs_log(run_dir, tmp_path):
    assert_passes(run_dir / "mllog.txt", tmp_path)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("edit, finding", [
    (lambda t: t.replace('"status": "success"', '"status": "aborted"'),
     "(s['run_status'] == 'success') == s['reached']"),
    (lambda t: "\n".join(l for l in t.splitlines() if '"submission_benchmark"' not in l) + "\n",
     "Required EXACTLY_ONE occurrence of 'submission_benchmark' but found 0"),
    (lambda t: t.replace('"key": "robustperf_target", "value": 50.0', '"key": "robustperf_target", "value": 101.0'),
     "failed test:  isinstance(v['value'], (int, float)) and 0.0 <= v['value'] <= 100.0"),
], ids=["success-without-target", "no-benchmark", "target-not-a-percentage"])
def test_the_ruleset_fails_a_log_that_breaks_it(run_dir, tmp_path, edit, finding):
    log = tmp_path / "edited.txt"
    log.write_text(edit((run_dir / "mllog.txt").read_text()))
    code, out = official(log, tmp_path)
    assert code == 1 and "FAILED" in out and finding in out, out
    assert any(finding.split(":")[-1].strip() in f for f in check_log(str(log))), check_log(str(log))


def test_the_mlperf_part_is_mlperfs_common_rules_but_for_the_named_changes():
    import mlperf_logging.compliance_checker as checker

    theirs_path = os.path.join(os.path.dirname(checker.__file__), f"training_{RULESET}", "common.yaml")
    theirs = _by_name(yaml.load(open(theirs_path), Loader=yaml.BaseLoader))
    ours = _by_name(yaml.load(open(RULES), Loader=yaml.BaseLoader))
    for name, rule in theirs.items():
        assert name in ours, f"MLPerf's rule {name} is missing"
        changed = CHANGED.get(name, ())
        changed = (changed,) if isinstance(changed, str) else changed
        same = {k: v for k, v in rule.items() if k not in changed}
        assert {k: v for k, v in ours[name].items() if k not in changed} == same, name
    # the one change MLPerf's own rules cannot allow: no enqueue of MLPerf's benchmark-name rules
    assert "enqueue_config" in theirs["submission_division"]["POST"]
    assert "enqueue_config" not in open(RULES).read().split("- BEGIN:")[1]
    added = set(ours) - set(theirs)
    assert added == {"submission_benchmark", "submission_status", "robustperf_target", "seed", "global_batch_size",
                     "gradient_accumulation_steps", "END"}


def _by_name(rules):
    out = {}
    for rule in rules:
        (kind, body), = rule.items()
        out[body["NAME"] if kind == "KEY" else kind] = body
    return out


@pytest.mark.timeout(900)
@pytest.mark.slow  # a real evaluate (~15 s)
def test_the_official_checker_passes_the_log_after_robustperf_evaluate_rewrites_it(run_dir, tmp_path):
    run = run_dir  # the test's own copy
    before = (run / "mllog.txt").read_text()
    done = robustperf("evaluate", run, "--which", "last", "--set", "evaluation.pgd_steps=1", "--fresh",
                      "--device", "cpu", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    after = (run / "mllog.txt").read_text()
    assert after != before and after.count('"key": "run_stop"') == 1
    assert_passes(run / "mllog.txt", tmp_path)
