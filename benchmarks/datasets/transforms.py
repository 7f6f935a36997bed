"""Image transforms: the CIFAR augmentation of in-memory batches (tensors) and the decoded images' training and
evaluation transforms (Pillow images of the streamed datasets).

* :func:`augment`: random crop with zero padding 4 and a random horizontal flip, per sample (the CIFAR standard).
* :func:`random_resized_crop`: the standard random-resized crop (scale 0.08-1, aspect 3/4-4/3; Szegedy et al.
  2015) and a horizontal flip.
* :func:`eval_transform`: resize the shorter side to ``size / crop`` and centre-crop ``size`` x ``size``.

Every random draw comes from the generator passed in, so a transform is a pure function of its seed.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

__all__ = ["augment", "eval_transform", "random_resized_crop"]


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


def eval_transform(img: Image.Image, size: int, crop: float) -> Image.Image:
    """Resize the shorter side to ``round(size / crop)`` and centre-crop ``size`` x ``size``."""
    w, h = img.size
    short = max(size, int(round(size / crop)))
    scale = short / min(w, h)
    nw, nh = max(size, int(round(w * scale))), max(size, int(round(h * scale)))
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def random_resized_crop(img: Image.Image, size: int, rng: np.random.Generator, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3)) -> Image.Image:
    """The standard random-resized crop (10 tries, then the centre crop at the clamped ratio), then a flip."""
    w, h = img.size
    area = w * h
    box = None
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            box = (left, top, left + cw, top + ch)
            break
    if box is None:
        in_ratio = w / h
        cw, ch = (w, int(round(w / ratio[0]))) if in_ratio < ratio[0] else \
            (int(round(h * ratio[1])), h) if in_ratio > ratio[1] else (w, h)
        cw, ch = min(cw, w), min(ch, h)
        box = ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)
    img = img.resize((size, size), Image.BILINEAR, box=box)
    if rng.uniform() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img
