"""Launcher test set-up: a real one-node SLURM cluster (session-scoped), helpers to run generated scripts.

The cluster is the one already answering ``sinfo``, else one started with ``.ci/slurm-up`` (and stopped at
the end). Without SLURM the SLURM tests are skipped with the reason, except under ``CI=true``, where a
missing cluster fails them: CI must exercise the real scheduler.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from launchers import get_executor
from recipes import catalog

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"


def _node_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and any(s.strip().rstrip("*") in ("idle", "mix", "alloc")
                                         for s in proc.stdout.split())


@pytest.fixture(scope="session")
def slurm_cluster():
    """A SLURM cluster that accepts jobs; yields ``scontrol show config`` as text."""
    started = False
    if not _node_up():
        up = ROOT / ".ci" / "slurm-up"
        reason = None
        if not os.access(up, os.X_OK):
            reason = f"{up} is missing"
        elif os.geteuid() != 0 and not shutil.which("slurmctld"):
            reason = "SLURM is not installed and installing it needs root"
        else:
            proc = subprocess.run([str(up)], capture_output=True, text=True, timeout=600)
            if proc.returncode != 0 or not _node_up():
                reason = f".ci/slurm-up failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
            else:
                started = True
        if reason:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true and SLURM cannot run: {reason}")
            pytest.skip(f"no SLURM cluster: {reason}")
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    yield config
    if started:
        subprocess.run([str(ROOT / ".ci" / "slurm-down")], capture_output=True, timeout=120)


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with tests/launchers/golden/<name>; ``UPDATE_GOLDEN=1`` rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept a change)"


def recorder(tmp_path: pathlib.Path) -> pathlib.Path:
    """An executable that appends its argv and cwd (JSON, one line) to $RECORD_TO: the task in script tests."""
    path = tmp_path / "recorder.py"
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "with open(os.environ['RECORD_TO'], 'a') as fh:\n"
        "    fh.write(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd()}) + '\\n')\n")
    path.chmod(0o755)
    return path


def pending_signals(pid: int) -> int:
    """Bit mask of the signals pending for process ``pid`` (bit n-1 for signal n), from /proc."""
    mask = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("SigPnd:", "ShdPnd:")):
                mask |= int(line.split()[1], 16)
    return mask


def executor_names():
    """Every registered executor (parametrise over it: a new backend is covered by registering it)."""
    return list(catalog.names("executors"))


def script_executor_names():
    """The executors that submit job scripts to a queue (all but those that run the tasks here)."""
    return [name for name in catalog.names("executors") if not get_executor(name).runs_here]


def task_env(scheduler: str, position: int, job_id: str = "4242") -> dict:
    """This environment plus what ``scheduler`` sets in task ``position`` of an array job (to run its script)."""
    return dict(os.environ, **get_executor(scheduler).task_environment(job_id, position))
