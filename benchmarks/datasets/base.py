"""The dataset plug-in interface and the shared types: :class:`Dataset`, :class:`DatasetInfo`, :class:`DataError`.

A dataset (``data.name``) is declared once by a :class:`recipes.catalog.DatasetEntry` (the built-ins' in
:mod:`.catalog`: classes, native image size, channels, whether it needs ``data.root``, whether it is streamed)
whose ``impl`` names a :class:`Dataset` subclass; :func:`get_dataset` builds it from its entry. Two families
implement the interface:

* in memory (:class:`benchmarks.datasets.memory.InMemoryDataset`: digits, CIFAR-10/100): a split is a uint8
  tensor; the subclass reads it (:meth:`Dataset.read`), the family gives the evaluation set and the batch stream;
* streamed (:class:`benchmarks.datasets.folders.FolderDataset`: Tiny ImageNet, image folders): a split is a
  list of image files decoded batch by batch; the subclass lists them, the family decodes and streams them.

Every caller goes through this interface (or the by-name functions below); none branches on a dataset's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import torch

from recipes import catalog
from recipes.errors import UserError

from .evalset import EvalSet

__all__ = ["SPLITS", "DataError", "Dataset", "DatasetInfo", "dataset_info", "eval_set", "get_dataset",
           "load_dataset", "load_raw", "split_size"]

#: The splits every dataset has (``test`` is the validation folder of image-folder datasets).
SPLITS = ("train", "test")

Raw = Tuple[torch.Tensor, torch.Tensor, int]


class DataError(UserError):
    """A dataset that is missing or not in the expected format."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model is built for: classes, channels, image side, and the per-channel statistics it normalises
    its inputs with."""

    name: str
    num_classes: int
    in_chans: int
    size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]


class Dataset:
    """One dataset, built from its catalog entry (``self.entry``: the facts; this class: the code).

    Subclasses set :attr:`mean` / :attr:`std` and implement :meth:`read`; the families
    (:class:`~benchmarks.datasets.memory.InMemoryDataset`, :class:`~benchmarks.datasets.folders.FolderDataset`)
    implement :meth:`eval_set` and :meth:`train_batches`.
    """

    #: per-channel mean and standard deviation of the images in [0, 1]
    mean: Tuple[float, ...] = ()
    std: Tuple[float, ...] = ()
    #: stored images divided by ``scale`` are in [0, 1]
    scale: int = 255

    def __init__(self, entry: catalog.DatasetEntry):
        self.entry = entry

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def streamed(self) -> bool:
        """Decoded from files batch by batch (``data.image_size`` and ``data.num_workers`` apply)."""
        return self.entry.streamed

    def num_classes(self, root: Optional[str] = None) -> int:
        return int(self.entry.num_classes)

    def info(self, root: Optional[str] = None, image_size: Optional[int] = None) -> DatasetInfo:
        """Classes, channels, image side and statistics (``image_size`` matters for streamed datasets only)."""
        return DatasetInfo(self.name, self.num_classes(root), self.entry.channels, self.entry.image_size,
                           tuple(self.mean), tuple(self.std))

    def load(self, split: str, root: Optional[str] = None, image_size: Optional[int] = None,
             limit: Optional[int] = None) -> Raw:
        """A split as stored: ``(images uint8 NxCxHxW, labels int64, scale)``; ``images / scale`` is in [0, 1].

        ``limit`` keeps the first images only (a streamed dataset decodes no more).

        Raises:
            DataError: unknown split, missing or malformed files.
        """
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        return self.read(split, root, image_size, limit)

    def read(self, split: str, root: Optional[str], image_size: Optional[int], limit: Optional[int]) -> Raw:
        """:meth:`load` of a valid split."""
        raise NotImplementedError

    def split_size(self, split: str, root: Optional[str] = None) -> int:
        """Images in a split."""
        return len(self.load(split, root)[1])

    def eval_set(self, data: Any, split: str = "test", limit: Optional[int] = None) -> EvalSet:
        """The points of ``split`` for the dataset that ``data`` (a DataConfig: ``root``, ``image_size``,
        ``num_workers``) describes; ``limit`` keeps the first points only."""
        raise NotImplementedError

    def train_batches(self, data: Any, *, seed: int, rank: int = 0, world_size: int = 1,
                      val_size: Optional[int] = None, check_limit: Optional[int] = None
                      ) -> Tuple[Any, Optional[EvalSet]]:
        """The training batch stream of this process and the held-out images of the per-epoch check.

        Args:
            data: the run's DataConfig (``root``, ``batch_size``, ``augment``, ``synthetic``, ...).
            seed, rank, world_size: the run seed, this process and the process count.
            val_size: hold out this many training images (chosen by the seed) for the per-epoch check
                (``training.select_on: validation``); None: hold none out (the check reads the test split).
            check_limit: the check reads at most this many held-out images (``training.select_subset``).

        Returns:
            ``(batches, held_out)``: an object with ``steps_per_epoch``, ``len()``, ``batch(epoch, step, device)``
            and ``epoch(epoch, start_step, device)`` (:class:`~benchmarks.datasets.batches.TrainBatches`), and
            the held-out :class:`EvalSet` or None.
        """
        raise NotImplementedError


def get_dataset(name: str) -> Dataset:
    """The dataset ``data.name``, built from its catalog entry.

    Raises:
        DataError: no dataset of that name is registered (the message names the near matches).
    """
    try:
        entry = catalog.get("datasets", name)
    except catalog.PluginError as err:
        raise DataError(str(err)) from None
    cls = entry.load()
    if not (isinstance(cls, type) and issubclass(cls, Dataset)):
        raise catalog.PluginError(f"dataset {name!r}: {entry.impl} is not a benchmarks.datasets.Dataset subclass")
    return cls(entry)


# ---------------------------------------------------------------- by name (what most callers need)

def dataset_info(name: str, root: Optional[str] = None, image_size: Optional[int] = None) -> DatasetInfo:
    """Classes, channels, size and statistics of a dataset (streamed datasets: classes counted under ``root``)."""
    return get_dataset(name).info(root, image_size)


def load_raw(name: str, split: str, root: Optional[str] = None, image_size: Optional[int] = None,
             limit: Optional[int] = None) -> Raw:
    """A split as stored: ``(images uint8 NxCxHxW, labels int64, scale)`` (see :meth:`Dataset.load`)."""
    return get_dataset(name).load(split, root, image_size, limit)


def load_dataset(name: str, split: str, root: Optional[str] = None, image_size: Optional[int] = None
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """A split as ``(images float32 NxCxHxW in [0, 1], labels int64)``, in dataset order.

    Args:
        name: a registered dataset (``digits``, ``cifar10``, ``cifar100``, ``tinyimagenet``, ``imagefolder``).
        split: ``train`` or ``test``.
        root: where its files are (``data.root``; CIFAR: the folder of the python batches or its parent).
        image_size: side of the decoded images (streamed datasets).

    Raises:
        DataError: unknown dataset or split, missing or malformed files.
    """
    images, labels, scale = load_raw(name, split, root, image_size)
    return images.float().div_(scale), labels


def split_size(name: str, split: str, root: Optional[str] = None) -> int:
    """Images in a split (streamed datasets are counted, not decoded)."""
    return get_dataset(name).split_size(split, root)


def eval_set(data: Any, split: str = "test", limit: Optional[int] = None) -> EvalSet:
    """The points of ``split`` (``test`` or ``train``) of the dataset that ``data`` (a DataConfig: ``name``, ``root``,
    ``image_size``, ``num_workers``) describes; ``limit`` keeps the first points only."""
    return get_dataset(data.name).eval_set(data, split, limit)
