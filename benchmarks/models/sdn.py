"""Shallow-Deep Networks: a CNN backbone with an internal classifier (IC) after its blocks, one logits per exit.

Kaya, Hong, Dumitras, "Shallow-Deep Networks: Understanding and Mitigating Network Overthinking", ICML 2019
(https://arxiv.org/abs/1810.07052), as attacked by DeepSloth (Hong et al., ICLR 2021,
https://arxiv.org/abs/2010.02432). Every IC is the SDN head: on a feature map of side s >= 4, mixed pooling
``a * MaxPool_k + (1 - a) * AvgPool_k`` with k = s // 4 and one learnable scalar a (initialised U(0, 1)), then one
linear layer; on smaller maps (s < 4) and on flat features (an FC block) just the linear layer.

Backbones (``model.arch``), with the exits of the SDN/DeepSloth code:

========================  ==============================================================  ======  =====
arch                      backbone                                                          ICs     exits
========================  ==============================================================  ======  =====
``sdn_vgg16``             VGG-16-BN: 13 conv blocks, FC 512-512 (2048-1024 from 64 px)      14      15
``sdn_resnet56``          ResNet-56: 3 x 9 basic blocks of 16/32/64 channels                27      28
``sdn_mobilenet``         MobileNet (v1): 13 depthwise-separable blocks                     13      14
``sdn_wrn``               pre-activation WideResNet-depth-width (``model.depth/width``)     3n      3n+1
========================  ==============================================================  ======  =====

An IC sits after every block (after every conv block and the first FC block for VGG); the last exit is the
backbone's own classifier. ResNet ICs read the residual sum before its ReLU (the ReLU moves to the start of the
next block, which is the same network). Inputs are images in [0, 1]; the normalisation is inside the model.

:meth:`SDN.exits` yields the logits exit by exit, computing only what each exit needs, so early-exit inference
stops computing where a sample exits; ``forward`` returns the list of every exit's logits (the last is the final
classifier; ``benchmarks.models.final_logits`` picks it).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .families import ModelFamily, get_family
from .timm_families import check_wrn_depth
from .wide_resnet import ACTIVATIONS
from .wide_resnet import BasicBlock as PreActBlock

__all__ = ["InternalClassifier", "SDN", "SDNFamily", "create_sdn", "sdn_info"]


class InternalClassifier(nn.Module):
    """The SDN IC head: mixed max/avg pooling (learnable mix) and a linear layer; just linear on small maps.

    Args:
        channels: input channels (or features, for flat input).
        size: the input feature map's side; 0 for flat input (an FC block).
        num_classes: outputs.
    """

    def __init__(self, channels: int, size: int, num_classes: int):
        super().__init__()
        self.size = int(size)
        self.kernel = self.size // 4 if self.size >= 4 else 0
        if self.kernel:
            self.alpha = nn.Parameter(torch.rand(1))
            self.max_pool = nn.MaxPool2d(self.kernel)
            self.avg_pool = nn.AvgPool2d(self.kernel)
            side = self.size // self.kernel
            features = channels * side * side
        else:
            self.alpha = None
            features = channels * max(self.size, 1) ** 2
        self.linear = nn.Linear(features, num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.alpha is not None:
            h = self.alpha * self.max_pool(h) + (1 - self.alpha) * self.avg_pool(h)
        return self.linear(h.flatten(1))


class _Normalize(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MultiExit:
    """What every multi-exit network shares (SDNs, MSDNet): internal classifiers in ``self.heads`` (every exit but
    the last), the final classifier elsewhere; the SDN training methods train the two parameter sets apart."""

    heads: nn.ModuleList

    @property
    def num_ics(self) -> int:
        return len(self.heads)

    @property
    def num_exits(self) -> int:
        return len(self.heads) + 1

    def backbone_parameters(self) -> List[nn.Parameter]:
        """Every parameter but the ICs' (stem, blocks and the final classifier)."""
        heads = {id(p) for p in self.heads.parameters()}
        return [p for p in self.parameters() if id(p) not in heads]

    def ic_parameters(self) -> List[nn.Parameter]:
        return list(self.heads.parameters())


