"""The analysis sections of ``robustperf analyze``, as the plug-in catalog lists them (kind ``sections``).

Each section is one :class:`recipes.catalog.SectionEntry` (name, ``impl``, one line of ``doc``, ``order``): the
built-ins' are in :mod:`scaling.sections.catalog`, another package's come from its ``robustperf.sections`` entry
points, and tests or notebooks add one in-process with :func:`register_section`. The section's code is imported
when it is first used; ``impl`` names a :class:`~scaling.sections.base.Section` subclass (built without arguments,
its ``name`` and ``order`` taken from the entry) or a ready instance.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from recipes import catalog
from recipes.catalog import PluginError, SectionEntry
from recipes.entries import RUNTIME

from ..errors import ScalingError
from .base import Section

__all__ = ["get_section", "list_sections", "register_section", "unregister_section", "PluginError"]

KIND = "sections"

#: section name -> (the entry it was built from, the section); rebuilt when the entry changes
_BUILT: Dict[str, Tuple[SectionEntry, Section]] = {}


def list_sections() -> List[str]:
    """Registered section names in analysis order (``order``, then name); imports no section's code."""
    entries = catalog.entries(KIND).values()
    return [e.name for e in sorted(entries, key=lambda e: (e.order, e.name))]


def get_section(name: str) -> Section:
    """The section ``name``, its code imported on first use.

    Raises:
        ScalingError: no section of that name is registered.
        PluginError: its code cannot be imported, or is not a :class:`Section` (one line naming its package).
    """
    entry = catalog.entries(KIND).get(name)
    if entry is None:
        raise ScalingError(f"unknown analysis section '{name}'; registered: {', '.join(list_sections())}")
    built = _BUILT.get(name)
    if built is not None and built[0] == entry:
        return built[1]
    impl = entry.load()
    section = impl() if isinstance(impl, type) and issubclass(impl, Section) else impl
    if not isinstance(section, Section):
        raise PluginError(f"section {name!r} ({_where(entry)}): {entry.impl} is not a scaling.sections.Section")
    if section is not impl:  # built from the entry: the entry's name and order are the section's
        section.name, section.order = entry.name, entry.order
    _BUILT[name] = (entry, section)
    return section


def register_section(section: Any) -> Any:
    """Register a section in this process (an instance, or a class built without arguments; usable as a class
    decorator). Its ``name`` and ``order`` are read from it; another package registers through an entry point.

    Raises:
        TypeError: not a :class:`Section`.
        ValueError: no name, or a name already registered by another section.
    """
    instance = section() if isinstance(section, type) else section
    if not isinstance(instance, Section):
        raise TypeError(f"{section!r} is not a scaling.sections.Section")
    name = instance.name
    if not name:
        raise ValueError(f"section {type(instance).__name__} has no name")
    if name in catalog.entries(KIND):
        taken = get_section(name)
        if type(taken) is not type(instance):
            raise ValueError(f"analysis section '{name}' is already registered by {type(taken).__name__}")
    doc = (type(instance).__doc__ or instance.title or "").strip().splitlines()
    catalog.register(SectionEntry(name=name, impl=instance, doc=doc[0] if doc else "", order=instance.order),
                     replace=True)
    return section


def unregister_section(name: str) -> None:
    """Remove a section registered with :func:`register_section` (the installed ones stay)."""
    catalog.unregister(KIND, name)
    _BUILT.pop(name, None)


def _where(entry: SectionEntry) -> str:
    return f"package {entry.source}" if entry.source and entry.source != RUNTIME else "registered in-process"
