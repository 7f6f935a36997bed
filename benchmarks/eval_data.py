"""Compatibility only: the evaluation data interface lives in :mod:`benchmarks.datasets.evalset` (and
:func:`benchmarks.datasets.eval_set`); import from there (kept while ``benchmarks/training/trainer.py`` imports these
names from here)."""
from .datasets.base import eval_set
from .datasets.evalset import EvalSet, TensorSet, as_eval_set, tensor_digest

__all__ = ["EvalSet", "TensorSet", "as_eval_set", "eval_set", "tensor_digest"]
