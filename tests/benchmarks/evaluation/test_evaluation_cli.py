"""``robustperf evaluate RUN_DIR`` on a run trained by the real ``robustperf run`` (one short epoch on digits):
the record is filled and written, a SIGTERM mid-AutoAttack exits 143 and the rerun completes, mistakes exit 2."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

import robustperf
from benchmarks.interruption import TEST_INTERRUPT_ENV
from tests.conftest import ROOT

CHEAP = ["--set", "evaluation.autoattack=[apgd-ce]", "--set", "evaluation.autoattack_n=16",
         "--set", "evaluation.pgd_steps=2"]


def _robustperf(*args, env=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "robustperf.py"), *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def run_dir(cached_run, tmp_path_factory):
    """A WRN-10-1 adversarially trained for one epoch on digits by `robustperf run --no-eval` (cached; each test
    gets its own copy)."""
    results = tmp_path_factory.mktemp("results")
    cached_run(["run", str(ROOT / "recipes" / "tiny-digits.yaml"), "--index", "0", "--results",
                str(results), "--no-eval", "--no-flops", "--no-progress", "--set", "training.epochs=1",
                "--set", "training.warmup_epochs=0", "--set", "attack.steps=1",
                "--set", "training.select_subset=64"])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def _record(run_dir):
    return json.loads((run_dir / "result.json").read_text())


@pytest.mark.slow  # a real run, then evaluate killed by SIGTERM and resumed (~25 s)
def test_evaluate_fills_the_record_and_resumes_after_sigterm(run_dir):
    before = _record(run_dir)
    assert before["accuracy"]["clean"] is None
    stopped = _robustperf("evaluate", str(run_dir), *CHEAP, env={TEST_INTERRUPT_ENV: "apgd-ce:1:TERM"})
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "interrupted by SIGTERM" in stopped.stderr and "rerun to continue" in stopped.stderr
    assert _record(run_dir)["accuracy"]["clean"] is None  # nothing half-written into the record

    done = _robustperf("evaluate", str(run_dir), *CHEAP)
    assert done.returncode == 0, done.stderr
    record = _record(run_dir)
    acc = record["accuracy"]
    assert acc["clean_n"] == acc["pgd_n"] == 360 and acc["autoattack_n"] == 16 and acc["which"] == "best"
    assert 0.0 <= acc["pgd"] <= acc["clean"] <= 100.0
    assert acc["autoattack"] <= acc["per_attack"]["clean"] and list(acc["per_attack"]) == ["clean", "apgd-ce"]
    assert 0.0 < acc["max_perturbation"] <= 0.1 + 1e-5
    assert record["timing"]["attack_seconds"] > 0 and record["timing"]["eval_seconds"] > 0
    assert record["evaluation"]["autoattack_version"] == "custom"
    assert record["evaluation"]["inference"]["setup"]["flops_per_image"] > 0
    assert record["evaluation"]["inference"]["fp32"]["SingleStream"]["latency_ms_p50"] > 0
    assert any("--set evaluation.autoattack=[apgd-ce]" in w for w in record["evaluation"]["warnings"])
    assert record["training"] == before["training"] and record["config"] == before["config"]
    state = json.loads((run_dir / "evaluation" / "best" / "autoattack-state.json").read_text())
    assert state["sessions"] == 2 and state["finished"]
    assert f"{acc['autoattack']:.2f}%" in done.stdout


def test_evaluate_reports_mistakes_with_exit_2(run_dir, tmp_path, capsys):
    assert robustperf.main(["evaluate", str(tmp_path)]) == 2
    assert "no result.json" in capsys.readouterr().err
    assert robustperf.main(["evaluate", str(run_dir), "--set", "model.depth=16"]) == 2
    assert "only evaluation.* and measurement.*" in capsys.readouterr().err
    assert robustperf.main(["evaluate", str(run_dir), "--set", "evaluation.autoattack=strong"]) == 2
    assert "not an AutoAttack version" in capsys.readouterr().err
    no_last = tmp_path / run_dir.name
    no_last.mkdir()
    (no_last / "result.json").write_text((run_dir / "result.json").read_text())
    assert robustperf.main(["evaluate", str(no_last), "--which", "last"]) == 2
    assert "checkpoint-last.pt does not exist" in capsys.readouterr().err
