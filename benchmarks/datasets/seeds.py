"""Seeds of the deterministic streams: every random draw of the data (and of the training loop) is seeded by a
tuple of integers, so it is a pure function of (run seed, stream, epoch, step, rank) and a resumed run draws
exactly what an uninterrupted one does.

Stream tags in use: 1 the epoch's batch order, 2 the synthetic draws, 3 the augmentation, 4 the training attack's
random start, 5 the per-epoch check's random start, 6 the held-out validation images, 7 the training subset's order (``data.train_size``).
"""
from __future__ import annotations

import hashlib

import torch

__all__ = ["generator", "seed_of"]


def seed_of(*parts: int) -> int:
    """A 63-bit seed derived from integers (the run seed, a stream tag, epoch, step, rank)."""
    digest = hashlib.sha256(":".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (the draws do not depend on the device the data goes to)."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g
