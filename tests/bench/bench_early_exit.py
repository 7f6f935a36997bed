"""Batched early-exit inference against batch-1 early exit (issue 15; target >= 10x).

Same model (an untrained SDN-WRN-16-1 on 8x8 inputs: the timing does not depend on the weights, only on where
samples exit), same points, same thresholds: :func:`benchmarks.slowdown.exits.early_exit_batched` (batch 250,
samples leave the batch at their exit) against :func:`early_exit_single` (one sample at a time, the paper's
evaluation), interleaved, one intra-op thread. The threshold is the median first-exit confidence, so samples
spread over the exits. The figure is the median of the per-pair time ratios (batch-1 / batched); the exits must
be identical in every pair.
"""
from __future__ import annotations

import statistics
import time

from tests.bench.bench_harness import one_thread

N = 500
REPEATS = 3


def run() -> dict:
    return one_thread(_run)


def _run() -> dict:
    import torch

    from benchmarks.models.sdn import create_sdn
    from benchmarks.slowdown.exits import all_exit_logits, early_exit_batched, early_exit_single, exit_score

    torch.manual_seed(0)
    model = create_sdn("sdn_wrn", depth=16, width=1, in_chans=1, input_size=8).eval()
    x = torch.rand(N, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    scores = exit_score(all_exit_logits(model, x), "confidence")
    tau = float(scores[0].median())
    ratios, identical = [], True
    for i in range(REPEATS):
        times, exits = {}, {}
        for name in (("batched", "single") if i % 2 == 0 else ("single", "batched")):
            start = time.perf_counter()
            exits[name] = (early_exit_batched(model, x, "confidence", tau, batch_size=250) if name == "batched"
                           else early_exit_single(model, x, "confidence", tau))[0]
            times[name] = time.perf_counter() - start
        ratios.append(times["single"] / times["batched"])
        identical = identical and bool(torch.equal(exits["single"], exits["batched"]))
    return {"early_exit_batched_speedup": round(statistics.median(ratios), 2), "early_exit_identical": identical}


if __name__ == "__main__":
    print(run())
