"""Build the network of a run from its ``model`` recipe section, through the family ``model.arch`` names
(:func:`benchmarks.models.families.get_family`); every model of the suite takes inputs in [0, 1]."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Sequence

import torch.nn as nn

from .families import get_family

__all__ = ["create_model", "model_name", "model_spec"]


def _model_dict(model_cfg: Any) -> Dict[str, Any]:
    if isinstance(model_cfg, dict):
        return dict(model_cfg)
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
            "wrn": family.name == "wrn",  # read by checkpoints written before families (see create_model)
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