class SDN(MultiExit, nn.Module):
    """A backbone cut into blocks, an IC after the blocks listed in ``ic_after``, and the final classifier.

    Args:
        stem: input normalisation and the first layers (before block 0).
        blocks: the backbone's blocks, in order.
        final: everything after the last block, ending in the final classifier.
        ic_after: indices of the blocks followed by an IC.
        ic_shapes: ``(channels, side)`` of each of those blocks' outputs (side 0 = flat features).
        num_classes: classifier outputs.
        arch: the ``model.arch`` name (for reports).
    """

    def __init__(self, stem: nn.Module, blocks: Sequence[nn.Module], final: nn.Module, ic_after: Sequence[int],
                 ic_shapes: Sequence[Tuple[int, int]], num_classes: int, arch: str = "sdn"):
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.final = final
        self.ic_after = tuple(int(i) for i in ic_after)
        self.heads = nn.ModuleList(InternalClassifier(c, s, num_classes) for c, s in ic_shapes)
        self.num_classes = num_classes
        self.arch = arch

    def exits(self, x: torch.Tensor) -> Generator[torch.Tensor, Optional[torch.Tensor], None]:
        """Yield each exit's logits in order, computing the backbone only as far as the next exit needs.

        ``generator.send(rows)`` instead of ``next`` keeps only those rows (an index tensor) of the running
        activations for the exits that follow: batched early exit drops the samples that have exited.
        """
        h = self.stem(x)
        head = 0
        for i, block in enumerate(self.blocks):
            h = block(h)
            if head < len(self.ic_after) and self.ic_after[head] == i:
                rows = yield self.heads[head](h)
                head += 1
                if rows is not None:
                    h = h.index_select(0, rows)
        yield self.final(h)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return list(self.exits(x))


# ---------------------------------------------------------------- backbones


class _ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, pool: bool):
        layers = [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=False)]
        if pool:
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)


class _FCBlock(nn.Sequential):
    def __init__(self, fin: int, fout: int, flatten: bool, drop: float):
        layers = ([nn.Flatten()] if flatten else []) + [nn.Linear(fin, fout), nn.ReLU(), nn.Dropout(drop)]
        super().__init__(*layers)


_VGG16 = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
_VGG16_POOL = (1, 3, 6, 9, 12)   # max-pool after conv layers 2, 4, 7, 10 and 13 (0-based indices)


def _vgg16(in_chans: int, num_classes: int, size: int, drop_rate: float):
    fc = (2048, 1024) if size >= 64 else (512, 512)
    blocks: List[nn.Module] = []
    cin, side = in_chans, size
    for i, cout in enumerate(_VGG16):
        pool = i in _VGG16_POOL and side >= 2   # small inputs (digits) stop pooling at 1x1
        blocks.append(_ConvBNReLU(cin, cout, pool))
        cin, side = cout, side // 2 if pool else side
    drop = 0.5 if drop_rate == 0 else drop_rate
    blocks.append(_FCBlock(cin * side * side, fc[0], True, drop))
    final = nn.Sequential(_FCBlock(fc[0], fc[1], False, drop), nn.Linear(fc[1], num_classes))
    return nn.Identity(), blocks, final, list(range(len(blocks)))


