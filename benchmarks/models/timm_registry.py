"""The suite's own networks under timm names: ``wrn{depth}_{width}`` (``wrn10_1`` ... ``wrn70_16``),
``cifar_resnet18``, ``preact_resnet18`` and ``vit_cifar_s``.

timm knows a model name once its entrypoint is registered. :func:`register_timm_models` registers the suite's
(once per process); afterwards ``timm.create_model("wrn28_10", activation="gelu", num_classes=10)`` works. The
model families call it before they ask timm for a name, and so does the recipe check of ``model.arch``
(:mod:`benchmarks.names`); code of its own that asks timm for one of these names calls it first.
"""
from __future__ import annotations

import threading
from typing import Tuple

from .._compat import import_timm
from . import resnet_cifar, vit_cifar, wide_resnet

import_timm()  # timm only through the suite's workaround (benchmarks._compat)
from timm.models import register_model  # noqa: E402

__all__ = ["register_timm_models", "TIMM_NAMES"]

#: the modules whose ``TIMM_ENTRYPOINTS`` are registered
MODULES = (wide_resnet, resnet_cifar, vit_cifar)
#: the timm names of the suite's networks
TIMM_NAMES: Tuple[str, ...] = tuple(fn.__name__ for module in MODULES for fn in module.TIMM_ENTRYPOINTS)

_LOCK = threading.Lock()
_registered = False


def register_timm_models() -> Tuple[str, ...]:
    """Register the suite's networks with timm (the first call; later calls do nothing); returns their names."""
    global _registered
    with _LOCK:
        if not _registered:
            for module in MODULES:
                for entrypoint in module.TIMM_ENTRYPOINTS:
                    register_model(entrypoint)
            _registered = True
    return TIMM_NAMES
