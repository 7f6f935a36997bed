"""CIFAR Wide Residual Networks, registered with timm as ``wrn{depth}_{width}``.

Paper: `Wide Residual Networks` - https://arxiv.org/abs/1605.07146 (Zagoruyko & Komodakis, 2016), in the
pre-activation form used by DeepMind's robustness work (Gowal et al., 2020, https://arxiv.org/abs/2010.03593;
Rebuffi et al., 2021) and by the adversarial scaling studies built on it: a 3x3 stem conv to 16 channels, three
stages of (depth-4)/6 pre-activation basic blocks of widths 16k, 32k, 64k (strides 1, 2, 2), a 1x1 shortcut conv
wherever the shape changes, then BN-activation, global average pooling and a linear classifier.

The input normalisation is part of the model (buffers ``mean``/``std``), so the model takes images in [0, 1]
as every attack and evaluation here does.
"""
from __future__ import annotations

from typing import Sequence, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._compat import import_timm

import_timm()
from timm.models import build_model_with_cfg, generate_default_cfgs  # noqa: E402

__all__ = ["WideResNet", "ACTIVATIONS", "CIFAR10_MEAN", "CIFAR10_STD", "activation_layer", "SIZES", "TIMM_ENTRYPOINTS"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2471, 0.2435, 0.2616)

#: Activation names accepted by ``activation=`` (the recipe's model.activation choices).
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def activation_layer(activation) -> Type[nn.Module]:
    """The activation module class of ``model.activation`` (a name of :data:`ACTIVATIONS`, or a class)."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        return ACTIVATIONS[activation]
    return activation


class BasicBlock(nn.Module):
    """Pre-activation block: BN-act-conv3x3-BN-act-conv3x3, plus the identity or a 1x1 conv shortcut."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, act_layer: Type[nn.Module], bn_momentum: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_chs, momentum=bn_momentum)
        self.act1 = act_layer()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs, momentum=bn_momentum)
        self.act2 = act_layer()
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if in_chs != out_chs or stride != 1:
            self.shortcut = nn.Conv2d(in_chs, out_chs, 1, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(x))
        # With a projection shortcut both paths start from the pre-activated input (as in the paper's code).
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.act2(self.bn2(out)))
        return out + shortcut


