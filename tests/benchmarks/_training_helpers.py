"""Helpers of the training tests: one CPU thread per test, and `robustperf run` as a process."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def one_thread():
    # Tests share a small machine; one thread each is faster than oversubscribed cores, and deterministic.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_cli(args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -m robustperf ARGS`` from the repository root, one thread, no terminal."""
    full_env = dict(os.environ)
    full_env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
                     "WANDB_MODE": "disabled"})
    full_env.pop("ROBUSTPERF_TEST_INTERRUPT", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "robustperf", *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
