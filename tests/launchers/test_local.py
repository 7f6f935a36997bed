"""The local backend: K runs at a time, a log file per run, Ctrl-C stops cleanly and a relaunch resumes."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from launchers import TaskCommand
from launchers.local import LocalExecutor
from launchers.plan import plan_launch
from launchers.status import collect_status
from recipes import load_recipe
from results import load_record

from tests.launchers.conftest import pending_signals

FAST = ["training.epochs=2", "attack.steps=1", "evaluation.autoattack=null", "evaluation.pgd_steps=2",
        "training.select_subset=64", "training.select_pgd_steps=2"]


def test_runs_k_at_a_time_with_a_log_per_run(tmp_path):
    spans = tmp_path / "spans"
    spans.mkdir()
    code = ("import os, sys, time; i = sys.argv[3]; t0 = time.time(); time.sleep(0.6); print('run', i); "
            "open(os.path.join(sys.argv[1], i), 'w').write(f'{t0} {time.time()}'); sys.exit(int(i) == 4)")
    ex = LocalExecutor(str(tmp_path / "launch"), TaskCommand(before=(sys.executable, "-c", code, str(spans))))
    ex.update_parameters(max_parallel=2)
    (job,) = ex.map_array([0, 1, 2, 3, 4])
    assert job.returncodes == {0: 0, 1: 0, 2: 0, 3: 0, 4: 1}
    intervals = [tuple(map(float, (spans / str(i)).read_text().split())) for i in range(5)]
    for t, _ in intervals:
        assert sum(start <= t < end for start, end in intervals) <= 2  # never more than K at once
    assert max(sum(start <= t < end for start, end in intervals) for t, _ in intervals) == 2
    for i in range(5):
        assert (pathlib.Path(ex.log_path(i)).read_text().strip() == f"run {i}")


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_ctrl_c_checkpoints_and_relaunch_resumes(tmp_path, tiny_recipe):
    """The real CLI on the tiny recipe: Ctrl-C during training, every run checkpoints; launch again finishes.

    Each run is frozen (SIGSTOP) once its first checkpoint is written, so that Ctrl-C finds both still
    training whatever this machine's speed; they are thawed once the launcher's SIGTERM is pending."""
    overrides = [*FAST, "training.epochs=3"]
    sets = [a for o in overrides for a in ("--set", o)]
    results = tmp_path / "results"
    recipe = load_recipe(str(tiny_recipe), overrides)
    argv = [sys.executable, "-m", "robustperf", "launch", str(tiny_recipe), "--scheduler", "local", "--results",
            str(results), "--max-parallel", "2", *sets]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = {}
    try:
        deadline = time.monotonic() + 300
        while len(pids) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "timed out waiting for the first checkpoints"
            for spec in recipe.runs():
                if spec.run_id not in pids and (results / spec.run_id / "checkpoint-last.pt").exists():
                    pids[spec.run_id] = pid = int(load_record(str(results), spec.run_id)["job"]["pid"])
                    os.kill(pid, signal.SIGSTOP)
            time.sleep(0.1)
        status = collect_status(str(results), recipe.runs(), {})
        assert [r.status for r in status.runs] == ["running", "running"]
        assert all(r.note is None for r in status.runs)  # their pids are alive
        plan = plan_launch(recipe.runs(), str(results), {}, "local")
        assert plan.submit == [] and len(plan.in_flight) == 2  # a second launch would not duplicate them

        proc.send_signal(signal.SIGINT)
        # thawed once the launcher's SIGTERM is pending for every run (seen in /proc); should /proc not show it
        # within a minute (seen once in CI), they are thawed anyway and the checks below judge the outcome: a run
        # that never got SIGTERM trains to the end and is "completed", not "preempted"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                pending_signals(pid) & (1 << (signal.SIGTERM - 1)) for pid in pids.values()):
            time.sleep(0.2)
    finally:
        for pid in pids.values():
            os.kill(pid, signal.SIGCONT)
    # One Ctrl-C only: a second one means "kill the runs now" and would race their checkpoints.
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Launch again to resume" in err
    for spec in recipe.runs():
        record = load_record(str(results), spec.run_id)
        assert record["status"] == "preempted", record["failure_reason"]  # stopped, checkpointed, not failed
        assert record["training"]["epochs_completed"] < 3
        assert not os.path.exists(f"/proc/{pids[spec.run_id]}")  # the children are gone, not orphaned
    logs = sorted(results.glob("_launch/*/logs/*.log"))
    assert [p.name for p in logs] == ["run-0.log", "run-1.log"]
    for log in logs:  # each child got SIGTERM from the launcher and checkpointed
        assert "stopped by signal 15" in log.read_text() and "checkpoint saved" in log.read_text()

    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "2 interrupted (resumed)" in again.stderr
    for spec in recipe.runs():
        record = load_record(str(results), spec.run_id)
        assert record["status"] == "completed", record["failure_reason"]
        assert record["job"]["attempts"] == 2 and record["training"]["epochs_completed"] == 3

    status = subprocess.run([sys.executable, "-m", "robustperf", "status", str(results), "--json"],
                            capture_output=True, text=True, check=True)
    assert json.loads(status.stdout)["counts"] == {"completed": 2, "failed": 0, "running": 0, "pending": 0}
