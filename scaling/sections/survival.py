"""Attack survival: AFT models of time-to-failure under attack, model comparison, and TRASH (Meyers et al.).

Input, either of:

* a table whose rows are attacked points (``robustperf collect --survival``, or anybody's table) with the
  mapped ``duration`` and ``event`` columns (mapping file: ``sections: {survival: {duration: ..., event: ...,
  covariates: [...]}}``);
* a results directory (or its collected run table): every completed run's ``survival.parquet`` (pointed to
  by ``survival.file``) is read and joined with its run's columns.

Our tables hold several attack configurations (``config``: ``pgd-40``, ``autoattack-standard``,
``fgm-min-eps``) whose durations are not comparable; unless ``config`` is set, the first PGD configuration
is used, and the choice is noted. The duration is FLOPs to failure unless ``duration`` names another column
(``seconds``: the wall clock, machine-dependent; a table without passes falls back to it, noted):
:mod:`scaling.survival.durations`. TRASH follows the duration: in FLOPs, or in seconds with $ and energy. The
fitting is :mod:`scaling.survival`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

import numpy as np
import pandas as pd

from ..errors import SurvivalError, TableError
from ..formatting import md_table, num
from ..survival import (FAMILIES, SurvivalMapping, energy_provenance, fit_survival, has_duration, mapping_fields,
                        survival_at, trash_table, trash_unit)
from ..survival.fields import (DATASET, DESIGN_COVARIATES, DEVICE_TABLE_PREFIX, OUTCOME_COVARIATES, TRAIN_EXECUTED,
                               TRAIN_SAMPLES, TRAIN_SECONDS, TRAIN_TOTAL, TRASH_COLUMNS)
from ..table import PATH_COLUMN, SURVIVAL_POINTER, collect_survival
from .base import Section, SkipSection


def _has_survival_files(table: pd.DataFrame) -> bool:
    """Whether ``table`` is a run table whose runs point to their survival.parquet files."""
    return (SURVIVAL_POINTER in table.columns and table[SURVIVAL_POINTER].notna().any()
            and PATH_COLUMN in table.columns)


class SurvivalSection(Section):
    title = "Attack survival (AFT models) and TRASH"
    core = ()  # reads only its own columns: runs on a table without FLOPs or accuracy
    option_keys = {key: doc for key, doc, _ in mapping_fields()}

    def _mapping(self, ctx) -> SurvivalMapping:
        try:
            return SurvivalMapping.from_dict(ctx.section_options(self.name) or None, "mapping sections.survival")
        except SurvivalError as err:  # a bad value in the mapping file is the user's mistake: stop (exit 2)
            raise TableError(str(err)) from None

    def named_columns(self, ctx) -> Dict[str, str]:
        """The duration and event columns the mapping names, when the table itself holds the points (a
        results directory's runs keep them in their survival.parquet files, checked when those are read)."""
        if _has_survival_files(ctx.table):
            return {}
        opts = ctx.section_options(self.name)
        return {f"sections.survival.{key}": str(opts[key]) for key in ("duration", "event") if opts.get(key)}

    def columns(self, ctx) -> List[str]:
        m = self._mapping(ctx)
        if has_duration(ctx.table, m) and m.event in ctx.table.columns:
            return [m.event]
        if _has_survival_files(ctx.table):
            return []  # the runs' survival.parquet files hold them (checked when they are read)
        duration = f"'{m.duration}'" if m.duration else "duration (attack_flops, attack_passes, seconds)"
        raise SkipSection(f"no survival data: no {duration} / '{m.event}' columns (sections.survival.duration/"
                          "event) and no run with a survival.parquet (robustperf run writes it; or analyze the "
                          "table of `robustperf collect --survival`)")

    def fit(self, ctx) -> Dict[str, Any]:
        m = self._mapping(ctx)
        notes: List[str] = []
        if has_duration(ctx.table, m) and m.event in ctx.table.columns:
            data = ctx.table
        else:
            data, problems = collect_survival("", ctx.table, columns=_run_columns(m, ctx.table))
            notes += problems
            if data.empty:
                raise SurvivalError("no readable survival.parquet in the runs")
        if m.config is None and "config" in data.columns and data["config"].nunique() > 1:
            configs = sorted(data["config"].dropna().unique())
            chosen = next((c for c in configs if str(c).startswith("pgd")), configs[0])
            m = dataclasses.replace(m, config=chosen)
            notes.append(f"attack configurations {', '.join(map(str, configs))}: fitted on {chosen} "
                         "(sections.survival.config picks another)")
        fit = fit_survival(data, m)
        fit.data.notes.extend(notes)
        trash = None
        unit = trash_unit(fit.mapping.duration)
        if unit is not None and m.level == "sample":
            runs = data.drop_duplicates(m.run) if m.run in data.columns else None
            columns = set(runs.columns) if runs is not None else set()
            train = (TRAIN_SECONDS,) if unit == "seconds" else (TRAIN_EXECUTED, TRAIN_TOTAL)
            if TRAIN_SAMPLES in columns and columns & set(train):
                trash = trash_table(fit, runs)
            else:
                fit.data.notes.append(f"TRASH skipped: the table has no {' or '.join(train)} / {TRAIN_SAMPLES} "
                                      "per run")
        elif m.level == "sample":
            fit.data.notes.append(f"TRASH skipped: it compares training and attack cost in FLOPs (duration "
                                  f"attack_flops) or seconds (survival.duration: seconds), not "
                                  f"{fit.mapping.duration}")
        return {"fit": fit, "trash": trash, "data": data}

    def summary(self, fitted, ctx) -> Dict[str, Any]:
        fit = fitted["fit"]
        out = fit.summary()
        trash = fitted["trash"]
        if trash is not None and len(trash):
            rows = trash.replace({np.nan: None}).to_dict(orient="records")
            unit = str(trash["unit"].iloc[0])
            cost = (f"training FLOPs ({TRAIN_EXECUTED}, else {TRAIN_TOTAL})" if unit == "flops"
                    else "measured training seconds")
            out["trash"] = {"runs": rows, "broken": int(trash["broken"].sum()), "n": int(len(trash)),
                            "model": fit.best, "unit": unit,
                            "how": f"{cost} per training sample / AFT-predicted RMST to t* in {unit} per "
                                   "attacked point (held-out); see scaling.survival.trash_table",
                            "energy_source": energy_provenance(trash["energy_source"]) if "energy_source" in trash
                            else None}
        return out

    def figures(self, fitted, ctx, save) -> None:
        fit = fitted["fit"]
        save(_calibration_figure(fit), "survival_calibration")
        save(_coefficient_figure(fit), "survival_coefficients")
        save(_curves_figure(fit, fitted["data"]), "survival_curves")
        if fitted["trash"] is not None and len(fitted["trash"]):
            save(_trash_figure(fitted["trash"], fitted["data"]), "trash")

    def markdown(self, sec, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 f"{sec['level']}-level AFT models of `{sec['duration']}` ({sec.get('duration_source', '')}; "
                 f"event `{sec['event']}`): {sec['n']} "
                 f"subjects, {sec['events']} failures; fitted on {sec['n_train']}, tested on {sec['n_test']} "
                 f"(seed {sec['seed']}); calibration at t0 = {num(sec['t0'])} ({sec['t0_source']}); RMST to "
                 f"t* = {num(sec['t_max'])}. k counts every coefficient. Best by {sec['criterion']}: "
                 f"**{sec['best']}**.", ""]
        rows = []
        for name, m in sec["models"].items():
            rows.append([name, num(m["aic"]), num(m["bic"]), num(m["concordance_train"], ".3f"),
                         num(m["concordance_test"], ".3f"), num(m.get("ici"), ".3f"), num(m.get("e50"), ".3f"),
                         num(m.get("e90"), ".3f"), num(m["rmst_test"]), str(m["k"])])
        lines += md_table(["model", "AIC", "BIC", "C train", "C test", "ICI", "E50", "E90", "RMST test", "k"], rows)
        best = sec["models"][sec["best"]]
        lines += ["", f"Coefficients of the log scale ({sec['best']}; positive lengthens survival):", ""]
        lines += md_table(["covariate", "coefficient", "95 % CI"],
                          [[c, num(v), f"[{num(best['coefficients_ci'][c][0])}, {num(best['coefficients_ci'][c][1])}]"]
                           for c, v in best["coefficients"].items()])
        trash = sec.get("trash")
        if trash:
            unit = trash.get("unit", "seconds")
            lines += ["", f"TRASH (training {unit} per sample / expected attack {unit} per sample, "
                          f"{trash['model']}): {trash['broken']} of {trash['n']} runs > 1 (broken)."
                      + (f" Energy from: {trash['energy_source']}." if trash.get("energy_source") else ""), ""]
            lines += md_table(["run", "TRASH", "empirical", "$", "energy", "broken"],
                              [[r["run_id"], num(r["trash"]), num(r["trash_empirical"]), num(r.get("trash_usd")),
                                num(r.get("trash_energy")), str(r["broken"])] for r in trash["runs"]])
        for note in sec.get("notes", []):
            lines.append(f"- note: {note}")
        lines.append("")
        return lines


def _run_columns(m: SurvivalMapping, runs: pd.DataFrame) -> List[str]:
    """The run columns a fit and TRASH read: covariates, TRASH inputs, the device table, the dataset."""
    wanted = set(m.covariates or DESIGN_COVARIATES) | set(OUTCOME_COVARIATES) | set(TRASH_COLUMNS)
    wanted |= {c for c in runs.columns if c.startswith(DEVICE_TABLE_PREFIX)}
    return sorted(c for c in runs.columns if c in wanted)


def _figure(width: float, height: float):
    from ..plotting import new_figure  # matplotlib deferred: loaded only when figures are drawn

    return new_figure(width, height)


def _calibration_figure(fit):
    fig = _figure(4.0 * len(fit.models), 3.8)
    axes = fig.subplots(1, len(fit.models), squeeze=False)[0]
    for ax, (name, model) in zip(axes, fit.models.items()):
        for cal, color, label in ((model.calibration_train, "tab:red", "train"),
                                  (model.calibration_test, "tab:blue", "test")):
            if cal.get("predicted") is not None:
                ax.plot(cal["predicted"], cal["observed"], color=color,
                        label=f"{label} (ICI {cal['ici']:.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"predicted P(T <= t0={fit.t0:.3g})")
        ax.set_ylabel("observed (CRC spline)")
        ax.set_title(name)
        ax.legend(fontsize=8)
    return fig


def _coefficient_figure(fit):
    fig = _figure(4.2 * len(fit.models), 0.5 + 0.35 * max(2, len(fit.data.covariates) + 1))
    axes = fig.subplots(1, len(fit.models), squeeze=False, sharey=True)[0]
    for ax, (name, model) in zip(axes, fit.models.items()):
        coef = {k: v for k, v in model.metrics["coefficients"].items() if k != "Intercept"}
        ci = model.metrics["coefficients_ci"]
        names = list(coef)
        y = np.arange(len(names))
        values = np.array([coef[n] for n in names])
        lo = values - np.array([ci[n][0] for n in names])
        hi = np.array([ci[n][1] for n in names]) - values
        ax.errorbar(values, y, xerr=[lo, hi], fmt="o", color="tab:blue", capsize=3)
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=8)
        ax.set_xlabel(f"{FAMILIES[name][1]} coefficient (95 % CI)")
        ax.set_title(name)
    return fig


def _curves_figure(fit, data: pd.DataFrame):
    """Mean predicted survival of the best model per level (quartile) of a covariate, with Kaplan-Meier."""
    from lifelines import KaplanMeierFitter  # lifelines deferred: loaded only by a survival analysis

    frame = fit.data.frame
    by = fit.mapping.by
    design = [c for c, src in fit.data.columns.items() if src == by] if by else []
    if not design:
        design = fit.data.covariates[:1]
    fig = _figure(5.5, 4.0)
    ax = fig.add_subplot()
    grid = np.linspace(0.0, fit.t_max, 120)
    model = fit.models[fit.best].fitter
    if not design:
        groups = {"all": np.ones(len(frame), dtype=bool)}
        label = ""
    elif len(design) > 1 or set(frame[design[0]].unique()) <= {0.0, 1.0}:
        source = fit.data.columns[design[0]]
        groups = {f"{source} = {fit.data.references.get(source, 'reference')}":
                  (frame[design].sum(axis=1) == 0).to_numpy()}
        groups.update({d: (frame[d] == 1).to_numpy() for d in design})
        label = source
    else:
        values = frame[design[0]]
        if values.nunique() > 6:
            q = pd.qcut(values, 4, duplicates="drop")
            groups = {f"{design[0]} in {interval}": (q == interval).to_numpy() for interval in q.cat.categories}
        else:
            groups = {f"{design[0]} = {v:.3g}": (values == v).to_numpy() for v in sorted(values.unique())}
        label = design[0]
    for i, (name, mask) in enumerate(groups.items()):
        if mask.sum() == 0:
            continue
        color = f"C{i % 10}"
        rows = frame[mask]
        sample = rows.sample(n=min(len(rows), 500), random_state=0)
        ax.plot(grid, survival_at(model, sample, grid).mean(axis=1), color=color, label=f"{name} (n={mask.sum()})")
        km = KaplanMeierFitter().fit(rows["T"], rows["E"])
        ax.step(km.survival_function_.index, km.survival_function_.iloc[:, 0], where="post", color=color, lw=0.8,
                ls="--")
    ax.set_xlabel(f"{fit.mapping.duration} (time to failure)")
    ax.set_ylabel("S(t): fraction of points not yet broken")
    ax.set_title(f"{fit.best} AFT (solid), Kaplan-Meier (dashed)" + (f"\nby {label}" if label else ""), fontsize=10)
    ax.legend(fontsize=7)
    return fig


def _trash_figure(trash: pd.DataFrame, data: pd.DataFrame):
    """TRASH per run, one panel per dataset and device, log y axis, the line at 1 (broken above)."""
    runs = data.drop_duplicates("run_id").set_index("run_id")
    dataset = runs[DATASET] if DATASET in runs.columns else pd.Series("data", runs.index)
    t = trash.copy()
    t["dataset"] = [str(dataset.get(r, "?")) for r in t["run_id"]]
    t["device_name"] = [str(d) if d is not None else "unknown device" for d in t["device"]]
    panels = sorted({(d, v) for d, v in zip(t["dataset"], t["device_name"])})
    fig = _figure(4.0 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (ds, dev) in zip(axes, panels):
        part = t[(t["dataset"] == ds) & (t["device_name"] == dev)].sort_values("trash")
        x = np.arange(len(part))
        ax.scatter(x, part["trash"], color=np.where(part["trash"] > 1, "tab:red", "tab:blue"), s=16,
                   label="AFT (RMST)")
        ax.scatter(x, part["trash_empirical"], marker="x", color="0.5", s=14, label="empirical mean")
        ax.axhline(1.0, color="tab:red", lw=1.0)
        ax.set_yscale("log")
        ax.set_xlabel("runs (sorted)")
        ax.set_title(f"{ds} on {dev}")
    unit = "FLOPs" if "unit" in t and (t["unit"] == "flops").all() else "s"
    axes[0].set_ylabel(f"TRASH = train {unit}/sample / attack {unit}/sample")
    axes[0].legend(fontsize=7)
    return fig

