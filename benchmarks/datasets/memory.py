"""The in-memory family of datasets: a split is a uint8 tensor read whole (digits, CIFAR-10/100).

A subclass implements :meth:`~benchmarks.datasets.base.Dataset.read`; this family gives the evaluation set (a
:class:`~benchmarks.datasets.evalset.TensorSet` of the split) and the training stream
(:class:`~benchmarks.datasets.batches.TrainBatches`: the calibration hold-out ``data.holdout_fraction`` left out,
the per-epoch check's validation images held out, the ``data.train_size`` subset kept, synthetic data mixed in, the CIFAR crop and flip for 32x32
images when ``data.augment``).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from .base import DataError, Dataset
from .batches import TrainBatches
from .evalset import EvalSet, TensorSet
from .splits import holdout_split, split_validation, train_subset
from .synthetic import load_synthetic

__all__ = ["InMemoryDataset"]


class InMemoryDataset(Dataset):
    """A dataset whose splits are small enough to hold as tensors."""

    def eval_set(self, data: Any, split: str = "test", limit: Optional[int] = None) -> EvalSet:
        images, labels, scale = self.load(split, getattr(data, "root", None), getattr(data, "image_size", None),
                                          limit=limit)
        return TensorSet(images.float().div_(scale), labels)

    def train_batches(self, data: Any, *, seed: int, rank: int = 0, world_size: int = 1,
                      val_size: Optional[int] = None, check_limit: Optional[int] = None
                      ) -> Tuple[TrainBatches, Optional[EvalSet]]:
        info = self.info(data.root, data.image_size)
        images, labels, scale = self.load("train", data.root)
        if data.holdout_fraction > 0:   # held out for calibration (e.g. early-exit thresholds), never trained on
            kept, _ = holdout_split(len(labels), data.holdout_fraction)
            images, labels = images[kept], labels[kept]
        held = None
        if val_size is not None:
            keep, val = split_validation(len(labels), val_size, seed, data.batch_size * world_size)
            held = TensorSet(images[val].float().div_(scale), labels[val])
            held = held if check_limit is None else held.head(check_limit)
            images, labels = images[keep], labels[keep]
        if getattr(data, "train_size", None) is not None:  # nested seeded subset (data.train_size)
            kept = train_subset(len(labels), data.train_size, seed)
            images, labels = images[kept], labels[kept]
        synthetic = load_synthetic(data.synthetic, info.num_classes) if data.synthetic_fraction > 0 else None
        if synthetic is not None and tuple(synthetic[0].shape[1:]) != tuple(images.shape[1:]):
            raise DataError(f"synthetic images are {tuple(synthetic[0].shape[1:])}, the {self.name} images "
                            f"{tuple(images.shape[1:])}; they must match")
        batches = TrainBatches(images, labels, scale, data.batch_size, seed, rank, world_size,
                               synthetic=synthetic, synthetic_fraction=data.synthetic_fraction,
                               augment=data.augment and info.size == 32)
        return batches, held
