"""Dotted paths of the run config a record keeps (``config.training.loss``), named from the recipe schema.

A record stores its run's resolved config under ``config``; a table has one ``config.<section>.<key>`` column
per key. :func:`config_path` builds such a path from a recipe key and raises for a key the recipe schema lacks,
so a module that keeps its paths as module-level constants fails at import when a key is renamed:

    >>> config_path("training.loss")
    'config.training.loss'
    >>> config_path("training") + "."          # a prefix of a section's columns
    'config.training.'
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Tuple

from recipes import SECTIONS, all_paths

from .keys import CONFIG, SEED

__all__ = ["config_path", "config_paths"]


def _known(key: str) -> bool:
    if key == SEED or key in SECTIONS:
        return True
    section, _, name = key.partition(".")
    if section in SECTIONS and name in {f.name for f in dataclasses.fields(SECTIONS[section])}:
        return True
    return key in all_paths()  # a key a plug-in adds (finds the plug-ins once)


def config_path(key: str) -> str:
    """The record (and table) path of a run-config key (``"training.loss"``), a section (``"training"``) or
    ``"seed"``: ``"config."`` + ``key``.

    Raises:
        AttributeError: the recipe schema has no such key or section.
    """
    if not _known(key):
        near = difflib.get_close_matches(key, [*all_paths(), *SECTIONS], n=1)
        raise AttributeError(f"the run config has no key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return f"{CONFIG}.{key}"


def config_paths() -> Tuple[str, ...]:
    """The paths of every run-config key (``config.seed``, ``config.data.name``, ...), plug-ins' keys included."""
    return tuple(f"{CONFIG}.{key}" for key in all_paths())
