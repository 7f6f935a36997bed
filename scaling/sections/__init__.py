"""Analysis sections: the parts of ``robustperf analyze``, each a plug-in of the catalog (kind ``sections``).

A section is one module defining a :class:`Section` (:mod:`scaling.sections.base`) and one
:class:`recipes.catalog.SectionEntry` naming it: the built-ins' entries are in :mod:`scaling.sections.catalog`,
registered as ``robustperf.sections`` entry points in the project's ``setup.cfg``; another package declares its own
entry points the same way. :mod:`scaling.sections.registry` lists and loads them. A whole example package (a
section, its entry, its ``setup.cfg``) is the docs' guide ``docs/how-to/plugins/analysis-section.md``; the
contract is :class:`Section`'s docstring.

Public names are re-exported lazily (PEP 562): the catalog imports this package to read the entries, which must
not import numpy, pandas or the sections' code.
"""
from __future__ import annotations

from robustperf_lazy import lazy

_EXPORTS = {
    "AnalysisContext": "base", "Section": "base", "SkipSection": "base", "missing_columns": "base",
    "run_section": "base", "get_section": "registry", "list_sections": "registry", "register_section": "registry",
    "unregister_section": "registry",
}

__getattr__, __all__ = lazy(__name__, {name: f".{module}" for name, module in _EXPORTS.items()})
