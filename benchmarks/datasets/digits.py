"""``digits``: scikit-learn's bundled 8x8 handwritten digits (1 channel, values 0..16), embedded, no download.

Split once with a fixed seed into 1,437 training and 360 test images (each split in the bundle's order).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from sklearn.datasets import load_digits

from .memory import InMemoryDataset

__all__ = ["DIGITS_SPLIT_SEED", "DIGITS_TEST_SIZE", "Digits"]

DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


class Digits(InMemoryDataset):
    mean = (0.30,)
    std = (0.38,)
    scale = 16

    def read(self, split: str, root: Optional[str], image_size: Optional[int], limit: Optional[int]
             ) -> Tuple[torch.Tensor, torch.Tensor, int]:
        bunch = load_digits()
        images = bunch.images.astype(np.uint8)  # values 0..16
        labels = bunch.target.astype(np.int64)
        order = np.random.RandomState(DIGITS_SPLIT_SEED).permutation(len(labels))
        idx = np.sort(order[:DIGITS_TEST_SIZE] if split == "test" else order[DIGITS_TEST_SIZE:])
        images, labels = torch.from_numpy(images[idx][:, None].copy()), torch.from_numpy(labels[idx].copy())
        return images[:limit], labels[:limit], self.scale
