"""The evaluation's quick inference measurement: fp32 SingleStream and Offline, in the record's inference shape.

``robustperf evaluate`` measures the trained model at fp32 only, on a small budget (a few dozen queries, at
most ``MAX_SECONDS`` per scenario), with the same code and output keys as ``robustperf infer``
(:mod:`benchmarks.inference`), which measures every precision with MLPerf-sized query counts and accuracy per
precision. Both write ``evaluation.inference`` = ``{"setup": {...}, "fp32": {"SingleStream": {...},
"Offline": {...}, ...}}``; a section written by ``robustperf infer`` is kept when ``evaluate`` runs later.
"""
from __future__ import annotations

from typing import Any, Dict

import torch

from ..datasets.evalset import as_eval_set
from ..inference import InferSettings, benchmark_inference

__all__ = ["COMMAND", "inference_cost"]

#: Untimed queries / passes before timing.
WARMUP = 3
#: SingleStream queries and Offline passes, unless ``max_seconds`` runs out first (then at least 5 / 3).
QUERIES = 30
PASSES = 10
MAX_SECONDS = 10.0
COMMAND = "robustperf evaluate (fp32 only; robustperf infer measures every precision)"


def inference_cost(model: torch.nn.Module, images: Any, *, batch_size: int, meter: Any = None,
                   warmup: int = WARMUP, queries: int = QUERIES, passes: int = PASSES,
                   max_seconds: float = MAX_SECONDS, count_flops: bool = True) -> Dict[str, Any]:
    """fp32 inference cost of ``model`` on its device, timed on real test images.

    Args:
        model: the classifier, in eval mode.
        images: test images (at least one; a :class:`benchmarks.datasets.EvalSet` or a tensor): SingleStream
            queries and the Offline batch (repeated when fewer); only the first ones a scenario reads are loaded.
        batch_size: the Offline batch size (``evaluation.batch_size``).
        meter: energy meter; each scenario is one "inference" window.
        warmup / queries / passes / max_seconds: untimed calls, timed SingleStream queries, timed Offline
            passes, and the time budget of each measurement.
        count_flops: count forward FLOPs per image (DeepSpeed's profiler).

    Returns:
        The ``evaluation.inference`` section: ``setup`` and ``fp32`` with ``SingleStream`` (``latency_ms_p50``,
        ``..._p90``, ``..._p99``, ``energy_j_per_image``, ...) and ``Offline`` (``images_per_s``, ...); see
        :func:`benchmarks.inference.benchmark_inference`.
    """
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    settings = InferSettings(precisions=("fp32",), batch_sizes=(int(batch_size),), warmup=warmup, queries=queries,
                             passes=passes, max_seconds=max_seconds, autoattack=None, accuracy_n=None)
    test = as_eval_set(images)
    outcome = benchmark_inference(model, test, test.head(1).tensors()[0], settings, device=device, meter=meter,
                                  attack=None, count_flops=count_flops, measure_accuracy=False)
    outcome.section["setup"]["command"] = COMMAND
    return outcome.section
