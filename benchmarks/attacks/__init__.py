"""Attacks: one registry (the ``attacks`` plug-ins of :mod:`recipes.catalog`, declared in :mod:`.catalog`) that
training, the per-epoch check, the final evaluation and the slowdown evaluation choose from by name.

Importing this package is cheap: the attacks (torch) load on first use of a name below.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = ("Attack", "create_attack", "list_attacks", "register_attack", "eval_mode", "project", "fgm_direction",
            "NORMS")

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(".gradient", __name__), name)
