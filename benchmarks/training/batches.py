"""The training batch stream of a run, and the held-out images of its per-epoch check.

In memory (digits, CIFAR, synthetic mixing: :class:`benchmarks.data.TrainBatches`) or streamed from image files
for the datasets whose catalog entry says ``streamed`` (:class:`benchmarks.folder_data.FolderBatches`). The order
is drawn from generators seeded by (seed, epoch, rank), so a resumed run replays the same batches.
"""
from __future__ import annotations

from typing import Optional, Tuple

from recipes import catalog

from ..data import DataError, DatasetInfo, TrainBatches, holdout_split, load_raw, load_synthetic
from ..eval_data import EvalSet, TensorSet
from ..folder_data import FolderBatches, split_validation
from .distributed import DistInfo

__all__ = ["train_batches"]


def train_batches(cfg, dist: DistInfo, info: DatasetInfo) -> Tuple[object, Optional[EvalSet]]:
    """The training batch stream, and the held-out validation images of the per-epoch check.

    With ``training.select_on: validation``, ``training.val_size`` training images chosen by the seed are held out:
    never trained on, they are the check's images (an :class:`benchmarks.eval_data.EvalSet`, streamed for
    streamed datasets); with ``test`` the second value is None and the check reads the first test images.
    """
    data, t = cfg.data, cfg.training
    if catalog.get("datasets", data.name).streamed:
        batches = FolderBatches(data.name, data.root, data.image_size, data.batch_size, cfg.seed, dist.rank,
                                dist.world_size, num_workers=data.num_workers, augment=data.augment,
                                held_out=t.val_size if t.select_on == "validation" else 0)
        return batches, batches.held_out_set(limit=t.select_subset)
    images, labels, scale = load_raw(data.name, "train", data.root)
    if data.holdout_fraction > 0:   # held out for calibration (e.g. early-exit thresholds), never trained on
        kept, _ = holdout_split(len(labels), data.holdout_fraction)
        images, labels = images[kept], labels[kept]
    held = None
    if t.select_on == "validation":
        keep, val = split_validation(len(labels), t.val_size, cfg.seed, data.batch_size * dist.world_size)
        held = TensorSet(images[val].float().div_(scale), labels[val])
        images, labels = images[keep], labels[keep]
    synthetic = load_synthetic(data.synthetic, info.num_classes) if data.synthetic_fraction > 0 else None
    if synthetic is not None and tuple(synthetic[0].shape[1:]) != tuple(images.shape[1:]):
        raise DataError(f"synthetic images are {tuple(synthetic[0].shape[1:])}, the {data.name} images "
                        f"{tuple(images.shape[1:])}; they must match")
    batches = TrainBatches(images, labels, scale, data.batch_size, cfg.seed, dist.rank, dist.world_size,
                           synthetic=synthetic, synthetic_fraction=data.synthetic_fraction,
                           augment=data.augment and info.size == 32)
    return batches, held
