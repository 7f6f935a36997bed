"""Compatibility only: the folder datasets live in :mod:`benchmarks.datasets.folders` and
:mod:`benchmarks.datasets.streamed`; import from there (kept while ``benchmarks/training/trainer.py`` and tests of
other rooms import these names from here)."""
from .datasets.splits import split_validation
from .datasets.streamed import FolderBatches, FolderSet

__all__ = ["FolderBatches", "FolderSet", "split_validation"]
