"""A Vision Transformer for 32x32 images, registered with timm as ``vit_cifar_s``.

ViT-S/4: Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words" (https://arxiv.org/abs/2010.11929), with the
patch size cut to 4 so that a 32x32 image is 8x8 = 64 tokens (the small-image setting of Mo et al. 2022,
"When Adversarial Training Meets Vision Transformers", https://arxiv.org/abs/2210.07540, and of
Debenedetti et al. 2023's CIFAR ViTs): embedding 384, depth 12, 6 heads, MLP ratio 4, a class token, timm's
:class:`~timm.models.vision_transformer.VisionTransformer` underneath. The input normalisation sits inside the
model, so it takes images in [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .._compat import import_timm
from .wide_resnet import CIFAR10_MEAN, CIFAR10_STD

import_timm()
from timm.models import generate_default_cfgs  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402


class SmallImageViT(nn.Module):
    """timm's VisionTransformer behind a per-channel normalisation (inputs in [0, 1])."""

    def __init__(self, num_classes=10, in_chans=3, drop_rate=0.0, mean=CIFAR10_MEAN, std=CIFAR10_STD, **kwargs):
        super().__init__()
        if len(mean) != in_chans:
            mean, std = (sum(mean) / len(mean),) * in_chans, (sum(std) / len(std),) * in_chans
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, -1, 1, 1))
        self.vit = VisionTransformer(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit((x - self.mean) / self.std)


default_cfgs = generate_default_cfgs({"vit_cifar_s.untrained": {
    "url": "", "num_classes": 10, "input_size": (3, 32, 32), "crop_pct": 1.0, "interpolation": "bicubic",
    "mean": CIFAR10_MEAN, "std": CIFAR10_STD, "first_conv": "vit.patch_embed.proj", "classifier": "vit.head"}})


def vit_cifar_s(pretrained=False, img_size=32, **kwargs) -> SmallImageViT:
    """ViT-S/4 for 32x32 images (21.3 M params)."""
    if pretrained:
        raise ValueError("vit_cifar_s: no pretrained weights")
    # timm's factory passes its own bookkeeping keys (pretrained_cfg, cache_dir, ...); keep the model's.
    own = {k: kwargs[k] for k in ("num_classes", "in_chans", "drop_rate", "mean", "std") if k in kwargs}
    return SmallImageViT(img_size=img_size, patch_size=4, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0,
                         **own)


#: the timm entrypoints of this module, registered by :func:`benchmarks.models.register_timm_models`
TIMM_ENTRYPOINTS = (vit_cifar_s,)
