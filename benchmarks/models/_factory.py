"""Build the network of a run from its ``model`` recipe section, through the family ``model.arch`` names.

The built-in families (:mod:`.families`): ``wrn`` picks the registered ``wrn{depth}_{width}`` entrypoint (any
6n+4 depth builds); ``timm`` takes any other timm model name and wraps it in :class:`NormalizedModel`, so every
model of the suite takes inputs in [0, 1].
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from recipes.errors import RecipeError

from .._compat import import_timm
from . import resnet_cifar, vit_cifar, wide_resnet  # noqa: F401 - register the timm entrypoints
from .families import ModelFamily, fit_channels, get_family

__all__ = ["NormalizedModel", "create_model", "model_name", "model_spec"]


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


def _get(cfg: Any, key: str) -> Any:
    return cfg[key] if isinstance(cfg, dict) else getattr(cfg, key)


def _model_dict(model_cfg: Any) -> Dict[str, Any]:
    if isinstance(model_cfg, dict):
        return dict(model_cfg)
    import dataclasses

    return dataclasses.asdict(model_cfg)


def model_name(model_cfg: Any) -> str:
    """timm name of the configured model: ``wrn28_10`` for arch wrn, else the family's name for it."""
    model = _model_dict(model_cfg)
    return get_family(model["arch"]).timm_name(model)


def model_spec(model_cfg: Any, num_classes: int, in_chans: int, mean: Optional[Sequence[float]] = None,
               std: Optional[Sequence[float]] = None, image_size: Optional[int] = None) -> Dict[str, Any]:
    """Plain-data description of the model (stored in checkpoints so a run's model can be rebuilt alone).

    ``image_size`` is the side of the images the model will see (families whose layers depend on it, such as
    the SDNs' internal classifiers, read it; None = 32)."""
    model = _model_dict(model_cfg)
    family = get_family(model["arch"])
    family.check(model)
    return {"name": family.timm_name(model), "arch": model["arch"], "family": family.name,
            "wrn": family.name == "wrn",
            "depth": int(model.get("depth", 28)), "width": int(model.get("width", 10)),
            "activation": model.get("activation", "relu"), "drop_rate": float(model.get("drop_rate", 0.0)),
            "input_size": model.get("input_size"), "params": family.spec(model),
            "num_classes": int(num_classes), "in_chans": int(in_chans),
            "image_size": int(image_size) if image_size is not None else None,
            "mean": list(mean) if mean is not None else None, "std": list(std) if std is not None else None}


def create_model(model_cfg: Any, num_classes: int, in_chans: int, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, image_size: Optional[int] = None) -> nn.Module:
    """Create the model of a run, taking inputs in [0, 1].

    Args:
        model_cfg: the recipe's ``model`` section (a ``ModelConfig``, a dict of it, or a :func:`model_spec`).
        num_classes: classifier outputs (10 for digits/cifar10, 100 for cifar100).
        in_chans: image channels (1 for digits, 3 for cifar).
        mean, std: per-channel normalisation inside the model; None = the family's default.

    Returns:
        The model in train mode.

    Raises:
        RecipeError: no family builds ``model.arch`` (the message lists similar timm names).
    """
    spec = model_cfg if isinstance(model_cfg, dict) and "name" in model_cfg else \
        model_spec(model_cfg, num_classes, in_chans, mean, std, image_size=image_size)
    family = spec.get("family") or ("wrn" if spec.get("wrn") else "timm")  # checkpoints before families
    return get_family(family if family != "timm" else spec.get("arch", spec["name"])).build(spec)


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
        timm = import_timm()
        kwargs = {"activation": spec["activation"], "drop_rate": spec["drop_rate"]}
        if spec["mean"] is not None:
            kwargs.update(mean=spec["mean"], std=spec["std"])
        if timm.is_model(spec["name"]):
            return timm.create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                                     **kwargs)
        # Any 6n+4 depth and width is valid in a recipe; only the common sizes are timm entrypoints.
        return wide_resnet.WideResNet(depth=spec["depth"], width=spec["width"], num_classes=spec["num_classes"],
                                      in_chans=spec["in_chans"], **kwargs)


class TimmFamily(ModelFamily):
    """Any timm model by name, with the normalisation (and the optional resize) inside the model."""


    def check(self, model):
        timm = import_timm()
        if not timm.is_model(model["arch"]):
            close = timm.list_models(f"*{model['arch']}*")[:10]
            raise RecipeError("no model family of that name, and timm has no such model" +
                              (f" (similar: {', '.join(close)})" if close else ""), key="model.arch",
                              value=model["arch"])

    def build(self, spec):
        timm = import_timm()
        self.check({"arch": spec["name"]})
        net = timm.create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                                drop_rate=spec["drop_rate"])
        cfg = getattr(net, "pretrained_cfg", {}) or {}
        in_chans = spec["in_chans"]
        mean = spec["mean"] or fit_channels(cfg.get("mean", (0.5,)), in_chans)
        std = spec["std"] or fit_channels(cfg.get("std", (0.5,)), in_chans)
        return NormalizedModel(net, mean, std, input_size=spec.get("input_size"))


class _CifarEntrypoint(ModelFamily):
    """A small-image network of this package registered with timm under the family's name."""


    def build(self, spec):
        timm = import_timm()
        kwargs = {"drop_rate": spec["drop_rate"]}
        if "activation" in self.params:
            kwargs["activation"] = spec["activation"]
        if spec["mean"] is not None:
            kwargs.update(mean=spec["mean"], std=spec["std"])
        return timm.create_model(self.name, num_classes=spec["num_classes"], in_chans=spec["in_chans"], **kwargs)


class CifarResNet18(_CifarEntrypoint):
    """CIFAR ResNet-18 (:mod:`.resnet_cifar`)."""


class PreActResNet18(_CifarEntrypoint):
    """PreAct ResNet-18 (:mod:`.resnet_cifar`)."""


class VitCifarS(_CifarEntrypoint):
    """ViT-S/4 for 32x32 images (:mod:`.vit_cifar`)."""

