"""Datasets (``data.name``): one registry, the ``datasets`` plug-ins of :mod:`recipes.catalog` (the built-ins are
declared in :mod:`.catalog`), on the interface of :mod:`.base`. No network access, ever.

* :mod:`.base`: :class:`Dataset` (the plug-in interface), :class:`DatasetInfo`, :class:`DataError`,
  :func:`get_dataset` and the by-name functions (:func:`load_dataset`, :func:`eval_set`, ...);
* :mod:`.evalset`: :class:`EvalSet`, the batched interface every evaluation reads a split through;
* the families: :mod:`.memory` (splits held as tensors: :mod:`.digits`, :mod:`.cifar`) and :mod:`.folders`
  (image folders streamed from disk by :mod:`.streamed`: Tiny ImageNet, ImageNet-style folders);
* the training stream: :mod:`.batches` (:class:`TrainBatches`), :mod:`.transforms`, :mod:`.splits` (hold-outs),
  :mod:`.synthetic` (generated data mixed into batches), :mod:`.seeds` (every draw seeded).

Importing this package is cheap (the catalog module beside it imports no torch): names load on first use.
"""
from robustperf_lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "SPLITS": ".base", "DataError": ".base", "Dataset": ".base", "DatasetInfo": ".base", "dataset_info": ".base",
    "eval_set": ".base", "get_dataset": ".base", "load_dataset": ".base", "load_raw": ".base",
    "split_size": ".base",
    "TrainBatches": ".batches",
    "EvalSet": ".evalset", "TensorSet": ".evalset", "as_eval_set": ".evalset", "tensor_digest": ".evalset",
    "FolderDataset": ".folders", "InMemoryDataset": ".memory",
    "generator": ".seeds", "seed_of": ".seeds",
    "HOLDOUT_SEED": ".splits", "holdout_split": ".splits", "split_validation": ".splits",
    "FolderBatches": ".streamed", "FolderSet": ".streamed",
    "load_synthetic": ".synthetic",
    "augment": ".transforms",
})
