"""Fixed, seeded splits of a training set: the calibration hold-out, the per-epoch check's validation images and
the training subset of ``data.train_size``.

Both give sorted indices (dataset order), so the kept images stream in the order they would without a split.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

from .base import DataError
from .seeds import generator, seed_of

__all__ = ["HOLDOUT_SEED", "TRAIN_SIZE_STREAM", "holdout_split", "split_validation", "train_count", "train_subset"]

#: the seed stream (benchmarks.datasets.seeds) of the training subset's order
TRAIN_SIZE_STREAM = 7

HOLDOUT_SEED = 0


def holdout_split(n: int, fraction: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held_out)`` sorted indices of a training set of ``n``: a fixed seeded split (``data.holdout_fraction``).

    The same for every run of a dataset (the seed is fixed), so a calibration split is never trained on.
    """
    k = int(round(n * float(fraction)))
    order = torch.from_numpy(np.random.RandomState(HOLDOUT_SEED).permutation(n))
    return order[k:].sort().values, order[:k].sort().values


def split_validation(n: int, val_size: int, seed: int, global_batch: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held-out)`` indices of a training set of ``n``: ``val_size`` held out at random (fixed by the seed;
    both in dataset order), at least one global batch kept.

    Raises:
        DataError: ``training.val_size`` leaves less than one global batch to train on.
    """
    if val_size > n - global_batch:
        raise DataError(f"training.val_size {val_size} leaves {max(0, n - val_size)} of the {n} training images, "
                        f"less than one global batch ({global_batch}); lower training.val_size or use "
                        "training.select_on: test")
    perm = torch.randperm(n, generator=generator(seed_of(seed, 6)))
    return perm[val_size:].sort().values, perm[:val_size].sort().values


def train_count(size, n: int) -> int:
    """How many of ``n`` training images ``data.train_size`` keeps: a count as given, a fraction rounded (at least
    one image); ``None``: all ``n``.

    Raises:
        DataError: a count above ``n``.
    """
    if size is None:
        return n
    if isinstance(size, int) and not isinstance(size, bool):
        if size > n:
            raise DataError(f"data.train_size is {size}, but the training split has {n} images (after "
                            "data.holdout_fraction and training.val_size); lower it or give a fraction in (0, 1]")
        return size
    return max(1, min(n, int(round(n * float(size)))))


def train_subset(n: int, size, seed: int) -> torch.Tensor:
    """Sorted indices (dataset order) of the ``data.train_size`` images kept of ``n``: the first ``train_count``
    of one permutation of ``n`` drawn from the run seed, so the subset of a smaller size is a subset of a larger
    one's (nested) and the same on every machine.

    Raises:
        DataError: a count above ``n``.
    """
    count = train_count(size, n)
    perm = torch.randperm(n, generator=generator(seed_of(seed, TRAIN_SIZE_STREAM)))
    return perm[:count].sort().values