class _ResBlock(nn.Module):
    """CIFAR ResNet basic block returning the residual sum before its ReLU (applied by the next block)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.act_in = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_in(x)   # ReLU is idempotent: on the stem's output it changes nothing
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return out + self.shortcut(x)


class _PoolLinear(nn.Module):
    def __init__(self, features: int, num_classes: int, act: Optional[nn.Module] = None, drop_rate: float = 0.0):
        super().__init__()
        self.act = act if act is not None else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(features, num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.pool(self.act(h)).flatten(1)))


def _resnet56(in_chans: int, num_classes: int, size: int, drop_rate: float):
    stride = 2 if size >= 64 else 1   # Tiny ImageNet: the first conv has stride 2
    stem = nn.Sequential(nn.Conv2d(in_chans, 16, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(16),
                         nn.ReLU())
    blocks, cin = [], 16
    for stage, cout in enumerate((16, 32, 64)):
        for b in range(9):
            blocks.append(_ResBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    final = _PoolLinear(cin, num_classes, nn.ReLU(), drop_rate)
    return stem, blocks, final, list(range(len(blocks)))


class _DepthwiseSeparable(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
                         nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


_MOBILENET = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024)


def _mobilenet(in_chans: int, num_classes: int, size: int, drop_rate: float):
    stem = nn.Sequential(nn.Conv2d(in_chans, 32, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
    blocks, cin = [], 32
    for item in _MOBILENET:
        cout, stride = item if isinstance(item, tuple) else (item, 1)
        blocks.append(_DepthwiseSeparable(cin, cout, stride))
        cin = cout
    final = _PoolLinear(cin, num_classes, None, drop_rate)
    return stem, blocks, final, list(range(len(blocks)))


def _wrn(in_chans: int, num_classes: int, size: int, drop_rate: float, depth: int = 16, width: int = 1,
         activation: str = "relu"):
    if (depth - 4) % 6 != 0 or depth < 10:
        raise ValueError(f"WideResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
    act = ACTIVATIONS[activation]
    n = (depth - 4) // 6
    widths = (16 * width, 32 * width, 64 * width)
    stem = nn.Conv2d(in_chans, 16, 3, padding=1, bias=False)
    blocks, cin = [], 16
    for stage, cout in enumerate(widths):
        for b in range(n):
            blocks.append(PreActBlock(cin, cout, (1, 2, 2)[stage] if b == 0 else 1, act, 0.1))
            cin = cout
    final = nn.Sequential(nn.BatchNorm2d(cin), _PoolLinear(cin, num_classes, act(), drop_rate))
    return stem, blocks, final, list(range(len(blocks)))


def _init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def create_sdn(arch: str, *, num_classes: int = 10, in_chans: int = 3, input_size: int = 32,
               mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None, drop_rate: float = 0.0,
               **backbone_options: Any) -> SDN:
    """Build the SDN of the family ``arch`` (``sdn_vgg16``, ``sdn_resnet56``, ``sdn_mobilenet``, ``sdn_wrn``, or
    another :class:`SDNFamily` of the catalog).

    Args:
        arch: the family, whose :attr:`SDNFamily.backbone` is built.
        num_classes, in_chans: outputs and image channels.
        input_size: the images' side (the ICs' sizes depend on it; 64 switches VGG's FC and ResNet's stem).
        mean, std: input normalisation inside the model; None = none (inputs used as they are, the SDN default).
        drop_rate: dropout before the final classifier (VGG: of its FC blocks, 0 = the paper's 0.5).
        backbone_options: the backbone's own (``sdn_wrn``: ``depth``, ``width``, ``activation``).
    """
    family = get_family(arch)
    if not isinstance(family, SDNFamily):
        raise ValueError(f"model.arch {arch!r} is not a Shallow-Deep Network family")
    stem, blocks, final, ic_after = family.backbone(in_chans, num_classes, int(input_size), drop_rate,
                                                    **backbone_options)
    if mean is not None:
        stem = nn.Sequential(_Normalize(mean, std), stem)
    shapes = _block_shapes(stem, blocks, in_chans, int(input_size))
    model = SDN(stem, blocks, final, ic_after, [shapes[i] for i in ic_after], num_classes, arch)
    _init(model)
    return model


def _block_shapes(stem: nn.Module, blocks: Sequence[nn.Module], in_chans: int, size: int) -> List[Tuple[int, int]]:
    """``(channels, side)`` of each block's output (side 0 for flat features), from a forward on zeros."""
    param = next(iter(blocks[0].parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    modules = [stem, *blocks]
    modes = [(m, m.training) for mod in modules for m in mod.modules()]
    for mod in modules:
        mod.eval()
    out = []
    try:
        with torch.no_grad():
            h = stem(torch.zeros(1, in_chans, size, size, device=device))
            for block in blocks:
                h = block(h)
                out.append((int(h.shape[1]), int(h.shape[-1]) if h.dim() == 4 else 0))
    finally:
        for m, mode in modes:
            m.training = mode
    return out


def sdn_info(model: SDN) -> Dict[str, int]:
    return {"ics": model.num_ics, "exits": model.num_exits}


# ---------------------------------------------------------------- model families (model.arch)


class SDNFamily(ModelFamily):
    """A Shallow-Deep Network: one logits tensor per exit (``model.arch: sdn_*``).

    Attributes:
        backbone: ``(in_chans, num_classes, size, drop_rate, **options) -> (stem, blocks, final, ic_after)``.
    """

    backbone: Callable[..., Tuple[nn.Module, List[nn.Module], nn.Module, List[int]]]

    def backbone_options(self, spec: Dict[str, Any]) -> Dict[str, Any]:
        """The backbone's own options from a :func:`benchmarks.models.model_spec` (none by default)."""
        return {}

    def timm_name(self, model):
        return self.name

    def build(self, spec):
        return create_sdn(self.name, num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                          input_size=spec.get("image_size") or 32, mean=spec.get("mean"), std=spec.get("std"),
                          drop_rate=spec["drop_rate"], **self.backbone_options(spec))


class SDNVGG16(SDNFamily):
    """SDN on VGG-16-BN: 14 ICs, 15 exits."""

    backbone = staticmethod(_vgg16)


class SDNResNet56(SDNFamily):
    """SDN on ResNet-56: 27 ICs, 28 exits."""

    backbone = staticmethod(_resnet56)


class SDNMobileNet(SDNFamily):
    """SDN on MobileNet: 13 ICs, 14 exits."""

    backbone = staticmethod(_mobilenet)


class SDNWideResNet(SDNFamily):
    """SDN on a pre-activation WideResNet-depth-width: one IC per block."""

    backbone = staticmethod(_wrn)

    def backbone_options(self, spec):
        return {k: spec[k] for k in ("depth", "width", "activation")}

    def check(self, model):
        check_wrn_depth(model)

    def timm_name(self, model):
        return f"sdn_wrn{model['depth']}_{model['width']}"
