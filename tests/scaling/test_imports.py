"""scaling/ must not import torch (nor benchmarks), and its CLI modules must import nothing heavy."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

MODULES = ["scaling", "scaling.errors", "scaling.table", "scaling.mapping", "scaling.laws", "scaling.regression",
           "scaling.forecast", "scaling.plotting", "scaling.formatting", "scaling.report", "scaling.analysis",
           "scaling.sections", "scaling.sections.registry", "scaling.survival", "scaling.accuracy_laws",
           "scaling.units", "scaling.adapters", "scaling.cli_collect", "scaling.cli_analyze"]


def _loaded_after(code: str) -> set:
    proc = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_scaling_does_not_import_torch():
    loaded = _loaded_after("import importlib\nfor m in %r: importlib.import_module(m)" % MODULES)
    assert "scaling.plotting" in loaded and "sklearn" in loaded
    assert "torch" not in loaded and not any(m == "benchmarks" or m.startswith("benchmarks.") for m in loaded)


def test_cli_modules_are_light():
    loaded = _loaded_after("import scaling.cli_collect, scaling.cli_analyze")
    assert not {"numpy", "pandas", "matplotlib", "sklearn", "scipy", "statsmodels", "torch"} & loaded


def test_the_sections_catalog_is_light():
    """The catalog reads every ``robustperf.sections`` entry point whenever it lists plug-ins (``robustperf run`` too):
    the entries' module must not load the analysis stack."""
    loaded = _loaded_after("from recipes import catalog\nimport scaling.sections.catalog\ncatalog.entries('sections')")
    assert not {"numpy", "pandas", "matplotlib", "sklearn", "scipy", "statsmodels", "lifelines", "torch"} & loaded
    assert not {m for m in loaded if m.startswith("scaling.") and m not in ("scaling.sections",
                                                                            "scaling.sections.catalog")}
