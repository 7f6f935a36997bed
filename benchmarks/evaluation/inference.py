"""What the trained model costs at inference: latency, throughput, FLOPs and energy per image.

Method as in MLPerf Inference's single-stream (batch 1 latency) and offline (throughput) scenarios
(Reddi et al., "MLPerf Inference Benchmark", ISCA 2020, https://arxiv.org/abs/1911.02549), on this process's
device: after ``warmup`` untimed passes, each timed pass is synchronised (CUDA) and timed alone, and the
percentiles are over those passes. Throughput is ``batch_size / pass time`` (p50 and p99 of the pass time: the
p99 throughput is the slow tail). Forward FLOPs come from the measurement room (DeepSpeed's profiler); energy
per 1,000 images from the energy meter's "inference" window around the throughput passes, None when the meter
cannot measure.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence

import torch

from ._meter import measure

#: Untimed passes before timing (allocator, cuDNN autotuning, caches).
WARMUP = 3
#: Timed passes, unless ``max_seconds`` runs out first (never fewer than ``MIN_REPEATS``).
REPEATS = 30
MIN_REPEATS = 5
MAX_SECONDS = 10.0


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    # Nearest rank: the p99 of 30 passes is the slowest one, never an interpolation below it.
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _timed_passes(model: torch.nn.Module, x: torch.Tensor, *, warmup: int, repeats: int,
                  max_seconds: float) -> List[float]:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        sync()
        times: List[float] = []
        deadline = time.perf_counter() + max_seconds
        while len(times) < repeats and (len(times) < MIN_REPEATS or time.perf_counter() < deadline):
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    return times


def _flops(model: torch.nn.Module, input_shape: Sequence[int]) -> Optional[int]:
    try:
        from benchmarks.measurement import forward_flops_per_sample
    except ImportError:
        return None
    return int(forward_flops_per_sample(model, tuple(input_shape))["forward_flops"])


def inference_cost(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int, meter: Any = None,
                   warmup: int = WARMUP, repeats: int = REPEATS, max_seconds: float = MAX_SECONDS,
                   count_flops: bool = True) -> Dict[str, Any]:
    """Inference cost of ``model`` on its device, timed on real test images.

    Args:
        model: the classifier, in eval mode.
        images: test images (at least one); the first ``batch_size`` form the throughput batch (repeated when
            there are fewer).
        batch_size: the throughput batch size (``evaluation.batch_size``).
        meter: energy meter; its "inference" window covers the throughput passes.
        warmup / repeats / max_seconds: untimed passes, timed passes, and the time budget of each measurement.
        count_flops: count forward FLOPs per sample (DeepSpeed's profiler).

    Returns:
        ``latency_ms_p50``, ``latency_ms_p99`` (batch 1, milliseconds); ``batch_size``, ``batch_ms_p50``,
        ``batch_ms_p99`` (one pass of the batch, ms); ``throughput_p50`` and ``throughput_p99`` (images per
        second); ``forward_flops_per_sample`` (FLOPs); ``energy_j_per_1000_images`` (joules, raw device
        energy without PUE; None when unmeasured); ``repeats_batch1``, ``repeats_batch``; ``device``.
    """
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    one = images[:1].to(device)
    batch = images[:batch_size]
    if batch.shape[0] < batch_size:
        batch = batch.repeat((-(-batch_size // batch.shape[0]),) + (1,) * (batch.dim() - 1))[:batch_size]
    batch = batch.to(device)
    latency = _timed_passes(model, one, warmup=warmup, repeats=repeats, max_seconds=max_seconds)
    with measure(meter, "inference") as span:
        passes = _timed_passes(model, batch, warmup=warmup, repeats=repeats, max_seconds=max_seconds)
    # The window also holds the warm-up passes: energy per image is over every pass in it.
    images_in_window = (warmup + len(passes)) * batch_size
    energy = None if span.energy_j is None else span.energy_j / images_in_window * 1000.0
    p50, p99 = _percentile(passes, 50), _percentile(passes, 99)
    return {
        "latency_ms_p50": 1e3 * _percentile(latency, 50), "latency_ms_p99": 1e3 * _percentile(latency, 99),
        "batch_size": int(batch_size), "batch_ms_p50": 1e3 * p50, "batch_ms_p99": 1e3 * p99,
        "throughput_p50": batch_size / p50, "throughput_p99": batch_size / p99,
        "forward_flops_per_sample": _flops(model, tuple(images.shape[1:])) if count_flops else None,
        "energy_j_per_1000_images": energy, "repeats_batch1": len(latency), "repeats_batch": len(passes),
        "device": str(device),
    }
