"""The ``analyze`` pipeline: table + column mapping -> fitted laws, models, forecast, figures and reports.

This module only wires the pure fitters (:mod:`.laws`, :mod:`.regression`, :mod:`.forecast`) to the table
(:mod:`.table`), the figures (:mod:`.plotting`) and the reports (:mod:`.report`).

The envelope law is required: when it cannot be fitted the analysis fails (InsufficientDataError or
ConvergenceError). Every other section (costs, gradient boosting, quantile frontier) is optional: when its
columns are not in the table by default, or it has too few points, the section is ``{"skipped": reason}``
and the reason is also listed in ``notes``. Columns named explicitly must exist (TableError otherwise).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .errors import InsufficientDataError, InvalidValuesError, ScalingError, TableError
from .forecast import forecast
from .laws import EnvelopePowerLaw, PowerLawOLS
from .regression import GradientBoostingAnalysis, QuantileFrontier, repeats_table
from .table import (NONE, RECORD_COLUMNS, RECORD_FEATURES, Mapping, default_group,
                    has_columns, numeric_column, row_labels)

#: Cost sections: report key -> (mapping field, forecast name, label for axes).
COST_SECTIONS = {
    "electricity": ("cost", "usd", "electricity cost ($)"),
    "co2": ("co2", "co2_kg", "emissions (kg CO2eq)"),
    "kwh": ("kwh", "kwh", "energy (kWh)"),
}
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


@dataclass
class Analysis:
    """Fitted objects of one analysis, kept for the figures."""

    x: np.ndarray
    y: np.ndarray
    frame: pd.DataFrame
    envelope: EnvelopePowerLaw
    costs: Dict[str, Tuple[PowerLawOLS, np.ndarray, np.ndarray]] = field(default_factory=dict)
    gbr: Optional[GradientBoostingAnalysis] = None
    quantile: Optional[QuantileFrontier] = None
    features: List[str] = field(default_factory=list)
    facet: Optional[str] = None


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


def run_analysis(table: pd.DataFrame, mapping: Mapping,
                 options: Options = Options()) -> Tuple[Dict[str, Any], Analysis]:
    """Fit everything on ``table``; return ``(report dict, fitted objects)``. Writes nothing.

    Raises:
        TableError: a needed column is missing (the message lists the columns present).
        InvalidValuesError: non-positive FLOPs (unless ``options.drop_nonpositive``).
        InsufficientDataError, ConvergenceError: the envelope law cannot be fitted.
    """
    notes: List[str] = []
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

    envelope = EnvelopePowerLaw(options.n_bins, options.bin_scale, options.collapse).fit(x, y)
    fitted = Analysis(x=x, y=y, frame=frame, envelope=envelope, facet=cols["facet"])
    env = envelope.summary()
    for point in env["points"]:
        point["label"] = str(row_labels(frame).iloc[point.pop("row")])
    report: Dict[str, Any] = {
        "schema": "robustperf.scaling/1",
        "columns": dict(cols),
        "n_rows": int(len(table)),
        "n_used": int(len(x)),
        "observed": {"flops_min": float(x.min()), "flops_max": float(x.max()), "acc_max": float(y.max())},
        "excluded": excluded,
        "envelope": env,
        "options": dataclasses.asdict(options),
    }

    # costs against FLOPs: over every run with positive FLOPs, accuracy or not
    cost_fits: Dict[str, PowerLawOLS] = {}
    for section, (key, name, label) in COST_SECTIONS.items():
        expr = cols[key]
        if expr is None:
            if key != "kwh":
                report[section] = {"skipped": f"no {key} column (pass {OPTIONS[key]})"}
            continue
        values = numeric_column(table, expr, label, OPTIONS[key])
        ok = valid_x & values.notna() & (values > 0)
        nonpos_cost = int((valid_x & values.notna() & (values <= 0)).sum())
        try:
            fit = PowerLawOLS().fit(x_all[ok].to_numpy(), values[ok].to_numpy())
        except InsufficientDataError as err:
            report[section] = {"skipped": str(err), "column": expr}
            notes.append(f"{section}: {err}")
            continue
        report[section] = dict(fit.summary(), column=expr, dropped_nonpositive=nonpos_cost,
                               missing=int((valid_x & values.isna()).sum()))
        cost_fits[name] = fit
        fitted.costs[section] = (fit, x_all[ok].to_numpy(), values[ok].to_numpy())

    # quantile frontier over the runs above the collapse threshold
    alive = y > options.collapse
    try:
        fitted.quantile = QuantileFrontier(q=options.quantile).fit(x[alive], y[alive])
        report["quantile"] = fitted.quantile.summary()
    except ScalingError as err:
        report["quantile"] = {"skipped": str(err)}
        notes.append(f"quantile: {err}")

    # gradient boosting on the factors
    features = list(mapping.features) if mapping.features is not None else list(RECORD_FEATURES)
    missing = [f for f in features if f not in frame.columns]
    if missing and mapping.features is not None:
        raise TableError(f"the table has no factor column '{missing[0]}'", column=missing[0],
                         present=[str(c) for c in table.columns], hint="pass --feature COLUMN (repeatable)")
    fitted.features = [f for f in features if f not in missing]
    if missing:
        report["gbr"] = {"skipped": "default factor columns missing: " + ", ".join(missing)
                         + "; pass --feature COLUMN (repeatable) or a mapping with 'features'"}
        notes.append("gradient boosting: " + report["gbr"]["skipped"])
        fitted.features = []
    else:
        try:
            fitted.gbr = GradientBoostingAnalysis(n_repeats=options.n_repeats, random_state=options.seed).fit(
                frame[features], y)
            report["gbr"] = fitted.gbr.summary()
        except InsufficientDataError as err:
            report["gbr"] = {"skipped": str(err)}
            notes.append(f"gradient boosting: {err}")

    report["forecast"] = forecast(envelope, options.targets, costs=cost_fits, usd_per_kwh=mapping.usd_per_kwh,
                                  n_boot=options.n_boot, random_state=options.seed, observed_max=float(x.max()))
    report["forecast_n_boot"] = options.n_boot

    group = default_group(frame, mapping)
    absent = [g for g in group if g not in frame.columns]
    if absent:
        raise TableError(f"the table has no group column '{absent[0]}'", column=absent[0],
                         present=[str(c) for c in table.columns], hint="pass --group COLUMN (repeatable)")
    reps = repeats_table(frame, group, y)
    varying = [g for g in group if frame[g].astype(str).nunique() > 1]  # label configs by what differs
    report["repeats"] = {"group": group, "n_configs": int(len(reps)), "configs": [
        {"label": ", ".join(f"{g}={row[g]}" for g in varying) or "all",
         "n": int(row["n"]), "mean": row["mean"], "sd": row["sd"], "olympic_mean": row["olympic_mean"]}
        for row in reps.to_dict("records")]}
    report["notes"] = notes
    return report, fitted


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "factor"


def draw_figures(fitted: Analysis, report: Dict[str, Any], out_dir: str) -> List[str]:
    """Draw and save every figure (PNG and PDF); return their paths relative to ``out_dir``."""
    from . import plotting

    cols = report["columns"]
    flops_label = f"training FLOPs ({cols['flops']})"
    acc_label = f"AutoAttack accuracy (%) ({cols['acc']})"
    paths: List[str] = []

    def save(fig, stem):
        paths.extend(plotting.save_figure(fig, out_dir, stem))

    save(plotting.plot_envelope(fitted.envelope, fitted.x, fitted.y, flops_label, acc_label), "envelope")
    for section, (fit, cx, cy) in fitted.costs.items():
        label = COST_SECTIONS[section][2]
        save(plotting.plot_cost_fit(fit, cx, cy, flops_label, f"{label} ({report[section]['column']})",
                                    f"{label} vs FLOPs (log-log OLS)"), section)
    if fitted.quantile is not None:
        save(plotting.plot_quantile(fitted.quantile, fitted.envelope, fitted.x, fitted.y, flops_label, acc_label),
             "quantile")
    if fitted.gbr is not None:
        save(plotting.plot_predicted_vs_true(fitted.gbr, "accuracy (%)"), "gbr_predicted_vs_true")
        save(plotting.plot_importances(fitted.gbr), "gbr_importances")
    facet = fitted.frame[fitted.facet] if fitted.facet and fitted.facet in fitted.frame.columns else None
    for feature in fitted.features:
        fig = plotting.plot_by_factor(fitted.x, fitted.y, fitted.frame[feature].rename(feature), facet,
                                      fitted.envelope, flops_label, acc_label)
        save(fig, f"acc_vs_flops_by_{_stem(feature)}")
    import os

    return [os.path.relpath(p, out_dir) for p in paths]


def analyze(table: pd.DataFrame, mapping: Mapping, out_dir: str, options: Options = Options(), *,
            source: str = "", problems: Sequence[Any] = ()) -> Dict[str, Any]:
    """Fit, draw and write ``out_dir/report.json``, ``report.md`` and the figures; return the report."""
    import os

    from .report import write_report

    report, fitted = run_analysis(table, mapping, options)
    report["source"] = source
    report["problems"] = [str(p) for p in problems]
    os.makedirs(out_dir, exist_ok=True)
    report["figures"] = draw_figures(fitted, report, out_dir) if options.figures else []
    write_report(out_dir, report)
    return report
