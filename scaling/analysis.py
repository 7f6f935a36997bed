"""The ``analyze`` pipeline: table + column mapping -> every registered analysis section -> reports and figures.

This module resolves the core columns (FLOPs and accuracy: required), drops and lists the rows that cannot be
used, and runs the registered sections (:mod:`scaling.sections.registry`, the catalog's kind ``sections``) in
order: each declares the columns it needs, fits, summarises into its part of report.json, draws its figures
and renders its part of report.md. The envelope
law is required: when it cannot be fitted the analysis fails (InsufficientDataError or ConvergenceError).
Every other section is optional: when its columns are not in the table it is skipped with one line saying
why (``report["skipped_sections"]``); when its fit fails on too few points the reason is also in ``notes``; a
section whose code cannot be imported (a broken plug-in) is skipped with the catalog's one-line reason.
Columns named explicitly must exist (TableError otherwise).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .adapters import apply_adapter
from .errors import InsufficientDataError, InvalidValuesError, TableError
from .mapping import NONE, Mapping
from .report import write_report
from .sections.base import AnalysisContext, run_section
from .sections.registry import PluginError, get_section, list_sections
from .table import RECORD_COLUMNS, has_columns, numeric_column, row_labels

OPTIONS = {"flops": "--flops-col", "acc": "--acc-col", "cost": "--cost-col", "co2": "--co2-col",
           "kwh": "--kwh-col", "facet": "--facet"}


@dataclass(frozen=True)
class Options:
    """Settings of one analysis (the ``analyze`` command's flags)."""

    n_bins: int = 19
    """FLOP bins of the envelope"""
    bin_scale: str = "log"
    """'log' or 'linear' bin edges"""
    collapse: float = 0.0
    """runs with accuracy at or below this are dropped from the envelope"""
    targets: Tuple[float, ...] = (60.0, 65.0, 70.0, 75.0)
    """forecast target accuracies, %"""
    seed: int = 0
    """seeds the split, trees, folds, permutations and bootstrap"""
    n_boot: int = 1000
    """bootstrap resamples of the forecast"""
    n_repeats: int = 5
    """permutation-importance repeats"""
    quantile: float = 0.9
    """quantile of the second frontier"""
    figures: bool = True
    """draw the figures"""
    drop_nonpositive: bool = False
    """drop (and report) runs with non-positive FLOPs instead of failing"""
    envelope_yscale: str = "linear"
    """accuracy axis of the envelope figure: 'linear' (the law's rise shows) or 'log'"""
    cuts: Tuple[float, ...] = (0.5, 0.6, 0.7, 0.8)
    """backtest cuts: shares of the log FLOP range the candidate laws are fitted on"""
    conformal_level: float = 0.9
    """coverage of the split-conformal forecast intervals"""
    quantiles: Tuple[float, ...] = (0.9, 0.1)
    """quantiles of the quantile-regression trend (0.1: the 10 % most efficient runs)"""


def _resolve(table: pd.DataFrame, mapping: Mapping, key: str, required: bool) -> Optional[str]:
    """The column expression for ``key``: explicit (must exist), else our records' default (if present)."""
    explicit = getattr(mapping, key)
    if explicit == NONE:
        if required:
            raise TableError(f"the {key} column is required and cannot be 'none'")
        return None
    if explicit is not None:
        return explicit
    default = RECORD_COLUMNS[key]
    if required or has_columns(table, default):
        return default
    return None


def run_analysis(table: pd.DataFrame, mapping: Mapping, options: Options = Options(),
                 sections: Optional[Sequence[str]] = None) -> Tuple[Dict[str, Any], "AnalysisContext"]:
    """Run every registered section (or only ``sections``, by name) on ``table``. Writes nothing.

    Returns:
        ``(report dict, context)``; the context keeps every section's fitted state for the figures.
    Raises:
        TableError: a needed column is missing (the message lists the columns present).
        InvalidValuesError: non-positive FLOPs (unless ``options.drop_nonpositive``).
        InsufficientDataError, ConvergenceError: the envelope law cannot be fitted.
    """
    notes: List[str] = []
    adapter_info = None
    if mapping.adapter:
        table, adapter_info = apply_adapter(table, mapping.adapter)
    table = table.reset_index(drop=True)
    labels = row_labels(table)
    cols = {k: _resolve(table, mapping, k, k in ("flops", "acc")) for k in ("flops", "acc", "cost", "co2", "kwh",
                                                                               "facet")}
    x_all = numeric_column(table, cols["flops"], "FLOPs", OPTIONS["flops"])
    y_all = numeric_column(table, cols["acc"], "accuracy", OPTIONS["acc"])
    excluded: Dict[str, List[str]] = {"missing_flops": list(labels[x_all.isna()]),
                                      "missing_acc": list(labels[x_all.notna() & y_all.isna()]),
                                      "nonpositive_flops": []}
    nonpos = x_all.notna() & ((x_all <= 0) | ~np.isfinite(x_all))
    if nonpos.any():
        if not options.drop_nonpositive:
            raise InvalidValuesError(f"non-positive or infinite FLOPs ({cols['flops']})", list(labels[nonpos]),
                                     len(x_all), "fix or remove those runs, or pass --drop-nonpositive to "
                                                 "exclude them")
        excluded["nonpositive_flops"] = list(labels[nonpos])
        notes.append(f"{int(nonpos.sum())} runs with non-positive or infinite FLOPs excluded (--drop-nonpositive)")
    valid_x = x_all.notna() & ~nonpos
    used = valid_x & y_all.notna()
    frame = table[used.to_numpy()].reset_index(drop=True)
    x = x_all[used].to_numpy()
    y = y_all[used].to_numpy()
    if x.size == 0:
        raise InsufficientDataError("envelope power law", 3, 0, "no row has both FLOPs and an accuracy")

    report: Dict[str, Any] = {
        "schema": "robustperf.scaling/1",
        "columns": dict(cols),
        "n_rows": int(len(table)),
        "n_used": int(len(x)),
        "observed": {"flops_min": float(x.min()), "flops_max": float(x.max()), "acc_max": float(y.max())},
        "excluded": excluded,
        "options": dataclasses.asdict(options),
        "forecast_n_boot": options.n_boot,
    }
    if adapter_info is not None:
        report["adapter"] = adapter_info
    ctx = AnalysisContext(table=table, mapping=mapping, options=options, columns=cols, x_all=x_all,
                          valid_x=valid_x, frame=frame, x=x, y=y, report=report, notes=notes)
    names = list_sections() if sections is None else [get_section(n).name for n in sections]
    skipped: Dict[str, str] = {}
    for name in names:
        try:
            section = get_section(name)
        except PluginError as err:  # a broken plug-in is skipped, in one line; the other sections run
            reason = str(err).splitlines()[0]
            report[name] = {"skipped": reason}
        else:
            reason = run_section(section, ctx)
        if reason is not None:
            skipped[name] = reason
    report["sections"] = [n for n in names if n not in skipped]
    report["skipped_sections"] = skipped
    report["notes"] = notes
    return report, ctx


def draw_figures(ctx, report: Dict[str, Any], out_dir: str) -> List[str]:
    """Draw and save every section's figures (PNG and PDF); return their paths relative to ``out_dir``."""
    from . import plotting  # matplotlib deferred: an analysis without figures never loads it

    paths: List[str] = []

    def save(fig, stem):
        paths.extend(plotting.save_figure(fig, out_dir, stem))

    for name in report["sections"]:
        get_section(name).figures(ctx.fits[name], ctx, save)
    return [os.path.relpath(p, out_dir) for p in paths]


def analyze(table: pd.DataFrame, mapping: Mapping, out_dir: str, options: Options = Options(), *,
            source: str = "", problems: Sequence[Any] = (), sections: Optional[Sequence[str]] = None
            ) -> Dict[str, Any]:
    """Fit, draw and write ``out_dir/report.json``, ``report.md`` and the figures; return the report."""
    report, ctx = run_analysis(table, mapping, options, sections)
    report["source"] = source
    report["problems"] = [str(p) for p in problems]
    os.makedirs(out_dir, exist_ok=True)
    report["figures"] = draw_figures(ctx, report, out_dir) if options.figures else []
    write_report(out_dir, report)
    return report
