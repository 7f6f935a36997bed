"""Scaling analysis: results tables, envelope power laws, factor models, forecasts, figures and reports.

No torch here (nor benchmarks): numpy, scipy, statsmodels, scikit-learn, matplotlib and pandas only. Public
names are re-exported lazily (PEP 562) so that ``robustperf --help``, which imports the CLI modules of this
package, stays instant.
"""
from __future__ import annotations

from robustperf_lazy import lazy

_EXPORTS = {
    "ConvergenceError": "errors", "InsufficientDataError": "errors", "InvalidValuesError": "errors",
    "NotFittedError": "errors", "ScalingError": "errors", "TableError": "errors",
    "Mapping": "mapping", "load_mapping": "mapping", "collect": "table", "load_table": "table",
    "write_table": "table", "numeric_column": "table",
    "EnvelopePowerLaw": "laws", "PowerLawNLS": "laws", "PowerLawOLS": "laws", "FITTERS": "laws",
    "power_law": "laws", "invert_power_law": "laws", "bin_edges": "laws", "envelope_indices": "laws",
    "GradientBoostingAnalysis": "regression", "QuantileFrontier": "regression", "olympic_mean": "regression",
    "repeats_table": "regression", "encode_features": "regression",
    "forecast": "forecast", "bootstrap_law": "forecast",
    "Options": "analysis", "analyze": "analysis", "run_analysis": "analysis",
    "write_report": "report",
}

__getattr__, __all__ = lazy(__name__, {name: f".{module}" for name, module in _EXPORTS.items()})
