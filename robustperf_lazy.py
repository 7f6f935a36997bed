"""Lazy re-exports for package ``__init__`` files (PEP 562), shared by every room without an import cycle.

A package re-exports its public names, but importing it must stay cheap: the catalog modules beside the plug-ins
(``benchmarks/training/methods/catalog.py``, ...) are imported without torch, and they import their package first;
``robustperf --help`` imports the rooms' command modules. ``__getattr__, __all__ = lazy(__name__, {"Trainer": ".trainer", ...})`` imports a submodule when one
of its names is first used.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Tuple


def lazy(package: str, exports: Dict[str, str]) -> Tuple[Callable[[str], Any], List[str]]:
    """``(__getattr__, __all__)`` for ``package``: ``exports`` maps each public name to the relative module
    defining it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__, sorted(exports)
