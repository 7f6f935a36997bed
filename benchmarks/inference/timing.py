"""Timed regions of the inference scenarios: synchronised, warmed up, repeated, with every raw sample kept.

Method as MLPerf Inference (Reddi et al., "MLPerf Inference Benchmark", ISCA 2020,
https://arxiv.org/abs/1911.02549): **SingleStream** issues one query (batch 1) at a time, the next after the
previous answered, and reports latency percentiles over at least ``min_queries`` queries and ``min_seconds``
(both minimums, as MLPerf's min query count and min duration); **Offline** sends whole batches and reports
images per second. Hygiene:

* every timed region starts and ends with a device synchronisation (``torch.cuda.synchronize`` on CUDA), so the
  clock measures finished work, not queued kernels;
* untimed warm-up passes first (allocator, cuDNN autotuning, caches, lazy quantized-kernel packing);
* percentiles are nearest-rank (the p99 of 100 queries is the 99th slowest, never an interpolation below it);
* the central figure of repeated passes is the **olympic mean** (the mean after dropping the single fastest
  and slowest pass), robust to one outlier either way; the raw per-query / per-pass seconds are returned.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch

#: Percentiles reported for SingleStream latency.
PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0 < q <= 100) of ``values`` (non-empty)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * q / 100.0))
    return ordered[min(rank, len(ordered)) - 1]


def olympic_mean(values: Sequence[float]) -> float:
    """Mean after dropping one minimum and one maximum (plain mean for fewer than 3 values)."""
    if not values:
        raise ValueError("olympic mean of no values")
    if len(values) < 3:
        return sum(values) / len(values)
    ordered = sorted(values)
    return sum(ordered[1:-1]) / (len(ordered) - 2)


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A callable waiting for all queued work on ``device`` (no-op on the CPU, whose ops are synchronous)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    sync = getattr(getattr(torch, device.type, None), "synchronize", None)
    return sync if (device.type != "cpu" and callable(sync)) else (lambda: None)


@dataclass
class Samples:
    """Raw seconds of the timed regions of one measurement and how it stopped."""

    seconds: List[float] = field(default_factory=list)
    warmup: int = 0
    wall_seconds: float = 0.0
    stopped_by: str = ""


def run_queries(fn: Callable[[], object], device: torch.device, *, warmup: int, min_queries: int,
                min_seconds: float = 0.0, max_seconds: Optional[float] = None, floor: int = 5) -> Samples:
    """Call ``fn`` (one query or one pass) repeatedly, timing each call between two synchronisations.

    Stops when both ``min_queries`` calls and ``min_seconds`` of timed work are done, or (with ``max_seconds``)
    when that budget is spent and at least ``floor`` calls are (``stopped_by`` says which).
    """
    if min_queries <= 0 and min_seconds <= 0:
        raise ValueError("need a minimum query count or a minimum duration")
    sync = synchronizer(device)
    for _ in range(warmup):
        fn()
    sync()
    out = Samples(warmup=warmup)
    clock = time.perf_counter
    begin = clock()
    while True:
        elapsed = clock() - begin
        done = len(out.seconds)
        if done >= min_queries and elapsed >= min_seconds:
            out.stopped_by = "min_queries and min_seconds reached"
            break
        if max_seconds is not None and elapsed >= max_seconds and done >= floor:
            out.stopped_by = f"max_seconds {max_seconds:g} reached"
            break
        sync()
        start = clock()
        fn()
        sync()
        out.seconds.append(clock() - start)
    out.wall_seconds = clock() - begin
    return out


def latency_summary(samples: Samples) -> Dict[str, float]:
    """SingleStream figures of per-query seconds: percentiles, olympic mean, min, max (milliseconds)."""
    s = samples.seconds
    out = {f"latency_ms_p{q}": 1e3 * percentile(s, q) for q in PERCENTILES}
    out.update({"latency_ms_olympic_mean": 1e3 * olympic_mean(s), "latency_ms_min": 1e3 * min(s),
                "latency_ms_max": 1e3 * max(s), "queries": len(s), "warmup_queries": samples.warmup,
                "timed_seconds": sum(s), "stopped_by": samples.stopped_by})
    return out


def throughput_summary(samples: Samples, batch_size: int) -> Dict[str, float]:
    """Offline figures of per-pass seconds: images/s from the olympic mean pass time, plus its spread."""
    s = samples.seconds
    mean = olympic_mean(s)
    return {"images_per_s": batch_size / mean, "images_per_s_best": batch_size / min(s),
            "images_per_s_worst": batch_size / max(s), "batch_ms_olympic_mean": 1e3 * mean,
            "batch_ms_p50": 1e3 * percentile(s, 50), "batch_ms_p99": 1e3 * percentile(s, 99), "passes": len(s),
            "warmup_passes": samples.warmup, "timed_seconds": sum(s), "stopped_by": samples.stopped_by}
