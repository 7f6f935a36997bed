"""The ``analyze`` pipeline: table + column mapping -> every registered analysis section -> reports and figures.

This module resolves the core columns (FLOPs and accuracy), drops and lists the rows that cannot be used, and
runs the registered sections (:mod:`scaling.sections.registry`, the catalog's kind ``sections``) in order: each
declares the columns it needs, fits, summarises into its part of report.json, draws its figures and renders its
part of report.md.

No section is required: each runs when its columns are there. A section whose columns are not in the table is
skipped with one line saying why (``report["skipped_sections"]``); a table without a FLOPs or an accuracy column
(a survival table) skips the envelope law and every section that reads those columns (``Section.core``) or the
envelope's fit (``Section.needs``), one line each, and the others run. A section whose fit fails (too few
points, no convergence; the envelope law included) is that section's failure: skipped, with the reason also in
``notes``, while the rest of the analysis goes on. A section whose code cannot be imported (a broken plug-in) is
skipped with the catalog's one-line reason. Only when no section at all could run does the analysis fail
(TableError: nothing to analyse).

Columns named explicitly (a flag or a mapping key: ``flops``, ``acc``, ``cost``, ``co2``, ``kwh``, ``facet``,
``time``, ``features``, ``group``, and the columns a section's settings name, ``Section.named_columns``) must
exist: TableError (exit 2) before any fit. Defaults that are absent only skip their sections.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .adapters import apply_adapter
from .errors import InvalidValuesError, TableError
from .mapping import NONE, Mapping
from .report import write_report
from .sections.base import AnalysisContext, run_section
from .sections.registry import PluginError, get_section, list_sections
from .table import RECORD_COLUMNS, has_columns, numeric_column, parse_expression, row_labels

#: mapping key -> the flag that sets it
OPTIONS = {"flops": "--flops-col", "acc": "--acc-col", "cost": "--cost-col", "co2": "--co2-col",
           "kwh": "--kwh-col", "facet": "--facet", "time": "--time-col", "features": "--feature",
           "group": "--group", "params": "--params-col", "samples": "--samples-col", "error": "--error-col",
           "loss": "--loss-col", "by": "--by"}
#: what each column role holds, in messages
ROLES = {"flops": "FLOPs", "acc": "accuracy", "cost": "cost", "co2": "CO2", "kwh": "kWh", "facet": "facet",
         "time": "time", "features": "factor", "group": "group",
         "params": "parameter-count", "samples": "samples-seen", "error": "error", "loss": "loss", "by": "group-by"}


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
    years: Tuple[float, ...] = ()
    """years of the forecast by year (default: the table's latest year + 1, + 3, + 5)"""
    budgets: Tuple[float, ...] = ()
    """compute budgets (FLOPs column's unit) of the compute-optimal allocation; () = the largest observed, x10,
    x100"""


def _resolve(table: pd.DataFrame, mapping: Mapping, key: str) -> Optional[str]:
    """The column expression for ``key``: explicit (checked by :func:`check_named_columns`), 'none' -> None,
    else our records' default when the table has it, else None (its sections are skipped)."""
    explicit = getattr(mapping, key)
    if explicit == NONE:
        return None
    if explicit is not None:
        return explicit
    default = RECORD_COLUMNS[key]
    return default if has_columns(table, default) else None


def check_named_columns(table: pd.DataFrame, mapping: Mapping, names: Sequence[str] = ()) -> None:
    """Every column the user named (flags and mapping keys; ``names``: sections' ``named_columns``) exists.

    Raises:
        TableError: naming the column, the flag or key that named it, the nearest column and those present.
    """
    present = [str(c) for c in table.columns]
    named: List[Tuple[str, str, str]] = []  # (role, where, expression)
    for key in OPTIONS:
        value = getattr(mapping, key)
        if value is None or value == NONE:
            continue
        for expr in ([value] if isinstance(value, str) else list(value)):
            named.append((ROLES[key], f"{OPTIONS[key]} or the mapping key '{key}'", expr))
    named += [("", where, expr) for where, expr in names]
    for role, where, expr in named:
        for name in parse_expression(expr):
            if name not in table.columns:
                what = f"{role} column" if role else "column"
                raise TableError(f"the table has no {what} '{name}'", column=name, present=present,
                                 hint=f"it is named by {where}, and a column named explicitly must exist")


def _unusable_reason(mapping: Mapping, key: str) -> str:
    flag = OPTIONS[key]
    if getattr(mapping, key) == NONE:
        return f"the {ROLES[key]} column is switched off ({flag} none)"
    return f"no {ROLES[key]} column '{RECORD_COLUMNS[key]}' (pass {flag})"


def run_analysis(table: pd.DataFrame, mapping: Mapping, options: Options = Options(),
                 sections: Optional[Sequence[str]] = None) -> Tuple[Dict[str, Any], "AnalysisContext"]:
    """Run every registered section (or only ``sections``, by name) on ``table``. Writes nothing.

    Returns:
        ``(report dict, context)``; the context keeps every section's fitted state for the figures.
    Raises:
        TableError: a named column is absent (the message lists the columns present), or no section could run
            (only when every section is asked for: ``sections`` None).
        InvalidValuesError: non-positive FLOPs (unless ``options.drop_nonpositive``).
    """
    notes: List[str] = []
    adapter_info = None
    if mapping.adapter:
        table, adapter_info = apply_adapter(table, mapping.adapter)
    table = table.reset_index(drop=True)
    names = list_sections() if sections is None else [get_section(n).name for n in sections]
    check_named_columns(table, mapping, _sections_named_columns(names, table, mapping, options))
    labels = row_labels(table)
    cols = {k: _resolve(table, mapping, k) for k in ("flops", "acc", "cost", "co2", "kwh", "facet")}
    unusable: Dict[str, str] = {k: _unusable_reason(mapping, k) for k in ("flops", "acc") if cols[k] is None}
    none = pd.Series(np.nan, index=table.index, dtype=float)
    x_all = numeric_column(table, cols["flops"], "FLOPs", OPTIONS["flops"]) if cols["flops"] else none.copy()
    y_all = numeric_column(table, cols["acc"], "accuracy", OPTIONS["acc"]) if cols["acc"] else none.copy()
    excluded: Dict[str, List[str]] = {
        "missing_flops": list(labels[x_all.isna()]) if cols["flops"] else [],
        "missing_acc": list(labels[x_all.notna() & y_all.isna()]) if cols["acc"] else [],
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
    if cols["flops"] and not valid_x.any():
        unusable["flops"] = f"no row has positive FLOPs ('{cols['flops']}')"
    if cols["acc"] and "flops" not in unusable and not used.any():
        unusable["acc"] = (f"no row has both FLOPs ('{cols['flops']}') and an accuracy ('{cols['acc']}')"
                           + ("; for runs without AutoAttack pass --acc-col accuracy.pgd"
                              if cols["acc"] == RECORD_COLUMNS["acc"] else ""))
    frame = table[used.to_numpy()].reset_index(drop=True)
    x = x_all[used].to_numpy()
    y = y_all[used].to_numpy()

    report: Dict[str, Any] = {
        "schema": "robustperf.scaling/1",
        "columns": dict(cols),
        "n_rows": int(len(table)),
        "n_used": int(len(x)),
        "observed": ({"flops_min": float(x.min()), "flops_max": float(x.max()), "acc_max": float(y.max())}
                     if x.size else None),
        "excluded": excluded,
        "options": dataclasses.asdict(options),
        "forecast_n_boot": options.n_boot,
    }
    if adapter_info is not None:
        report["adapter"] = adapter_info
    ctx = AnalysisContext(table=table, mapping=mapping, options=options, columns=cols, x_all=x_all,
                          valid_x=valid_x, frame=frame, x=x, y=y, report=report, notes=notes, unusable=unusable)
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
    if mapping.by and mapping.by != NONE:
        from .groups import fit_groups  # the per-group fits rerun this function on each group's rows

        fit_groups(ctx, run_analysis)
    report["notes"] = notes
    if not report["sections"] and sections is None:  # a chosen subset may well all be skipped
        raise _nothing_to_analyse(table, mapping, cols, skipped)
    return report, ctx


def _sections_named_columns(names: Sequence[str], table: pd.DataFrame, mapping: Mapping,
                            options: Options) -> List[Tuple[str, str]]:
    """(where, column) of every column the sections' settings name (``Section.named_columns``)."""
    probe = AnalysisContext(table=table, mapping=mapping, options=options, columns={}, x_all=pd.Series(dtype=float),
                            valid_x=pd.Series(dtype=bool), frame=table.iloc[:0], x=np.empty(0), y=np.empty(0))
    out: List[Tuple[str, str]] = []
    for name in names:
        try:
            section = get_section(name)
        except PluginError:  # reported when the section is run
            continue
        out += list(section.named_columns(probe).items())
    return out


def _nothing_to_analyse(table: pd.DataFrame, mapping: Mapping, cols: Dict[str, Optional[str]],
                        skipped: Dict[str, str]) -> TableError:
    """The error when no section could run: the missing FLOPs column as before (it is the usual cause: a table
    that is not ours without --flops-col), else every section's reason."""
    present = [str(c) for c in table.columns]
    if cols["flops"] is None and mapping.flops is None:
        default = RECORD_COLUMNS["flops"]
        return TableError(f"nothing to analyse: no section found its columns, and the table has no FLOPs column "
                          f"'{default}'", column=default, present=present, hint="pass --flops-col COLUMN")
    reasons = "; ".join(f"{name}: {why.splitlines()[0]}" for name, why in skipped.items())
    return TableError(f"nothing to analyse: no section could run ({reasons})")


def draw_figures(ctx, report: Dict[str, Any], out_dir: str) -> List[str]:
    """Draw and save every section's figures (PNG and PDF); return their paths relative to ``out_dir``."""
    from . import plotting  # matplotlib deferred: an analysis without figures never loads it

    paths: List[str] = []

    def save(fig, stem):
        paths.extend(plotting.save_figure(fig, out_dir, stem))

    for name in report["sections"]:
        get_section(name).figures(ctx.fits[name], ctx, save)
    if report.get("by"):
        from .groups import draw

        draw(ctx, report, save)
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
