"""CIFAR ResNet-18 and PreAct ResNet-18, the RobustBench baselines, registered with timm as ``cifar_resnet18`` and
``preact_resnet18``.

Papers: He et al. 2016, "Deep Residual Learning for Image Recognition" (https://arxiv.org/abs/1512.03385) and
"Identity Mappings in Deep Residual Networks" (pre-activation, https://arxiv.org/abs/1603.05027), in the CIFAR
form that adversarial-training papers use (Rice et al. 2020, Wong et al. 2020, Wu et al. 2020): a 3x3 stem conv
to 64 channels with no max-pool, four stages of two basic blocks (64, 128, 256, 512 channels; strides 1, 2, 2,
2), a 1x1 conv + BN (post-activation) or 1x1 conv (pre-activation) shortcut where the shape changes, global
average pooling, a linear classifier. About 11.17 M parameters and 0.56 GMACs per 32x32 forward.

The input normalisation is part of the model (buffers ``mean``/``std``), so it takes images in [0, 1].
"""
from __future__ import annotations

from typing import Sequence, Type

import torch
import torch.nn as nn

from .._compat import import_timm
from .wide_resnet import CIFAR10_MEAN, CIFAR10_STD, activation_layer

import_timm()
from timm.models import build_model_with_cfg, generate_default_cfgs  # noqa: E402

__all__ = ["CifarResNet"]


class BasicBlock(nn.Module):
    """conv3x3-BN-act-conv3x3-BN, plus the identity or a 1x1 conv + BN shortcut, then act."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, act_layer: Type[nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.act1 = act_layer()
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.shortcut = nn.Identity()
        if stride != 1 or in_chs != out_chs:
            self.shortcut = nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_chs))
        self.act2 = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """BN-act-conv3x3-BN-act-conv3x3, plus the identity or a 1x1 conv of the pre-activated input."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, act_layer: Type[nn.Module]):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.act1 = act_layer()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.act2 = act_layer()
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_chs != out_chs:
            self.shortcut = nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.act2(self.bn2(out)))
        return out + shortcut


class CifarResNet(nn.Module):
    """ResNet for 32x32 images (3x3 stem, no max-pool).

    Args:
        layers: blocks per stage ((2, 2, 2, 2) = ResNet-18).
        preact: pre-activation blocks (PreAct ResNet) instead of post-activation ones.
        num_classes, in_chans: classifier outputs and input channels.
        activation: ``relu``, ``gelu``, ``silu`` or an ``nn.Module`` class.
        drop_rate: dropout before the classifier.
        mean, std: per-channel input normalisation applied inside the model (inputs in [0, 1]).
    """

    def __init__(self, layers: Sequence[int] = (2, 2, 2, 2), preact: bool = False, num_classes: int = 10,
                 in_chans: int = 3, activation="relu", drop_rate: float = 0.0,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD):
        super().__init__()
        act_layer = activation_layer(activation)
        self.num_classes, self.drop_rate, self.preact = num_classes, drop_rate, preact
        if len(mean) != in_chans:
            mean, std = (sum(mean) / len(mean),) * in_chans, (sum(std) / len(std),) * in_chans
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, -1, 1, 1))
        self.stem = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
        self.stem_bn = nn.Identity() if preact else nn.BatchNorm2d(64)
        self.stem_act = nn.Identity() if preact else act_layer()
        block = PreActBlock if preact else BasicBlock
        stages, in_chs = [], 64
        for i, (n, out_chs) in enumerate(zip(layers, (64, 128, 256, 512))):
            blocks = []
            for j in range(n):
                blocks.append(block(in_chs, out_chs, (1 if i == 0 else 2) if j == 0 else 1, act_layer))
                in_chs = out_chs
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(in_chs) if preact else nn.Identity()
        self.final_act = act_layer() if preact else nn.Identity()
        self.num_features = in_chs
        self.fc = nn.Linear(in_chs, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = self.stem_act(self.stem_bn(self.stem(x)))
        return self.final_act(self.final_bn(self.stages(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        if self.drop_rate:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs):
    return {"url": "", "num_classes": 10, "input_size": (3, 32, 32), "pool_size": (4, 4), "crop_pct": 1.0,
            "interpolation": "bilinear", "mean": CIFAR10_MEAN, "std": CIFAR10_STD, "first_conv": "stem",
            "classifier": "fc", **kwargs}


default_cfgs = generate_default_cfgs({"cifar_resnet18.untrained": _cfg(), "preact_resnet18.untrained": _cfg()})


def _create(variant: str, pretrained: bool, **kwargs) -> CifarResNet:
    if pretrained:
        raise ValueError(f"{variant}: robustperf CIFAR ResNets have no pretrained weights")
    return build_model_with_cfg(CifarResNet, variant, pretrained, **kwargs)


def cifar_resnet18(pretrained=False, **kwargs) -> CifarResNet:
    """CIFAR ResNet-18 (11.17 M params, 0.56 GMACs at 32x32)."""
    return _create("cifar_resnet18", pretrained, **dict(layers=(2, 2, 2, 2), preact=False, **kwargs))


def preact_resnet18(pretrained=False, **kwargs) -> CifarResNet:
    """PreAct ResNet-18 (11.17 M params, 0.56 GMACs at 32x32)."""
    return _create("preact_resnet18", pretrained, **dict(layers=(2, 2, 2, 2), preact=True, **kwargs))


#: the timm entrypoints of this module, registered by :func:`benchmarks.models.register_timm_models`
TIMM_ENTRYPOINTS = (cifar_resnet18, preact_resnet18)
