"""``cifar10`` / ``cifar100``: the official python pickle batches (https://www.cs.toronto.edu/~kriz/cifar.html) under
``data.root`` (the batches' folder or its parent), read with a restricted unpickler (:mod:`benchmarks.safe_pickle`:
plain data and numpy arrays only; a batch naming any other global, which could run code, is refused with exit 2).
"""
from __future__ import annotations

import os
import pickle
from typing import List, Optional, Tuple

import numpy as np
import torch

from ..safe_pickle import UnsafePickleError, safe_load
from .base import DataError
from .memory import InMemoryDataset

__all__ = ["CIFAR_URL", "Cifar", "Cifar10", "Cifar100"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


class Cifar(InMemoryDataset):
    """A CIFAR archive's python batches: ``folder`` (as unpacked), the files of each split, the labels' key."""

    folder: str = ""
    files: dict = {}
    labels_key: bytes = b"labels"

    def _folder(self, root: Optional[str]) -> str:
        expected = self.files["train"] + self.files["test"]
        hint = (f"expected the python-version batches {', '.join(expected)} (from {self.folder}, the archive at "
                f"{CIFAR_URL}) in data.root or data.root/{self.folder}")
        if not root:
            raise DataError(f"{self.name}: data.root is not set; {hint}")
        for folder in (os.path.join(root, self.folder), root):
            if all(os.path.isfile(os.path.join(folder, f)) for f in expected):
                return folder
        if not os.path.isdir(root):
            raise DataError(f"{self.name}: data.root {root!r} is not a folder; {hint}")
        missing = [f for f in expected if not os.path.isfile(os.path.join(root, f))]
        raise DataError(f"{self.name}: {root!r} lacks {', '.join(missing)}; {hint}")

    def _batch(self, path: str) -> Tuple[np.ndarray, np.ndarray]:
        name, key = self.name, self.labels_key
        try:
            with open(path, "rb") as fh:
                batch = safe_load(fh, encoding="bytes")
            if not isinstance(batch, dict):
                raise TypeError(f"the file holds a {type(batch).__name__}, not a dict")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            target = np.asarray(batch[key], dtype=np.int64)
        except UnsafePickleError as err:
            raise DataError(f"{name}: {path} was refused: {err}. An official CIFAR batch holds only a dict of "
                            f"bytes, lists and a uint8 numpy array; this file would run code or build other "
                            f"objects when unpickled, so it was not loaded (replace it with the archive from "
                            f"{CIFAR_URL})") from None
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError,
                AttributeError, MemoryError, RecursionError) as err:
            raise DataError(f"{name}: {path} is not a CIFAR python batch ({type(err).__name__}: {err}); expected "
                            f"a pickled dict with b'data' (N x 3072 uint8) and {key!r}, as in the archive at "
                            f"{CIFAR_URL}") from None
        if data.ndim != 2 or data.shape[1] != 3072 or len(target) != len(data):
            raise DataError(f"{name}: {path} holds data of shape {data.shape} and {len(target)} labels; expected "
                            f"N x 3072 and N labels (archive: {CIFAR_URL})")
        return data.reshape(-1, 3, 32, 32), target

    def read(self, split: str, root: Optional[str], image_size: Optional[int], limit: Optional[int]
             ) -> Tuple[torch.Tensor, torch.Tensor, int]:
        folder = self._folder(root)
        images: List[np.ndarray] = []
        labels: List[np.ndarray] = []
        for file in self.files[split]:
            data, target = self._batch(os.path.join(folder, file))
            images.append(data)
            labels.append(target)
        x, y = torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))
        classes = self.num_classes(root)
        if y.numel() and int(y.max()) >= classes:
            raise DataError(f"{self.name}: labels go up to {int(y.max())}, expected < {classes}")
        return x[:limit], y[:limit], self.scale


class Cifar10(Cifar):
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2471, 0.2435, 0.2616)
    folder = "cifar-10-batches-py"
    files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    labels_key = b"labels"


class Cifar100(Cifar):
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    folder = "cifar-100-python"
    files = {"train": ["train"], "test": ["test"]}
    labels_key = b"fine_labels"
