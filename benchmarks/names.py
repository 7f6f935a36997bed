"""Name checks for recipes (see :mod:`recipes.names`): optimizers and models are refused when the recipe loads.

Importing this module is cheap. A check answers common names from a short list and imports timm (and the suite's
model registrations) only for the others, without building any model: ``timm.is_model`` and timm's optimizer
registry are lookups.
"""
from __future__ import annotations

import difflib
from typing import Optional

from recipes import catalog
from recipes.names import register_name_check

#: optimizer names every timm version of the suite knows (a fast path; everything else asks timm)
COMMON_OPTIMIZERS = frozenset({"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "lamb", "lars"})


def _hint(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


@register_name_check("training.optimizer")
def check_optimizer(name) -> Optional[str]:
    """timm's ``create_optimizer_v2`` name: ``[lookahead_]<registered optimizer>``, case-insensitive."""
    if not isinstance(name, str):
        return None  # the type check reports it
    base = name.lower().split("_")[-1]
    if base in COMMON_OPTIMIZERS:
        return None
    from ._compat import import_timm

    import_timm()
    from timm.optim import list_optimizers

    known = list_optimizers()
    if base in known:
        return None
    return "timm has no such optimizer" + _hint(base, known)


@register_name_check("model.arch")
def check_arch(name) -> Optional[str]:
    """A model family of the catalog (``wrn``, ...), or a timm model name (the fallback family's)."""
    if not isinstance(name, str):
        return None
    if name in catalog.names("models") and not catalog.get("models", name).fallback:
        return None
    from ._compat import import_timm
    from .models.timm_registry import register_timm_models

    timm = import_timm()
    register_timm_models()  # the suite's own timm names (wrn28_10, ...)
    if timm.is_model(name):
        return None
    return "neither a model family of the suite nor a timm model name" + _hint(name, timm.list_models())
