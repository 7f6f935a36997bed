"""Streaming image files: decoding, the streamed evaluation set (:class:`FolderSet`) and the streamed training
batches (:class:`FolderBatches`) of the folder datasets (:mod:`.folders`).

Images are decoded (Pillow), converted to RGB and brought to the run's image size in DataLoader workers
(``data.num_workers``), never held in memory whole. Training: the random-resized crop and flip
(:func:`~benchmarks.datasets.transforms.random_resized_crop`), or the evaluation transform with ``data.augment:
false``; each sample's crop and flip are drawn from a generator seeded by (seed, epoch, index) and the batch order
from (seed, epoch), so batches do not depend on the worker count and a run resumed at any step sees exactly the
batches an uninterrupted run sees. Evaluation: :func:`~benchmarks.datasets.transforms.eval_transform` with the
dataset's ``eval_crop``, in file order.

Each file is read by :func:`~benchmarks.datasets.images.decode` (regular files only, at most
:func:`~benchmarks.datasets.images.pixel_bound` pixels for the run's image size). A file that cannot be decoded
travels to the main process as data (a :class:`Failed` sample, collated into a :class:`Failed` batch), not as
an exception: DataLoader re-raises a worker's exception wrapped in the worker's traceback, while the batches
here raise the same one-line DataError with any number of workers (:func:`stream`).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.utils.data
from torch.utils.data import default_collate

from .base import DataError, Dataset, get_dataset
from .evalset import EvalSet
from .images import decode, pixel_bound
from .seeds import generator, seed_of
from .splits import split_validation, train_subset
from .transforms import eval_transform, random_resized_crop

__all__ = ["DecodedSamples", "Failed", "FolderBatches", "FolderSet", "collate", "decode", "stream", "to_tensor"]


class Failed:
    """A sample (or batch) whose image could not be read: the DataError's message, sent back from a worker."""

    def __init__(self, message: str):
        self.message = message


def collate(samples):
    """DataLoader's ``default_collate``, except that a batch holding a :class:`Failed` sample is that sample."""
    for sample in samples:
        if isinstance(sample, Failed):
            return sample
    return default_collate(samples)


def stream(loader) -> Iterator:
    """The batches of a DataLoader over :class:`DecodedSamples` (``collate_fn=collate``).

    Raises:
        DataError: an image could not be read (the same one line with or without workers).
    """
    for batch in loader:
        if isinstance(batch, Failed):
            raise DataError(batch.message)
        yield batch


def to_tensor(img) -> torch.Tensor:
    """An RGB image as uint8 3xHxW."""
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


class DecodedSamples(torch.utils.data.Dataset):
    """Decoded samples of given dataset indices; transforms seeded by (seed, epoch, dataset index).

    ``dataset[i]`` is ``(image uint8 3xHxW, label)``, or a :class:`Failed` when the file cannot be read (for
    DataLoader workers: see the module docstring); :meth:`sample` raises the DataError instead."""

    def __init__(self, paths: Sequence[str], labels: torch.Tensor, indices: Sequence[int], size: int, crop: float,
                 train: bool, seed: int, epoch: int):
        self.paths, self.labels, self.indices = paths, labels, list(indices)
        self.size, self.crop, self.train, self.seed, self.epoch = size, crop, train, seed, epoch
        self.max_pixels = pixel_bound(size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        try:
            return self.sample(i)
        except DataError as err:
            return Failed(str(err))

    def sample(self, i: int):
        """``(image, label)`` of sample ``i``.

        Raises:
            DataError: its file cannot be read.
        """
        index = self.indices[i]
        img = decode(self.paths[index], self.max_pixels)
        if self.train:
            img = random_resized_crop(img, self.size, np.random.default_rng(seed_of(self.seed, 3, self.epoch, index)))
        else:
            img = eval_transform(img, self.size, self.crop)
        return to_tensor(img), self.labels[index]


def _dataset(dataset: Union[str, Dataset]) -> Dataset:
    return get_dataset(dataset) if isinstance(dataset, str) else dataset


class FolderSet(EvalSet):
    """Evaluation points read from image files (the :class:`~benchmarks.datasets.evalset.EvalSet` of folder datasets).

    Each :meth:`batches` call streams the points through a ``torch.utils.data.DataLoader`` (``num_workers``
    worker processes, no shuffling: batches come in the order asked for), decoding and evaluation-transforming
    each image in a worker; only the batches in flight (at most ``2 x num_workers + 1``) are in memory.

    Args:
        name: the dataset (``tinyimagenet``, ``imagefolder``).
        paths, labels: the points, in order.
        size: side of the evaluation crop.
        num_workers: DataLoader worker processes (``data.num_workers``).
        crop: the evaluation crop fraction; None: the dataset's ``eval_crop``.
    """

    def __init__(self, name: str, paths: Sequence[str], labels: torch.Tensor, size: int, num_workers: int = 0,
                 crop: Optional[float] = None):
        self.name, self.paths, self.labels = name, list(paths), labels
        self.size, self.num_workers = int(size), int(num_workers)
        self.crop = get_dataset(name).eval_crop if crop is None else crop
        self.n = len(self.paths)
        self.shape = (3, self.size, self.size)

    def batches(self, batch_size: int, indices: Optional[Sequence[int]] = None):
        order = range(self.n) if indices is None else [int(i) for i in torch.as_tensor(indices).reshape(-1).tolist()]
        if len(order) == 0:
            return
        samples = DecodedSamples(self.paths, self.labels, order, self.size, self.crop, False, 0, 0)
        loader = torch.utils.data.DataLoader(samples, batch_size=batch_size, shuffle=False, collate_fn=collate,
                                             num_workers=self.num_workers, pin_memory=torch.cuda.is_available())
        for x, y in stream(loader):
            yield x.float().div_(255), y

    def subset(self, indices: Sequence[int]) -> "FolderSet":
        idx = [int(i) for i in torch.as_tensor(indices).reshape(-1).tolist()]
        return FolderSet(self.name, [self.paths[i] for i in idx], self.labels[idx], self.size, self.num_workers,
                         self.crop)

    def digest(self) -> str:
        """The files (path, size, modification time), labels and transform: cheap (no decoding), and a state
        made for other files or another image size is stale."""
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.name}|{self.size}|{self.crop}|{self.n}".encode())
        for path in self.paths:
            st = os.stat(path)
            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        h.update(self.labels.contiguous().numpy().tobytes())
        return h.hexdigest()


