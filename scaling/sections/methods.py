"""Methods: what robustness costs over standard training, method by method (the methods study, issue 13).

Within each *setting* (dataset x model), every training method's cost (training FLOPs, train time, kWh) is
divided by ``standard``'s: paired by seed where both ran it (the ratio per seed), else every method run over
the standard mean. The report gives the mean ratio with a 95 % t-interval over the repeats, the olympic mean
(MLPerf: best and worst dropped, >= 3 runs) of each method's accuracies, and the Pareto front of clean
accuracy, AutoAttack accuracy and cost (a method is on it when no other method of the setting is at least as
good on all three and better on one). Figures: cost ratios per method with their intervals, and AutoAttack
accuracy against the FLOP ratio with the front (PNG + PDF).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
from scipy import stats

from results import Accuracy, Energy, Flops, Timing
from results.config_paths import config_path

from ..errors import ScalingError
from ..regression import olympic_mean
from ..formatting import md_table, num
from .base import Section

METHOD = config_path("training.loss")
SEED = config_path("seed")
#: Columns that identify a setting (the ones present are used).
SETTING = tuple(config_path(key) for key in ("data.name", "model.arch", "model.depth", "model.width"))
#: Costs divided by standard's: (column, short name).
COSTS = ((Flops.path("train_total"), "flops"), (Timing.path("train_seconds"), "train_seconds"),
         (Energy.path("kwh"), "kwh"))
ACCURACIES = ((Accuracy.path("clean"), "clean"), (Accuracy.path("autoattack"), "autoattack"))
#: Method columns that tell variants apart (TRADES beta, PGD steps, AWP, ...); the seed never does.
VARIANT_PREFIXES = (config_path("training") + ".", config_path("attack") + ".")
#: Column prefixes that never tell variants apart (the per-epoch selection: every ``training.select*`` key, and
#: the epochs).
NOT_VARIANTS = (config_path("training") + ".select", config_path("training.epochs"))


def _t_interval(values: List[float]) -> Optional[List[float]]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size < 2:
        return None
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return [float(v.mean() - half), float(v.mean() + half)]


def _labels(frame: pd.DataFrame) -> pd.Series:
    """``at`` / ``trades (trades_beta=3)``: the method plus whatever varies among its runs in the table."""
    cols = [c for c in frame.columns if c.startswith(VARIANT_PREFIXES) and c not in (METHOD, SEED)
            and not c.startswith(NOT_VARIANTS)]
    out = []
    for _, row in frame.iterrows():
        same = frame[frame[METHOD] == row[METHOD]]
        varying = [c for c in cols if same[c].astype(str).nunique() > 1]
        extra = ", ".join(f"{c.split('.')[-1]}={row[c]}" for c in varying)
        out.append(f"{row[METHOD]}" + (f" ({extra})" if extra else ""))
    return pd.Series(out, index=frame.index)


def pareto(points: List[Dict[str, Any]], keys_up=("clean", "autoattack"), key_down="flops_ratio") -> List[bool]:
    """Non-dominated flags: higher is better for ``keys_up``, lower for ``key_down`` (missing values skipped)."""
    def vec(p):
        return [p.get(k) for k in keys_up] + [-p[key_down] if p.get(key_down) is not None else None]

    vecs = [vec(p) for p in points]
    flags = []
    for i, a in enumerate(vecs):
        dims = [d for d in range(len(a)) if a[d] is not None and np.isfinite(a[d])]
        dominated = False
        for j, b in enumerate(vecs):
            if i == j or any(b[d] is None or not np.isfinite(b[d]) for d in dims):
                continue
            if all(b[d] >= a[d] for d in dims) and any(b[d] > a[d] for d in dims):
                dominated = True
                break
        flags.append(bool(dims) and not dominated)
    return flags


class MethodsSection(Section):
    title = "Cost of robustness by training method"
    core = ()  # reads only its own columns: runs on a table without FLOPs or accuracy

    def columns(self, ctx):
        return [METHOD, COSTS[0][0]]

    def fit(self, ctx):
        table = ctx.table.copy()
        if "status" in table.columns:
            table = table[table["status"] == "completed"]
        if "standard" not in set(table[METHOD].astype(str)):
            raise ScalingError("no run of the baseline method 'standard', so no cost ratio")
        setting_cols = [c for c in SETTING if c in table.columns]
        table["_method"] = _labels(table)
        settings = []
        groups = table.groupby(setting_cols, dropna=False, sort=True) if setting_cols else [((), table)]
        for key, frame in groups:
            key = key if isinstance(key, tuple) else (key,)
            base = frame[frame[METHOD] == "standard"]
            if base.empty:
                continue
            rows = []
            for label, runs in frame.groupby("_method", sort=False):
                row: Dict[str, Any] = {"method": label, "n": int(len(runs))}
                for col, short in COSTS:
                    if col not in frame.columns:
                        continue
                    ratios = self._ratios(runs, base, col)
                    row[f"{short}_ratio"] = float(np.mean(ratios)) if ratios else None
                    row[f"{short}_ratio_ci"] = _t_interval(ratios)
                for col, short in ACCURACIES:
                    if col in frame.columns:
                        values = pd.to_numeric(runs[col], errors="coerce").tolist()
                        finite = [v for v in values if np.isfinite(v)]
                        row[short] = float(np.mean(finite)) if finite else None
                        om = olympic_mean(values)
                        row[f"{short}_olympic_mean"] = None if math.isnan(om) else om
                rows.append(row)
            for row, flag in zip(rows, pareto(rows)):
                row["pareto"] = flag
            settings.append({"setting": {c: (None if pd.isna(v) else v) for c, v in zip(setting_cols, key)},
                             "methods": rows})
        if not settings:
            raise ScalingError("no setting (dataset x model) has a 'standard' run")
        return {"settings": settings}

    @staticmethod
    def _ratios(runs: pd.DataFrame, base: pd.DataFrame, col: str) -> List[float]:
        value = pd.to_numeric(runs[col], errors="coerce")
        ref = pd.to_numeric(base[col], errors="coerce")
        if SEED in runs.columns:
            by_seed = dict(zip(base[SEED], ref))
            paired = [v / by_seed[s] for s, v in zip(runs[SEED], value)
                      if s in by_seed and np.isfinite(v) and np.isfinite(by_seed[s]) and by_seed[s] > 0]
            if paired:
                return paired
        mean = ref[np.isfinite(ref) & (ref > 0)].mean()
        return [float(v / mean) for v in value if np.isfinite(v)] if np.isfinite(mean) else []

    def summary(self, fitted, ctx):
        return fitted

    def figures(self, fitted, ctx, save):
        import matplotlib.pyplot as plt  # matplotlib deferred: loaded only when figures are drawn

        for i, setting in enumerate(fitted["settings"]):
            rows = [r for r in setting["methods"] if r.get("flops_ratio") is not None]
            if not rows:
                continue
            name = " ".join(str(v) for v in setting["setting"].values() if v is not None) or "all runs"
            fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.5))
            labels = [r["method"] for r in rows]
            for k, (short, color) in enumerate((("flops", "C0"), ("train_seconds", "C1"), ("kwh", "C2"))):
                vals = [r.get(f"{short}_ratio") for r in rows]
                if all(v is None for v in vals):
                    continue
                pos = np.arange(len(rows)) + 0.25 * k
                err = np.array([[r[f"{short}_ratio"] - r[f"{short}_ratio_ci"][0],
                                 r[f"{short}_ratio_ci"][1] - r[f"{short}_ratio"]]
                                if r.get(f"{short}_ratio_ci") else [0, 0] for r in rows]).T
                ax.barh(pos, [v or 0 for v in vals], height=0.25, color=color, xerr=err, label=short)
            ax.set_yticks(np.arange(len(rows)) + 0.25)
            ax.set_yticklabels(labels)
            ax.set_xlabel("cost / standard training's (mean over repeats, 95 % interval)")
            ax.set_title(f"Cost of robustness: {name}")
            ax.legend()
            fig.tight_layout()
            save(fig, f"methods_cost_{i}")
            plt.close(fig)
            pts = [r for r in rows if r.get("autoattack") is not None]
            if pts:
                fig, ax = plt.subplots(figsize=(6, 4.5))
                for r in pts:
                    ax.scatter(r["flops_ratio"], r["autoattack"], color="C3" if r["pareto"] else "C7")
                    ax.annotate(r["method"], (r["flops_ratio"], r["autoattack"]), fontsize=7)
                front = sorted((r for r in pts if r["pareto"]), key=lambda r: r["flops_ratio"])
                ax.plot([r["flops_ratio"] for r in front], [r["autoattack"] for r in front], "C3--", lw=1,
                        label="Pareto front (clean, AutoAttack, FLOPs)")
                ax.set_xscale("log")
                ax.set_xlabel("training FLOPs / standard's")
                ax.set_ylabel("AutoAttack accuracy (%)")
                ax.set_title(name)
                ax.legend(fontsize=8)
                fig.tight_layout()
                save(fig, f"methods_pareto_{i}")
                plt.close(fig)

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 "Cost ÷ `standard` training on the same dataset and model (mean over repeats, paired by seed; "
                 "95 % t-interval), accuracies as mean and olympic mean (best and worst run dropped, >= 3 runs); "
                 "* = on the Pareto front of clean accuracy, AutoAttack accuracy and FLOPs.", ""]

        def ratio(row, short):
            value, ci = row.get(f"{short}_ratio"), row.get(f"{short}_ratio_ci")
            if value is None:
                return "-"
            return num(value, ".3g") + (f" [{num(ci[0], '.3g')}, {num(ci[1], '.3g')}]" if ci else "")

        for setting in part.get("settings", []):
            name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in setting["setting"].items()) or "all runs"
            lines += [f"### {name}", ""]
            lines += md_table(
                ["method", "n", "FLOPs ratio", "time ratio", "kWh ratio", "clean", "clean (olympic)", "AutoAttack",
                 "AutoAttack (olympic)", "Pareto"],
                [[r["method"], str(r["n"]), ratio(r, "flops"), ratio(r, "train_seconds"), ratio(r, "kwh"),
                  num(r.get("clean"), ".2f"), num(r.get("clean_olympic_mean"), ".2f"),
                  num(r.get("autoattack"), ".2f"), num(r.get("autoattack_olympic_mean"), ".2f"),
                  "*" if r.get("pareto") else ""] for r in setting["methods"]])
            lines.append("")
        return lines
