"""Build the network of a run from its ``model`` recipe section.

``model.arch: wrn`` picks the registered ``wrn{depth}_{width}`` entrypoint; any other value is taken as a timm
model name (``resnet18``, ...) and wrapped in :class:`NormalizedModel` so every model of the suite takes inputs
in [0, 1].
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn as nn

from recipes.errors import RecipeError

from .._compat import import_timm
from . import wide_resnet  # noqa: F401 - registers the wrn entrypoints

__all__ = ["NormalizedModel", "create_model", "model_name", "model_spec"]


class NormalizedModel(nn.Module):
    """``model((x - mean) / std)``: puts the input normalisation of a timm model inside it."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def model_name(model_cfg: Any) -> str:
    """timm name of the configured model: ``wrn28_10`` for arch wrn, else ``model.arch`` itself."""
    arch = _get(model_cfg, "arch")
    return f"wrn{_get(model_cfg, 'depth')}_{_get(model_cfg, 'width')}" if arch == "wrn" else arch


def model_spec(model_cfg: Any, num_classes: int, in_chans: int, mean: Optional[Sequence[float]] = None,
               std: Optional[Sequence[float]] = None) -> Dict[str, Any]:
    """Plain-data description of the model (stored in checkpoints so a run's model can be rebuilt alone)."""
    return {"name": model_name(model_cfg), "wrn": _get(model_cfg, "arch") == "wrn",
            "depth": int(_get(model_cfg, "depth")), "width": int(_get(model_cfg, "width")),
            "activation": _get(model_cfg, "activation"), "drop_rate": float(_get(model_cfg, "drop_rate")),
            "num_classes": int(num_classes), "in_chans": int(in_chans),
            "mean": list(mean) if mean is not None else None, "std": list(std) if std is not None else None}


def create_model(model_cfg: Any, num_classes: int, in_chans: int, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None) -> nn.Module:
    """Create the model of a run, taking inputs in [0, 1].

    Args:
        model_cfg: the recipe's ``model`` section (a ``ModelConfig``, a dict of it, or a :func:`model_spec`).
        num_classes: classifier outputs (10 for digits/cifar10, 100 for cifar100).
        in_chans: image channels (1 for digits, 3 for cifar).
        mean, std: per-channel normalisation inside the model; None = the CIFAR-10 statistics for 3 channels.

    Returns:
        The model in train mode.

    Raises:
        RecipeError: timm does not know ``model.arch`` (the message lists similar names).
    """
    spec = model_cfg if isinstance(model_cfg, dict) and "name" in model_cfg else \
        model_spec(model_cfg, num_classes, in_chans, mean, std)
    timm = import_timm()
    if spec["wrn"]:
        kwargs = {"activation": spec["activation"], "drop_rate": spec["drop_rate"]}
        if spec["mean"] is not None:
            kwargs.update(mean=spec["mean"], std=spec["std"])
        if timm.is_model(spec["name"]):
            return timm.create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                                     **kwargs)
        # Any 6n+4 depth and width is valid in a recipe; only the common sizes are timm entrypoints.
        return wide_resnet.WideResNet(depth=spec["depth"], width=spec["width"], num_classes=spec["num_classes"],
                                      in_chans=spec["in_chans"], **kwargs)
    if not timm.is_model(spec["name"]):
        close = timm.list_models(f"*{spec['name']}*")[:10]
        raise RecipeError("timm has no such model" + (f" (similar: {', '.join(close)})" if close else ""),
                          key="model.arch", value=spec["name"])
    net = timm.create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"],
                            drop_rate=spec["drop_rate"])
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    in_chans = spec["in_chans"]
    mean = spec["mean"] or _fit(cfg.get("mean", (0.5,)), in_chans)
    std = spec["std"] or _fit(cfg.get("std", (0.5,)), in_chans)
    return NormalizedModel(net, mean, std)


def _fit(values: Sequence[float], n: int) -> Sequence[float]:
    values = tuple(values)
    return values if len(values) == n else (sum(values) / len(values),) * n


def _get(cfg: Any, key: str) -> Any:
    return cfg[key] if isinstance(cfg, dict) else getattr(cfg, key)
