"""The deterministic training batch stream of in-memory datasets (:class:`TrainBatches`).

Images are kept as uint8 in memory and become float in [0, 1] per batch. The stream is a pure function of
(seed, epoch, step, rank) (:mod:`.seeds`): resuming at any step reproduces exactly the batches an uninterrupted
run sees. With synthetic data (:mod:`.synthetic`) an epoch keeps the length of the original training set.
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import torch

from .base import DataError
from .seeds import generator, seed_of
from .transforms import augment as crop_and_flip

__all__ = ["TrainBatches"]


class TrainBatches:
    """Deterministic, resumable training batches for one process of a (possibly distributed) run.

    Every global batch holds ``batch_size * world_size`` samples; this rank takes its ``batch_size`` slice. With
    synthetic data, ``round(batch_size * synthetic_fraction)`` samples of each rank's batch are drawn uniformly
    from the synthetic set, the rest walk through a per-epoch permutation of the original set; an epoch has
    ``len(original) // (batch_size * world_size)`` steps either way (the reference study's epoch length).

    Args:
        images, labels, scale: the original training split (:meth:`benchmarks.datasets.Dataset.load`).
        batch_size: per-process batch size.
        seed: run seed.
        rank, world_size: this process and the process count.
        synthetic: optional ``(images, labels)`` of generated data.
        synthetic_fraction: fraction of each batch taken from ``synthetic``.
        augment: apply :func:`benchmarks.datasets.transforms.augment` (crop + flip) to the batch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, scale: int, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, synthetic: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                 synthetic_fraction: float = 0.0, augment: bool = False):
        self.images, self.labels, self.scale = images, labels, scale
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.synthetic = synthetic if synthetic_fraction > 0 else None
        self.n_synthetic = int(round(batch_size * synthetic_fraction)) if self.synthetic is not None else 0
        self.n_original = batch_size - self.n_synthetic
        self.augment = augment
        self._perm: Optional[Tuple[int, torch.Tensor]] = None
        self.steps_per_epoch = len(labels) // (batch_size * world_size)
        if self.steps_per_epoch < 1:
            raise DataError(f"the training set has {len(labels)} images, fewer than one global batch of "
                            f"{batch_size} x {world_size} processes; lower data.batch_size")

    def __len__(self) -> int:
        return self.steps_per_epoch

    def indices(self, epoch: int, step: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Indices (original, synthetic or None) of this rank's batch at ``(epoch, step)``."""
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, torch.randperm(len(self.labels), generator=generator(seed_of(self.seed, 1, epoch))))
        perm = self._perm[1]
        start = (step * self.world_size + self.rank) * self.n_original
        original = perm[start:start + self.n_original]
        synthetic = None
        if self.n_synthetic:
            g = generator(seed_of(self.seed, 2, epoch, step, self.rank))
            synthetic = torch.randint(0, len(self.synthetic[1]), (self.n_synthetic,), generator=g)
        return original, synthetic

    def batch(self, epoch: int, step: int, device: torch.device = torch.device("cpu")
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """This rank's batch at ``(epoch, step)``: ``(images float in [0, 1] on device, labels on device)``."""
        original, synthetic = self.indices(epoch, step)
        x, y = self.images[original], self.labels[original]
        if synthetic is not None:
            x = torch.cat([x, self.synthetic[0][synthetic]])
            y = torch.cat([y, self.synthetic[1][synthetic]])
        x = x.to(device, non_blocking=True).float().div_(self.scale)
        y = y.to(device, non_blocking=True)
        if self.augment:
            x = crop_and_flip(x, generator(seed_of(self.seed, 3, epoch, step, self.rank)))
        return x, y

    def epoch(self, epoch: int, start_step: int = 0, device: torch.device = torch.device("cpu")
              ) -> Iterator[Tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(step, images, labels)`` from ``start_step`` to the end of ``epoch``."""
        for step in range(start_step, self.steps_per_epoch):
            yield (step,) + self.batch(epoch, step, device)
