"""Model families: ``model.arch`` names one, and the family turns the recipe's ``model`` section into a network.

A family is a :class:`ModelFamily` subclass registered with ``@register_family("name")``. It declares the
``model.*`` keys it reads (``params``; the schema validates and documents them, its ``family=`` metadata says
which family reads which key and which values make up the run name), checks them (:meth:`ModelFamily.check`)
and builds the network (:meth:`ModelFamily.build`) taking images in [0, 1]. A network may return one logits
tensor or a list/tuple of them (one per exit); :func:`benchmarks.models.final_logits` picks the final one.

Built in: ``wrn`` (CIFAR WideResNets), ``cifar_resnet18`` / ``preact_resnet18`` (the RobustBench ResNet-18
baselines), ``vit_cifar_s`` (a ViT for 32x32 images), and ``timm`` - the fallback for any other arch that
timm knows (``resnet50``, ``vit_small_patch16_224``, ...), wrapped with the input normalisation and, with
``model.input_size``, a differentiable resize to the model's native resolution.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Type

from recipes.schema import MODEL_FAMILIES

__all__ = ["ModelFamily", "register_family", "get_family", "list_families", "unregister_family"]

_FAMILIES: Dict[str, Type["ModelFamily"]] = {}
#: The family used for an arch no family is registered under: any timm model name.
FALLBACK = "timm"


def register_family(name: str):
    """Class decorator: register a :class:`ModelFamily` subclass as ``model.arch: name``."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
            raise TypeError(f"@register_family({name!r}) decorates a ModelFamily subclass, not {cls!r}")
        if name in _FAMILIES and _FAMILIES[name] is not cls:
            raise ValueError(f"model family {name!r} is already registered by {_FAMILIES[name].__module__}")
        cls.name = name
        _FAMILIES[name] = cls
        # a plug-in's own keys enter its runs' ids (a built-in's are the schema's family= metadata; a test checks)
        MODEL_FAMILIES.add(name, reads=tuple(f"model.{k}" for k in cls.params))
        return cls

    return decorate


def unregister_family(name: str) -> None:
    _FAMILIES.pop(name, None)
    MODEL_FAMILIES.discard(name)


def list_families():
    return sorted(_FAMILIES)


def get_family(arch: str) -> "ModelFamily":
    """The family of ``model.arch``: the one registered under that name, else the timm fallback."""
    return _FAMILIES.get(arch, _FAMILIES[FALLBACK])()


class ModelFamily:
    """One kind of network. Subclasses set ``params`` and implement :meth:`build`."""

    name: str = ""
    #: ``model.*`` keys the family reads (besides ``arch``).
    params: Tuple[str, ...] = ("drop_rate",)

    def check(self, model: Dict[str, Any]) -> None:
        """Raise :class:`recipes.errors.RecipeError` naming the key when the family cannot build ``model``."""

    def timm_name(self, model: Dict[str, Any]) -> str:
        """The timm model name the network is created under."""
        return model["arch"]

    def spec(self, model: Dict[str, Any]) -> Dict[str, Any]:
        """The family's own keys of the ``model`` section, as stored in checkpoints."""
        return {k: model[k] for k in self.params}

    def build(self, spec: Dict[str, Any]):
        """The network for a :func:`benchmarks.models.model_spec`, taking images in [0, 1], in train mode."""
        raise NotImplementedError


def fit_channels(values: Sequence[float], n: int) -> Tuple[float, ...]:
    values = tuple(values)
    return values if len(values) == n else (sum(values) / len(values),) * n
