"""The inference workload: MLPerf-style SingleStream and Offline scenarios at fp32, bf16, fp16 and int8.

``robustperf infer RUN_DIR`` (:mod:`benchmarks.cli_infer`) runs :func:`benchmark_inference` on a trained run and
writes the record's ``evaluation.inference`` section. Precisions are plug-ins (:mod:`.precisions`); timing
hygiene lives in :mod:`.timing`.
"""
from .benchmark import (FAILED, MEASURED, REFERENCE, UNSUPPORTED, AttackSetup, InferSettings, Outcome, accuracy,
                        benchmark_inference, offline, single_stream)
from .precisions import (AutocastModel, Prepared, Unsupported, get_precision, list_precisions, quantized_engine,
                         register_precision)
from .timing import olympic_mean, percentile

__all__ = ["FAILED", "MEASURED", "REFERENCE", "UNSUPPORTED", "AttackSetup", "InferSettings", "Outcome", "accuracy",
           "benchmark_inference", "offline", "single_stream", "AutocastModel", "Prepared", "Unsupported",
           "get_precision", "list_precisions", "quantized_engine", "register_precision", "olympic_mean",
           "percentile"]
