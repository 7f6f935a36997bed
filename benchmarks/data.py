"""Datasets and the deterministic training batch stream. No network access, ever.

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1 channel, values 0..16), split once with a fixed
  seed into 1437 training and 360 test images.
* ``cifar10`` / ``cifar100``: the official python pickle batches (https://www.cs.toronto.edu/~kriz/cifar.html)
  under ``data.root``, read with a restricted unpickler (:mod:`benchmarks.safe_pickle`: plain data and numpy
  arrays only; a batch naming any other global, which could run code, is refused with exit 2).
* ``tinyimagenet`` / ``imagefolder``: image folders streamed from disk (:mod:`benchmarks.folder_data`).
* Synthetic data: DeepMind's generated CIFAR-10 ``.npz`` (``image`` uint8 Nx32x32x3, ``label``), mixed into every
  training batch at ``data.synthetic_fraction`` as in Gowal et al. 2021 (https://arxiv.org/abs/2110.09468) and
  Wang et al. 2023 (https://arxiv.org/abs/2302.04638); an epoch keeps the length of the original training set.

Images are kept as uint8 in memory and become float in [0, 1] per batch. The batch stream is a pure function
of (seed, epoch, step, rank): resuming at any step reproduces exactly the batches an uninterrupted run sees.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

from recipes.errors import UserError

from .safe_pickle import UnsafePickleError, safe_load

__all__ = ["DATASETS", "DataError", "DatasetInfo", "TrainBatches", "augment", "dataset_info", "holdout_split",
           "load_dataset", "load_raw", "load_synthetic", "seed_of", "split_size"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


class DataError(UserError):
    """A dataset that is missing or not in the expected format."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    in_chans: int
    size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]


DATASETS = {
    "digits": DatasetInfo("digits", 10, 1, 8, (0.30,), (0.38,)),
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

#: Image-folder datasets streamed from disk (benchmarks/folder_data.py), with their default image size.
FOLDER_DATASETS = {"tinyimagenet": 64, "imagefolder": 224}

_CIFAR_FILES = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"], "labels": b"labels"},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"], "labels": b"fine_labels"},
}


