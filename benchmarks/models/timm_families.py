"""The model families built through timm: the suite's own networks under their timm names (``wrn``,
``cifar_resnet18``, ``preact_resnet18``, ``vit_cifar_s``; :mod:`.timm_registry`) and ``timm``, the fallback for any
other timm model name, wrapped in :class:`NormalizedModel` so that it too takes inputs in [0, 1].

``wrn`` picks the registered ``wrn{depth}_{width}`` entrypoint when there is one; any 6n+4 depth builds.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from recipes.errors import RecipeError

from .._compat import import_timm
from .families import ModelFamily, fit_channels
from .timm_registry import register_timm_models
from .wide_resnet import WideResNet

__all__ = ["NormalizedModel", "check_wrn_depth", "WideResNetFamily", "TimmFamily", "CifarEntrypoint", "CifarResNet18",
           "PreActResNet18", "VitCifarS"]


def _timm():
    """timm, with the suite's networks registered."""
    timm = import_timm()
    register_timm_models()
    return timm


class NormalizedModel(nn.Module):
    """``model(resize((x - mean) / std))``: the input normalisation (and optional resize) inside the model."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float],
                 input_size: Optional[int] = None):
        super().__init__()
        self.model = model
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor):
        x = (x - self.mean) / self.std
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            # Differentiable, so attacks see through it (the ViT-on-CIFAR "upsample inside the model" option).
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return self.model(x)


def check_wrn_depth(model) -> None:
    """WideResNet depths are 6n+4 (the families built on a WRN backbone share this rule)."""
    if (int(model["depth"]) - 4) % 6 != 0 or int(model["depth"]) < 10:
        raise RecipeError("WideResNet depth must be 6n+4 (10, 16, 22, 28, 34, 40, 70, ...)", key="model.depth",
                          value=model["depth"])


class WideResNetFamily(ModelFamily):
    """CIFAR WideResNets (:mod:`.wide_resnet`), ``wrn-{depth}-{width}``."""

    def check(self, model):
        check_wrn_depth(model)

    def timm_name(self, model):
        return f"wrn{model['depth']}_{model['width']}"

    def build(self, spec):
        timm = _timm()
        kwargs = {"activation": spec["activation"], "drop_rate": spec["drop_rate"]}
        if spec["mean"] is not None:
            kwargs.update(mean=spec["mean"], std=spec["std"])
        if timm.is_model(spec["name"]):
            return timm.create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                                     **kwargs)
        # Any 6n+4 depth and width is valid in a recipe; only the common sizes are timm entrypoints.
        return WideResNet(depth=spec["depth"], width=spec["width"], num_classes=spec["num_classes"],
                                      in_chans=spec["in_chans"], **kwargs)


class TimmFamily(ModelFamily):
    """Any timm model by name, with the normalisation (and the optional resize) inside the model."""

    def check(self, model):
        timm = _timm()
        if not timm.is_model(model["arch"]):
            close = timm.list_models(f"*{model['arch']}*")[:10]
            raise RecipeError("no model family of that name, and timm has no such model" +
                              (f" (similar: {', '.join(close)})" if close else ""), key="model.arch",
                              value=model["arch"])

    def build(self, spec):
        timm = _timm()
        self.check({"arch": spec["name"]})
        net = timm.create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                                drop_rate=spec["drop_rate"])
        cfg = getattr(net, "pretrained_cfg", {}) or {}
        in_chans = spec["in_chans"]
        mean = spec["mean"] or fit_channels(cfg.get("mean", (0.5,)), in_chans)
        std = spec["std"] or fit_channels(cfg.get("std", (0.5,)), in_chans)
        return NormalizedModel(net, mean, std, input_size=spec.get("input_size"))


class CifarEntrypoint(ModelFamily):
    """A small-image network of this package registered with timm under the family's name."""

    def build(self, spec):
        timm = _timm()
        kwargs = {"drop_rate": spec["drop_rate"]}
        if "activation" in self.params:
            kwargs["activation"] = spec["activation"]
        if spec["mean"] is not None:
            kwargs.update(mean=spec["mean"], std=spec["std"])
        return timm.create_model(self.name, num_classes=spec["num_classes"], in_chans=spec["in_chans"], **kwargs)


class CifarResNet18(CifarEntrypoint):
    """CIFAR ResNet-18 (:mod:`.resnet_cifar`)."""


class PreActResNet18(CifarEntrypoint):
    """PreAct ResNet-18 (:mod:`.resnet_cifar`)."""


class VitCifarS(CifarEntrypoint):
    """ViT-S/4 for 32x32 images (:mod:`.vit_cifar`)."""

