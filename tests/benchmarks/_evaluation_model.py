"""A small CNN trained on digits in a few seconds: the model the evaluation tests attack (real training)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def train_small_cnn(epochs: int = 8, seed: int = 0) -> nn.Module:
    """Adam on the digits training split; about 95 % clean test accuracy after a second of CPU."""
    from benchmarks.datasets import load_dataset

    torch.manual_seed(seed)
    x, y = load_dataset("digits", "train")
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()
