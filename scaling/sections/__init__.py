"""Analysis sections: the parts of ``robustperf analyze``, each a plug-in on one registry.

Importing this package registers the built-in sections (one module each). A new analysis is one module here
that defines a :class:`Section` and calls :func:`register_section`, plus one import line below; see README,
"How to add an analysis section".
"""
from ._registry import (AnalysisContext, Section, SkipSection, get_section, list_sections, missing_columns,
                        register_section, run_section, unregister_section)

# built-in sections (importing registers them); one per line, so that adding one never conflicts
from . import envelope  # noqa: E402,F401  isort: skip
from . import laws  # noqa: E402,F401  isort: skip
from . import costs  # noqa: E402,F401  isort: skip
from . import quantile  # noqa: E402,F401  isort: skip
from . import quantile_trend  # noqa: E402,F401  isort: skip
from . import factors  # noqa: E402,F401  isort: skip
from . import forecast  # noqa: E402,F401  isort: skip
from . import repeats  # noqa: E402,F401  isort: skip
from . import trends  # noqa: E402,F401  isort: skip
from . import survival  # noqa: E402,F401  isort: skip
from . import slowdown  # noqa: E402,F401  isort: skip
from . import inference  # noqa: E402,F401  isort: skip
from . import methods  # noqa: E402,F401  isort: skip

__all__ = ["AnalysisContext", "Section", "SkipSection", "get_section", "list_sections", "missing_columns",
           "register_section", "run_section", "unregister_section"]
