"""MSDNet (Huang et al., ICLR 2018, "Multi-Scale Dense Networks for Resource Efficient Image Classification",
https://arxiv.org/abs/1703.09844), DeepSloth's fourth multi-exit model (``model.arch: msdnet``).

The CIFAR configuration of the authors' code (gaohuang/MSDNet; its PyTorch port, which DeepSloth's experiments
used): three scales (the input size, 1/2, 1/4) with growth factors 1-2-4 and bottleneck widths 1-2-4, 16 base
channels, growth rate 6, ``base`` 4 layers before the first exit and ``step`` 2 between exits ("even" step mode),
6 exits (DeepSloth's MSDNet). Every layer is dense at every scale it keeps: scale s concatenates its input, a
strided convolution of scale s - 1 (growth/2 x factor) and a convolution of its own scale (growth/2 x factor);
the finest scales are dropped as depth grows ("max" pruning: scale s leaves after a third of the layers), with a
1x1 transition halving the channels (reduction 0.5) where a scale leaves and at one and two thirds of the depth.
Each exit reads the coarsest scale: two strided 3x3 convolutions (128 channels), 2x2 average pooling, a linear
layer (the CIFAR classifier). Inputs are images in [0, 1]; the normalisation is inside the model.

Like :class:`benchmarks.models.sdn.SDN`, :meth:`MSDNet.exits` yields each exit's logits computing only what it
needs (``send(rows)`` keeps those samples), ``forward`` returns every exit's logits, ``heads`` are the internal
classifiers (every exit but the last) and ``backbone_parameters`` the rest, so the SDN training methods and the
slowdown evaluation (entropy rule: ``evaluation.slowdown.rule: entropy``, the paper's) run on it unchanged.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Generator, List, Optional, Sequence

import torch
import torch.nn as nn

from .families import ModelFamily
from .sdn import MultiExit

__all__ = ["MSDNet", "MSDNetFamily", "layer_scales"]

GR_FACTOR = (1, 2, 4)
BN_FACTOR = (1, 2, 4)


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=False))


class _ConvBN(nn.Sequential):
    """Bottleneck 1x1 (at most ``bn_width`` x out channels) then a 3x3 convolution, stride 2 for ``down``."""

    def __init__(self, cin: int, cout: int, down: bool, bn_width: int):
        inner = min(cin, bn_width * cout)
        super().__init__(_conv_bn_relu(cin, inner, 1), _conv_bn_relu(inner, cout, 3, 2 if down else 1))


class _Layer(nn.Module):
    """One MSDNet layer from ``in_scales`` to ``out_scales`` scales (the finest dropped first)."""

    def __init__(self, n_in: int, growth: int, in_scales: int, out_scales: int, n_scales: int):
        super().__init__()
        self.discard = in_scales - out_scales
        offset = n_scales - out_scales
        self.down, self.normal = nn.ModuleList(), nn.ModuleList()
        for s in range(offset, n_scales):
            out = growth * GR_FACTOR[s]
            has_down = s > offset or self.discard > 0
            self.down.append(_ConvBN(n_in * GR_FACTOR[s - 1], out // 2, True, BN_FACTOR[s - 1]) if has_down
                             else nn.Identity())
            self.normal.append(_ConvBN(n_in * GR_FACTOR[s], out // 2 if has_down else out, False, BN_FACTOR[s]))
        self.has_down = [not isinstance(m, nn.Identity) for m in self.down]

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        out = []
        first = self.discard   # the input scale of this layer's finest output scale
        for j, (down, normal, has) in enumerate(zip(self.down, self.normal, self.has_down)):
            here = xs[first + j]
            parts = [here, normal(here)]
            if has:
                parts.insert(1, down(xs[first + j - 1]))
            out.append(torch.cat(parts, dim=1))
        return out


class _Transition(nn.Module):
    """1x1 convolutions reducing every kept scale's channels."""

    def __init__(self, n_in: int, n_out: int, out_scales: int, offset: int):
        super().__init__()
        self.convs = nn.ModuleList(_conv_bn_relu(n_in * GR_FACTOR[offset + i], n_out * GR_FACTOR[offset + i], 1)
                                   for i in range(out_scales))

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        return [conv(x) for conv, x in zip(self.convs, xs[-len(self.convs):])]