def dataset_info(name: str, root: Optional[str] = None, image_size: Optional[int] = None) -> DatasetInfo:
    """Classes, channels, size and statistics of a dataset (folder datasets: counted under ``root``)."""
    if name in FOLDER_DATASETS:
        from .folder_data import folder_info

        return folder_info(name, root, image_size)
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def seed_of(*parts: int) -> int:
    """A 63-bit seed derived from integers (the run seed, a stream tag, epoch, step, rank)."""
    digest = hashlib.sha256(":".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# ---------------------------------------------------------------- loading

def load_raw(name: str, split: str, root: Optional[str] = None, image_size: Optional[int] = None,
             limit: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """A split as stored: ``(images uint8 NxCxHxW, labels int64, scale)``; ``images / scale`` is in [0, 1].

    Folder datasets (:mod:`benchmarks.folder_data`) are decoded with the evaluation transform at ``image_size``;
    ``limit`` keeps the first images only (without decoding the rest).

    Raises:
        DataError: unknown dataset or split, missing or malformed files.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}; valid: train, test")
    if name in FOLDER_DATASETS:
        from .folder_data import load_folder

        return load_folder(name, split, root, image_size, limit) + (255,)
    info = dataset_info(name)
    if name == "digits":
        images, labels = _load_digits(split)
        return images[:limit], labels[:limit], 16
    images, labels = _load_cifar(name, split, root)
    if labels.numel() and int(labels.max()) >= info.num_classes:
        raise DataError(f"{name}: labels go up to {int(labels.max())}, expected < {info.num_classes}")
    return images[:limit], labels[:limit], 255


HOLDOUT_SEED = 0


def holdout_split(n: int, fraction: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held_out)`` sorted indices of a training set of ``n``: a fixed seeded split (``data.holdout_fraction``).

    The same for every run of a dataset (the seed is fixed), so a calibration split is never trained on.
    """
    k = int(round(n * float(fraction)))
    order = torch.from_numpy(np.random.RandomState(HOLDOUT_SEED).permutation(n))
    return order[k:].sort().values, order[:k].sort().values


def split_size(name: str, split: str, root: Optional[str] = None) -> int:
    """Images in a split (folder datasets are counted, not decoded)."""
    if name in FOLDER_DATASETS:
        from .folder_data import folder_split

        return len(folder_split(name, split, root)[0])
    return len(load_raw(name, split, root)[1])


def load_dataset(name: str, split: str, root: Optional[str] = None, image_size: Optional[int] = None
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """A split as ``(images float32 NxCxHxW in [0, 1], labels int64)``, in dataset order.

    Args:
        name: ``digits``, ``cifar10`` or ``cifar100``.
        split: ``train`` or ``test``.
        root: folder of the python batches (cifar only; the folder itself or its parent).

    Raises:
        DataError: unknown dataset or split, missing or malformed files.
    """
    images, labels, scale = load_raw(name, split, root, image_size)
    return images.float().div_(scale), labels


def _load_digits(split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # values 0..16
    labels = bunch.target.astype(np.int64)
    order = np.random.RandomState(DIGITS_SPLIT_SEED).permutation(len(labels))
    idx = np.sort(order[:DIGITS_TEST_SIZE] if split == "test" else order[DIGITS_TEST_SIZE:])
    return torch.from_numpy(images[idx][:, None].copy()), torch.from_numpy(labels[idx].copy())


def _cifar_folder(name: str, root: Optional[str]) -> str:
    spec = _CIFAR_FILES[name]
    expected = spec["train"] + spec["test"]
    hint = (f"expected the python-version batches {', '.join(expected)} (from {spec['folder']}, the archive at "
            f"{CIFAR_URL}) in data.root or data.root/{spec['folder']}")
    if not root:
        raise DataError(f"{name}: data.root is not set; {hint}")
    for folder in (os.path.join(root, spec["folder"]), root):
        if all(os.path.isfile(os.path.join(folder, f)) for f in expected):
            return folder
    if not os.path.isdir(root):
        raise DataError(f"{name}: data.root {root!r} is not a folder; {hint}")
    missing = [f for f in expected if not os.path.isfile(os.path.join(root, f))]
    raise DataError(f"{name}: {root!r} lacks {', '.join(missing)}; {hint}")


def _load_cifar(name: str, split: str, root: Optional[str]) -> Tuple[torch.Tensor, torch.Tensor]:
    spec = _CIFAR_FILES[name]
    folder = _cifar_folder(name, root)
    images, labels = [], []
    for file in spec[split]:
        path = os.path.join(folder, file)
        try:
            with open(path, "rb") as fh:
                batch = safe_load(fh, encoding="bytes")
            if not isinstance(batch, dict):
                raise TypeError(f"the file holds a {type(batch).__name__}, not a dict")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            target = np.asarray(batch[spec["labels"]], dtype=np.int64)
        except UnsafePickleError as err:
            raise DataError(f"{name}: {path} was refused: {err}. An official CIFAR batch holds only a dict of "
                            f"bytes, lists and a uint8 numpy array; this file would run code or build other "
                            f"objects when unpickled, so it was not loaded (replace it with the archive from "
                            f"{CIFAR_URL})") from None
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError,
                AttributeError, MemoryError, RecursionError) as err:
            raise DataError(f"{name}: {path} is not a CIFAR python batch ({type(err).__name__}: {err}); expected "
                            f"a pickled dict with b'data' (N x 3072 uint8) and {spec['labels']!r}, as in the "
                            f"archive at {CIFAR_URL}") from None
        if data.ndim != 2 or data.shape[1] != 3072 or len(target) != len(data):
            raise DataError(f"{name}: {path} holds data of shape {data.shape} and {len(target)} labels; expected "
                            f"N x 3072 and N labels (archive: {CIFAR_URL})")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(target)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def load_synthetic(path: str, num_classes: int = 10) -> Tuple[torch.Tensor, torch.Tensor]:
    """DeepMind's generated-data ``.npz``: ``(images uint8 Nx3x32x32, labels int64)``.

    Raises:
        DataError: missing file, missing keys, wrong shapes or labels.
    """
    hint = "expected an .npz with 'image' (uint8, N x 32 x 32 x 3) and 'label' (N integers)"
    try:
        with np.load(path, allow_pickle=False) as npz:  # never unpickle objects from a data file
            image, label = npz["image"], npz["label"]
    except FileNotFoundError:
        raise DataError(f"synthetic data {path!r} not found; {hint}") from None
    except (OSError, KeyError, ValueError, pickle.UnpicklingError) as err:
        raise DataError(f"synthetic data {path!r}: {err}; {hint}") from None
    if image.dtype != np.uint8 or image.ndim != 4 or image.shape[1:] != (32, 32, 3) or len(label) != len(image):
        raise DataError(f"synthetic data {path!r}: image {image.dtype} {image.shape}, {len(label)} labels; {hint}")
    label = np.asarray(label).astype(np.int64).reshape(-1)
    if len(label) == 0 or label.min() < 0 or label.max() >= num_classes:
        raise DataError(f"synthetic data {path!r}: labels outside 0..{num_classes - 1}; {hint}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2))), torch.from_numpy(label)


# ---------------------------------------------------------------- augmentation

def augment(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, per sample (the CIFAR standard).

    The random draws come from ``generator`` (on the CPU), so the result does not depend on the device.
    """
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    rows = (offsets[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (offsets[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                 torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    return torch.where(flips[:, None, None, None], out.flip(3), out)


# ---------------------------------------------------------------- the batch stream

class TrainBatches:
    """Deterministic, resumable training batches for one process of a (possibly distributed) run.

    Every global batch holds ``batch_size * world_size`` samples; this rank takes its ``batch_size`` slice. With
    synthetic data, ``round(batch_size * synthetic_fraction)`` samples of each rank's batch are drawn uniformly
    from the synthetic set, the rest walk through a per-epoch permutation of the original set; an epoch has
    ``len(original) // (batch_size * world_size)`` steps either way (the reference study's epoch length).

    Args:
        images, labels, scale: the original training split (:func:`load_raw`).
        batch_size: per-process batch size.
        seed: run seed.
        rank, world_size: this process and the process count.
        synthetic: optional ``(images, labels)`` of generated data.
        synthetic_fraction: fraction of each batch taken from ``synthetic``.
        augment: apply :func:`augment` (crop + flip) to the batch.
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
            self._perm = (epoch, torch.randperm(len(self.labels), generator=_gen(seed_of(self.seed, 1, epoch))))
        perm = self._perm[1]
        start = (step * self.world_size + self.rank) * self.n_original
        original = perm[start:start + self.n_original]
        synthetic = None
        if self.n_synthetic:
            g = _gen(seed_of(self.seed, 2, epoch, step, self.rank))
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
            x = augment(x, _gen(seed_of(self.seed, 3, epoch, step, self.rank)))
        return x, y

    def epoch(self, epoch: int, start_step: int = 0, device: torch.device = torch.device("cpu")
              ) -> Iterator[Tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(step, images, labels)`` from ``start_step`` to the end of ``epoch``."""
        for step in range(start_step, self.steps_per_epoch):
            yield (step,) + self.batch(epoch, step, device)


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g
