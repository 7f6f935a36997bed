"""Overhead of ``robustperf infer``'s SingleStream (issue 14; target <= 1.05): the suite's p50 latency / a bare
``torch.inference_mode()`` loop's p50 on the same model and queries.

Both arms time WRN-16-1 on batch-1 3x32x32 queries on the CPU with one intra-op thread, each query between two
``perf_counter`` reads. Suite arm: :func:`benchmarks.inference.single_stream` on the fp32 precision plug-in
(wrapper module, energy-meter window, synchronisation hooks, warm-up); bare arm: the textbook loop. The arms
alternate (the order flips each pair) and the figure is the median over pairs of the p50 ratio, so machine-load
drift cancels within a pair: short arms, many pairs (with 7 pairs of 200 queries, single pairs ranged 0.79-1.07
on a loaded 2-core machine and the median missed by noise). Set ``BENCH_INFER_PAIRS`` for more pairs.
"""
from __future__ import annotations

import os
import statistics
import time

from tests.bench.bench_harness import one_thread

PAIRS = int(os.environ.get("BENCH_INFER_PAIRS", "25"))
QUERIES = 50
WARMUP = 10


def run() -> dict:
    return one_thread(_run)


def _run() -> dict:
    import torch

    from benchmarks.inference import InferSettings, get_precision, percentile, single_stream
    from benchmarks.models import WideResNet

    torch.manual_seed(0)
    model = WideResNet(depth=16, width=1, num_classes=10, in_chans=3).eval()
    images = torch.rand(QUERIES, 3, 32, 32)
    prepared = get_precision("fp32")(model, torch.device("cpu"), images)
    settings = InferSettings(warmup=WARMUP, queries=QUERIES)
    queries = [images[i:i + 1] for i in range(QUERIES)]

    def bare():
        times = []
        with torch.inference_mode():
            for q in queries[:WARMUP]:
                model(q)
            for q in queries:
                start = time.perf_counter()
                model(q)
                times.append(time.perf_counter() - start)
        return percentile(times, 50)

    def suite():
        return single_stream(prepared, images, settings)[0]["latency_ms_p50"] / 1e3

    ratios, p50 = [], {}
    for i in range(PAIRS):
        order = ("suite", "bare") if i % 2 == 0 else ("bare", "suite")
        for name in order:
            p50[name] = suite() if name == "suite" else bare()
        ratios.append(p50["suite"] / p50["bare"])
    return {"infer_overhead_ratio": statistics.median(ratios), "infer_bare_p50_ms": 1e3 * p50["bare"]}
