"""Compatibility only: the datasets live in :mod:`benchmarks.datasets` (one module per concept); import from there.

Kept while modules of other rooms (``benchmarks/training/trainer.py``, ``benchmarks/slowdown/run.py``) and their
tests import these names from here. ``FOLDER_DATASETS`` is derived from the catalog (the streamed datasets and
their native image size); prefer ``get_dataset(name).streamed`` or ``get_dataset(name).train_batches(...)``.
"""
from recipes import catalog

from .datasets.base import DataError, DatasetInfo, dataset_info, get_dataset, load_dataset, load_raw, split_size
from .datasets.batches import TrainBatches
from .datasets.seeds import seed_of
from .datasets.splits import holdout_split
from .datasets.synthetic import load_synthetic
from .datasets.transforms import augment

__all__ = ["FOLDER_DATASETS", "DataError", "DatasetInfo", "TrainBatches", "augment", "dataset_info", "get_dataset",
           "holdout_split", "load_dataset", "load_raw", "load_synthetic", "seed_of", "split_size"]

FOLDER_DATASETS = {e.name: e.image_size for e in catalog.entries("datasets").values() if e.streamed}
