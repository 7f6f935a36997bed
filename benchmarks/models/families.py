"""Model families: ``model.arch`` names one, and the family turns the recipe's ``model`` section into a network.

A family is a :class:`ModelFamily` subclass named by its catalog entry (:class:`recipes.catalog.ModelEntry`, the
built-ins' in :mod:`.catalog`), which declares the ``model.*`` keys it reads and which of them follow the arch in
run names. The class checks them (:meth:`ModelFamily.check`) and builds the network (:meth:`ModelFamily.build`)
taking images in [0, 1]. A network may return one logits
tensor or a list/tuple of them (one per exit); :func:`benchmarks.models.final_logits` picks the final one.

Built in: ``wrn`` (CIFAR WideResNets), ``cifar_resnet18`` / ``preact_resnet18`` (the RobustBench ResNet-18
baselines), ``vit_cifar_s`` (a ViT for 32x32 images), and ``timm`` - the fallback for any other arch that
timm knows (``resnet50``, ``vit_small_patch16_224``, ...), wrapped with the input normalisation and, with
``model.input_size``, a differentiable resize to the model's native resolution.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from recipes import catalog

__all__ = ["ModelFamily", "register_family", "get_family", "list_families", "unregister_family"]


def register_family(name: str, **facts):
    """Class decorator registering a :class:`ModelFamily` subclass in-process as ``model.arch: name`` (tests,
    notebooks); ``facts`` are the :class:`recipes.catalog.ModelEntry` fields (``reads``, ``name_keys``, ...)."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
            raise TypeError(f"@register_family({name!r}) decorates a ModelFamily subclass, not {cls!r}")
        catalog.register(catalog.ModelEntry(name=name, impl=cls, **facts))
        return cls

    return decorate


def unregister_family(name: str) -> None:
    catalog.unregister("models", name)


def list_families():
    return sorted(catalog.names("models"))


def get_family(arch: str) -> "ModelFamily":
    """The family of ``model.arch``: its catalog entry's class, else the fallback's (any timm model name)."""
    entry = catalog.get("models", arch)
    cls = entry.load()
    if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
        raise catalog.PluginError(f"model family {entry.name!r}: {entry.impl} is not a ModelFamily subclass")
    family = cls()
    family.name = entry.name
    family.entry = entry
    return family


class ModelFamily:
    """One kind of network. Subclasses implement :meth:`build`; the keys it reads are its catalog entry's."""

    name: str = ""
    entry: Optional[catalog.ModelEntry] = None

    @property
    def params(self) -> Tuple[str, ...]:
        """The ``model.*`` keys the family reads besides ``arch``: ``drop_rate`` and its entry's ``reads``."""
        own = tuple(p.split(".", 1)[1] for p in (self.entry.all_reads() if self.entry else ())
                    if p.startswith("model."))
        return own + ("drop_rate",)

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
