"""The suite's AutoAttack evaluation against pyautoattack called directly (issue 5; target <= 1.02).

Same model (the small digits CNN of the evaluation tests, trained here in about a second), same points, same
batch size, standard version: ``benchmarks.evaluation.run_autoattack`` with its state file against
``AutoAttack.run_standard_evaluation``, interleaved (the order alternates between repeats), one intra-op thread
(two threads spin-wait on a shared 2-core machine). The figure is the median of the per-pair time ratios; the
robust points must be identical in every pair.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import statistics
import tempfile
import time

from tests.bench.bench_harness import one_thread

N = 64
BATCH_SIZE = 32
EPS = 0.1
REPEATS = 5


def _train():
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "_evaluation_model.py"
    spec = importlib.util.spec_from_file_location("_evaluation_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.train_small_cnn()


def run() -> dict:
    return one_thread(_run)


def _run() -> dict:
    import torch
    from pyautoattack import AutoAttack

    from benchmarks.datasets import load_dataset
    from benchmarks.evaluation import run_autoattack

    model = _train()
    x, y = load_dataset("digits", "test")
    x, y = x[:N], y[:N]

    def direct():
        aa = AutoAttack(model, eps=EPS, norm="Linf", version="standard", seed=0)
        _, y_adv = aa.run_standard_evaluation(x, y, batch_size=BATCH_SIZE)
        return y_adv.eq(y)

    def suite(folder):
        state = os.path.join(folder, "autoattack-state.json")
        return run_autoattack(model, x, y, eps=EPS, version="standard", seed=0, batch_size=BATCH_SIZE,
                              state_path=state).robust_flags

    ratios, identical = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEATS):
            times, flags = {}, {}
            for name in (("suite", "direct") if i % 2 == 0 else ("direct", "suite")):
                start = time.perf_counter()
                flags[name] = suite(os.path.join(tmp, str(i))) if name == "suite" else direct()
                times[name] = time.perf_counter() - start
            ratios.append(times["suite"] / times["direct"])
            identical = identical and bool(torch.equal(flags["suite"], flags["direct"]))
    return {"autoattack_wrapper_ratio": round(statistics.median(ratios), 4), "autoattack_identical": identical}


if __name__ == "__main__":
    print(run())