class _Classifier(nn.Sequential):
    def __init__(self, channels: int, num_classes: int, side: int):
        inner = 128
        pool = max(1, side // 4)
        super().__init__(_conv_bn_relu(channels, inner, 3, 2), _conv_bn_relu(inner, inner, 3, 2),
                         nn.AvgPool2d(pool), nn.Flatten(), nn.Linear(inner * max(1, (side // 4) // pool) ** 2,
                                                                     num_classes))

    def forward(self, xs):
        return super().forward(xs[-1])


def layer_scales(n_layer_all: int, n_layer: int, n_scales: int = 3):
    """``(in_scales, out_scales)`` of layer ``n_layer`` (1-based) under "max" pruning."""
    interval = math.ceil(n_layer_all / n_scales)
    return (n_scales - math.floor(max(0, n_layer - 2) / interval), n_scales - math.floor((n_layer - 1) / interval))


class MSDNet(MultiExit, nn.Module):
    """The multi-scale dense network (see the module docstring)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, input_size: int = 32, exits: int = 6,
                 base: int = 4, step: int = 2, channels: int = 16, growth: int = 6, reduction: float = 0.5,
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None):
        super().__init__()
        n_scales = len(GR_FACTOR)
        self.register_buffer("mean", torch.tensor(mean or [0.0] * in_chans).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std or [1.0] * in_chans).view(1, -1, 1, 1))
        self.first = nn.ModuleList(_conv_bn_relu(in_chans if s == 0 else channels * GR_FACTOR[s - 1],
                                                 channels * GR_FACTOR[s], 3, 1 if s == 0 else 2)
                                   for s in range(n_scales))
        n_all, n_cur, n_in = base + step * (exits - 1), 0, channels
        self.blocks, classifiers = nn.ModuleList(), []
        for b in range(exits):
            layers: List[nn.Module] = []
            for _ in range(base if b == 0 else step):
                n_cur += 1
                in_s, out_s = layer_scales(n_all, n_cur, n_scales)
                layers.append(_Layer(n_in, growth, in_s, out_s, n_scales))
                n_in += growth
                third = n_cur in (math.floor(n_all / 3), math.floor(2 * n_all / 3))
                if reduction > 0 and (in_s > out_s or third):
                    out = math.floor(reduction * n_in)
                    layers.append(_Transition(n_in, out, out_s, n_scales - out_s))
                    n_in = out
            self.blocks.append(nn.Sequential(*layers))
            classifiers.append(_Classifier(n_in * GR_FACTOR[-1], num_classes, input_size // 2 ** (n_scales - 1)))
        self.heads = nn.ModuleList(classifiers[:-1])
        self.final = classifiers[-1]
        self.num_classes = num_classes
        self.arch = "msdnet"

    def exits(self, x: torch.Tensor) -> Generator[torch.Tensor, Optional[torch.Tensor], None]:
        """Each exit's logits in order; ``send(rows)`` keeps those samples for the exits that follow."""
        h = (x - self.mean) / self.std
        xs = []
        for conv in self.first:
            h = conv(h)
            xs.append(h)
        for i, block in enumerate(self.blocks):
            xs = block(xs)
            if i == len(self.blocks) - 1:
                yield self.final(xs)
                return
            rows = yield self.heads[i](xs)
            if rows is not None:
                xs = [t.index_select(0, rows) for t in xs]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return list(self.exits(x))


class MSDNetFamily(ModelFamily):
    """``model.arch: msdnet``: DeepSloth's MSDNet (6 exits, CIFAR configuration)."""

    def timm_name(self, model: Dict[str, Any]) -> str:
        return self.name

    def build(self, spec: Dict[str, Any]) -> nn.Module:
        return MSDNet(num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                      input_size=spec.get("image_size") or 32, mean=spec.get("mean"), std=spec.get("std"))
