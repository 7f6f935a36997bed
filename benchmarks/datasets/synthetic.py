"""Synthetic training data: DeepMind's generated CIFAR-10 ``.npz`` (``image`` uint8 Nx32x32x3, ``label``).

Mixed into every training batch at ``data.synthetic_fraction`` (:class:`benchmarks.datasets.batches.TrainBatches`)
as in Gowal et al. 2021 (https://arxiv.org/abs/2110.09468) and Wang et al. 2023 (https://arxiv.org/abs/2302.04638).
"""
from __future__ import annotations

import pickle
from typing import Tuple

import numpy as np
import torch

from .base import DataError

__all__ = ["load_synthetic"]


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
