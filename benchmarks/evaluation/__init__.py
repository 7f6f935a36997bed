"""The evaluation workload: clean, robust (``evaluation.attack``, PGD by default) and AutoAttack accuracy and
inference cost, resumable.

:func:`evaluate` measures a model and returns the record groups it fills; :func:`evaluate_run` does it for a run
folder and writes the record (``robustperf evaluate``). AutoAttack runs through :mod:`benchmarks.autoattack`
(one adapter keeping a batch-level state file per run and checkpoint), re-exported here. :func:`confirm_target`
confirms a benchmark run's target checkpoint on the test set (``to_target.confirmation``).
"""
from ..autoattack import (CI_METHOD, NORMS, AutoAttackAdapter, AutoAttackResult, PerturbationError, run_autoattack,
                          wilson_interval)
from ..interruption import EvaluationInterrupted
from .accuracy import clean_correct, pgd_correct
from .confirm import confirm_target
from .evaluate import EvaluationError, apply_overrides, evaluate, evaluate_run, evaluation_dir
from .inference import inference_cost

__all__ = [
    "EvaluationInterrupted", "clean_correct", "pgd_correct", "CI_METHOD", "NORMS", "AutoAttackAdapter",
    "AutoAttackResult", "PerturbationError", "run_autoattack", "wilson_interval", "EvaluationError",
    "apply_overrides", "evaluate", "evaluate_run", "evaluation_dir", "inference_cost", "confirm_target",
]