class WideResNet(nn.Module):
    """WRN-depth-width for small (CIFAR-sized) images.

    Args:
        depth: total depth, 6n+4 (n blocks per stage).
        width: widening factor k (stage widths 16k, 32k, 64k).
        num_classes: classifier outputs.
        in_chans: input channels (3 for CIFAR, 1 for digits).
        activation: ``relu``, ``gelu``, ``silu`` or an ``nn.Module`` class.
        drop_rate: dropout before the classifier.
        mean, std: per-channel input normalisation applied inside the model (inputs in [0, 1]).
        bn_momentum: BatchNorm momentum (PyTorch convention).
    """

    def __init__(self, depth: int = 28, width: int = 10, num_classes: int = 10, in_chans: int = 3,
                 activation="relu", drop_rate: float = 0.0, mean: Sequence[float] = None,
                 std: Sequence[float] = None, bn_momentum: float = 0.1, global_pool: str = "avg"):
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WideResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
        if global_pool != "avg":
            raise ValueError(f"WideResNet supports global_pool='avg' only, got {global_pool!r}")
        act_layer = activation_layer(activation)
        n = (depth - 4) // 6
        widths = (16, 16 * width, 32 * width, 64 * width)
        mean = tuple(mean) if mean is not None else (CIFAR10_MEAN if in_chans == 3 else (0.5,) * in_chans)
        std = tuple(std) if std is not None else (CIFAR10_STD if in_chans == 3 else (0.5,) * in_chans)
        if len(mean) != in_chans or len(std) != in_chans:
            raise ValueError(f"mean/std need {in_chans} values (in_chans), got {len(mean)}/{len(std)}")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = widths[-1]
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        self.stem = nn.Conv2d(in_chans, widths[0], 3, stride=1, padding=1, bias=False)
        stages = []
        in_chs = widths[0]
        for i, (out_chs, stride) in enumerate(zip(widths[1:], (1, 2, 2))):
            blocks = [BasicBlock(in_chs if b == 0 else out_chs, out_chs, stride if b == 0 else 1, act_layer,
                                 bn_momentum) for b in range(n)]
            stages.append(nn.Sequential(*blocks))
            in_chs = out_chs
        self.stages = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(in_chs, momentum=bn_momentum)
        self.act = act_layer()
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes)
        self.feature_info = [dict(num_chs=widths[i + 1], reduction=(1, 2, 4)[i], module=f"stages.{i}")
                             for i in range(3)]
        self._init_weights()

    def _init_weights(self) -> None:
        # He init for convs, unit BN, zero classifier bias: the initialisation of the original WRN code.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = self.stem(x)
        x = self.stages(x)
        return self.act(self.norm(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs):
    return {"url": "", "num_classes": 10, "input_size": (3, 32, 32), "pool_size": (8, 8), "crop_pct": 1.0,
            "interpolation": "bilinear", "mean": CIFAR10_MEAN, "std": CIFAR10_STD, "first_conv": "stem",
            "classifier": "fc", **kwargs}


#: (depth, width) of every registered variant: the sizes of the WRN paper and of the robustness scaling studies.
SIZES = ((10, 1), (16, 1), (16, 2), (16, 4), (16, 8), (22, 2), (22, 4), (28, 2), (28, 4), (28, 10), (34, 10),
         (34, 20), (40, 2), (40, 4), (70, 16))

default_cfgs = generate_default_cfgs({f"wrn{d}_{w}.untrained": _cfg() for d, w in SIZES})


def _create_wide_resnet(variant: str, pretrained: bool = False, **kwargs) -> WideResNet:
    if pretrained:
        raise ValueError(f"{variant}: robustperf WideResNets have no pretrained weights")
    return build_model_with_cfg(WideResNet, variant, pretrained, **kwargs)


def wrn10_1(pretrained=False, **kwargs) -> WideResNet:
    """WRN-10-1 (0.08 M params): the tiny test model."""
    return _create_wide_resnet("wrn10_1", pretrained, **dict(depth=10, width=1, **kwargs))


def wrn16_1(pretrained=False, **kwargs) -> WideResNet:
    """WRN-16-1."""
    return _create_wide_resnet("wrn16_1", pretrained, **dict(depth=16, width=1, **kwargs))


def wrn16_2(pretrained=False, **kwargs) -> WideResNet:
    """WRN-16-2."""
    return _create_wide_resnet("wrn16_2", pretrained, **dict(depth=16, width=2, **kwargs))


def wrn16_4(pretrained=False, **kwargs) -> WideResNet:
    """WRN-16-4."""
    return _create_wide_resnet("wrn16_4", pretrained, **dict(depth=16, width=4, **kwargs))


def wrn16_8(pretrained=False, **kwargs) -> WideResNet:
    """WRN-16-8."""
    return _create_wide_resnet("wrn16_8", pretrained, **dict(depth=16, width=8, **kwargs))


def wrn22_2(pretrained=False, **kwargs) -> WideResNet:
    """WRN-22-2."""
    return _create_wide_resnet("wrn22_2", pretrained, **dict(depth=22, width=2, **kwargs))


def wrn22_4(pretrained=False, **kwargs) -> WideResNet:
    """WRN-22-4."""
    return _create_wide_resnet("wrn22_4", pretrained, **dict(depth=22, width=4, **kwargs))


def wrn28_2(pretrained=False, **kwargs) -> WideResNet:
    """WRN-28-2."""
    return _create_wide_resnet("wrn28_2", pretrained, **dict(depth=28, width=2, **kwargs))


def wrn28_4(pretrained=False, **kwargs) -> WideResNet:
    """WRN-28-4."""
    return _create_wide_resnet("wrn28_4", pretrained, **dict(depth=28, width=4, **kwargs))


def wrn28_10(pretrained=False, **kwargs) -> WideResNet:
    """WRN-28-10 (36.5 M params): the standard CIFAR robustness model."""
    return _create_wide_resnet("wrn28_10", pretrained, **dict(depth=28, width=10, **kwargs))


def wrn34_10(pretrained=False, **kwargs) -> WideResNet:
    """WRN-34-10 (46.2 M params): the TRADES model."""
    return _create_wide_resnet("wrn34_10", pretrained, **dict(depth=34, width=10, **kwargs))


def wrn34_20(pretrained=False, **kwargs) -> WideResNet:
    """WRN-34-20."""
    return _create_wide_resnet("wrn34_20", pretrained, **dict(depth=34, width=20, **kwargs))


def wrn40_2(pretrained=False, **kwargs) -> WideResNet:
    """WRN-40-2."""
    return _create_wide_resnet("wrn40_2", pretrained, **dict(depth=40, width=2, **kwargs))


def wrn40_4(pretrained=False, **kwargs) -> WideResNet:
    """WRN-40-4."""
    return _create_wide_resnet("wrn40_4", pretrained, **dict(depth=40, width=4, **kwargs))


def wrn70_16(pretrained=False, **kwargs) -> WideResNet:
    """WRN-70-16 (266.8 M params): the largest model of the robustness scaling studies."""
    return _create_wide_resnet("wrn70_16", pretrained, **dict(depth=70, width=16, **kwargs))


#: the timm entrypoints of this module, registered by :func:`benchmarks.models.register_timm_models`
TIMM_ENTRYPOINTS = (wrn10_1, wrn16_1, wrn16_2, wrn16_4, wrn16_8, wrn22_2, wrn22_4, wrn28_2, wrn28_4, wrn28_10, wrn34_10,
                    wrn34_20, wrn40_2, wrn40_4, wrn70_16)