class FolderBatches:
    """Streamed, deterministic, resumable training batches of a folder dataset (the TrainBatches interface).

    Args:
        dataset, root: the dataset (a name or a :class:`~benchmarks.datasets.folders.FolderDataset`) and its folder.
        image_size: side of the training crops; None: the dataset's native size.
        batch_size, seed, rank, world_size: as for :class:`benchmarks.datasets.batches.TrainBatches`.
        num_workers: DataLoader worker processes.
        augment: random-resized crop + flip (else the evaluation transform).
        held_out: training images held out (chosen by the seed) for the per-epoch check; 0: none.
        train_size: ``data.train_size``: the nested seeded subset of the rest kept for training; None: all.
    """

    def __init__(self, dataset: Union[str, Dataset], root: Optional[str], image_size: Optional[int],
                 batch_size: int, seed: int, rank: int = 0, world_size: int = 1, num_workers: int = 0,
                 augment: bool = True, held_out: int = 0, train_size: Any = None):
        dataset = _dataset(dataset)
        self.name, self.size, self.crop = dataset.name, image_size or dataset.entry.image_size, dataset.eval_crop
        self.paths, self.labels, self.classes = dataset.files("train", root)
        self.held_paths: List[str] = []
        self.held_labels = self.labels[:0]
        if held_out:
            keep, val = split_validation(len(self.paths), held_out, seed, batch_size * world_size)
            self.held_paths = [self.paths[i] for i in val.tolist()]
            self.held_labels = self.labels[val]
            self.paths = [self.paths[i] for i in keep.tolist()]
            self.labels = self.labels[keep]
        if train_size is not None:
            kept = train_subset(len(self.paths), train_size, seed)
            self.paths = [self.paths[i] for i in kept.tolist()]
            self.labels = self.labels[kept]
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.num_workers, self.augment = num_workers, augment
        self.steps_per_epoch = len(self.paths) // (batch_size * world_size)
        if self.steps_per_epoch < 1:
            raise DataError(f"the training set has {len(self.paths)} images, fewer than one global batch of "
                            f"{batch_size} x {world_size} processes; lower data.batch_size")

    def __len__(self) -> int:
        return self.steps_per_epoch

    def held_out_set(self, limit: Optional[int] = None) -> Optional[FolderSet]:
        """The held-out validation images (the first ``limit``), streamed with the evaluation transform."""
        if not self.held_paths:
            return None
        n = len(self.held_paths) if limit is None else min(limit, len(self.held_paths))
        return FolderSet(self.name, self.held_paths[:n], self.held_labels[:n].clone(), self.size, self.num_workers,
                         self.crop)

    def _indices(self, epoch: int, start_step: int) -> List[int]:
        perm = torch.randperm(len(self.paths), generator=generator(seed_of(self.seed, 1, epoch))).tolist()
        out: List[int] = []
        for step in range(start_step, self.steps_per_epoch):
            start = (step * self.world_size + self.rank) * self.batch_size
            out += perm[start:start + self.batch_size]
        return out

    def _samples(self, indices: Sequence[int], epoch: int) -> DecodedSamples:
        return DecodedSamples(self.paths, self.labels, indices, self.size, self.crop, self.augment, self.seed, epoch)

    def batch(self, epoch: int, step: int, device: torch.device = torch.device("cpu")
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """This rank's batch at ``(epoch, step)`` (decoded in this process)."""
        samples = self._samples(self._indices(epoch, step)[:self.batch_size], epoch)
        x, y = next(stream(torch.utils.data.DataLoader(samples, batch_size=self.batch_size, shuffle=False,
                                                       collate_fn=collate, num_workers=0)))
        return x.to(device).float().div_(255), y.to(device)

    def epoch(self, epoch: int, start_step: int = 0, device: torch.device = torch.device("cpu")
              ) -> Iterator[Tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(step, images in [0, 1], labels)`` from ``start_step`` to the end of ``epoch``."""
        loader = torch.utils.data.DataLoader(self._samples(self._indices(epoch, start_step), epoch),
                                             batch_size=self.batch_size, shuffle=False, collate_fn=collate,
                                             num_workers=self.num_workers, pin_memory=torch.cuda.is_available())
        for step, (x, y) in enumerate(stream(loader), start_step):
            yield step, x.to(device, non_blocking=True).float().div_(255), y.to(device, non_blocking=True)
