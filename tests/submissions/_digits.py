"""Real digits-linf-0.2 results for the submit/check tests: runs of the benchmark's reference recipe
(recipes/benchmark-digits-linf-0.2.yaml, closed division, stop_at_target), made by ``robustperf run`` once and
cached (tests/benchmarks/conftest.py's ``cached_run``; run 0 is the very entry tests/benchmarks/training/
test_to_target.py uses), copied into each test's folder."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from typing import Iterable

import pytest

from tests.conftest import ROOT

REFERENCE = ROOT / "recipes" / "benchmark-digits-linf-0.2.yaml"
BENCHMARK = "digits-linf-0.2"


def reference_runs(cached_run, dest: pathlib.Path, indices: Iterable[int] = range(5), *sets: str) -> pathlib.Path:
    """The reference recipe's runs ``indices`` (seeds), each cached, together in the results folder ``dest``."""
    for index in indices:
        argv = ["run", REFERENCE, "--index", str(index), "--device", "cpu", "--no-progress", "--results", dest]
        for item in sets:
            argv += ["--set", item]
        cached_run(argv)
    return dest


def robustperf(*args, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m robustperf ARGS`` in a fresh interpreter from the repository root."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    return subprocess.run([sys.executable, "-m", "robustperf", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def submit(results: pathlib.Path, out: pathlib.Path, *extra: str, division: str = "closed"):
    return robustperf("submit", results, "--benchmark", BENCHMARK, "--division", division, "--submitter",
                      "Test Lab", "-o", out, *extra)


def tree_digest(folder: pathlib.Path) -> dict:
    """{relative path: (size, mtime_ns, bytes)} of every file under ``folder`` (what 'untouched' compares)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, path.read_bytes())
    return out


@pytest.fixture(scope="session")
def five_runs(cached_run, tmp_path_factory):
    """The reference recipe's 5 seeds (the benchmark's repeats) in one results folder, trained once and cached
    (import it with ``cached_run`` into the test module)."""
    return reference_runs(cached_run, tmp_path_factory.mktemp("five") / "results")
