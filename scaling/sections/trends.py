"""The compute trend of published models: log-linear growth of parameters and FLOPs per year (doubling time and
its 95 % interval, overall and per era), robust accuracy against year and against FLOPs, and the frontier by
year. Needs a time column (``--time-col`` / mapping ``time``; the RobustBench adapter derives ``year``). With
``sections.trends.train_flops: COLUMN`` also the doubling time of training compute (the RobustBench adapter's
``train_flops_estimated``: estimated from training cards, labelled so) over the models that have it."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import InsufficientDataError, TableError
from ..formatting import ci_text, md_table, num
from .base import Section, SkipSection

LOG2 = math.log10(2.0)


def growth_fit(year: np.ndarray, value: np.ndarray, era: str, ci: float = 0.95) -> Dict[str, Any]:
    """OLS of log10(value) on year: slope per year, doubling time ``log10(2) / slope`` years with the interval
    from the slope's (an upper end is unbounded when the slope's interval reaches 0)."""
    import statsmodels.api as sm  # statsmodels deferred: loaded only by the fits that use it

    ok = np.isfinite(year) & np.isfinite(value) & (value > 0)
    year, value = year[ok], value[ok]
    if year.size < 3 or np.unique(year).size < 2:
        raise InsufficientDataError(f"growth of {era}", 3, int(year.size), "needs >= 2 distinct years")
    res = sm.OLS(np.log10(value), sm.add_constant(year, has_constant="add")).fit()
    lo, hi = np.asarray(res.conf_int(alpha=1 - ci))[1]
    slope = float(res.params[1])
    doubling = LOG2 / slope if slope > 0 else None
    return {"era": era, "n": int(year.size), "year_min": float(year.min()), "year_max": float(year.max()),
            "slope": slope, "slope_ci": [float(lo), float(hi)], "intercept": float(res.params[0]),
            "r2": float(res.rsquared), "growth_per_year": 10 ** slope, "growth_5_years": 10 ** (5 * slope),
            "doubling_years": doubling,
            "doubling_years_ci": [LOG2 / hi if hi > 0 else None, LOG2 / lo if lo > 0 else None]}


def _eras(year: np.ndarray, split: Optional[float]):
    yield "all", np.ones(year.size, dtype=bool)
    if split is not None:
        yield f"before {split:g}", year < split
        yield f"{split:g} on", year >= split


class TrendsSection(Section):
    title = "Compute trend of published models"
    option_keys = {"params": "parameter-count column (default params)",
                   "era_split_year": "year at which a second era starts (fits before and from it)",
                   "label": "column naming a model in the frontier table (default model_id, else name)",
                   "train_flops": "column of training FLOPs (e.g. train_flops_estimated): its doubling time too"}
    #: how each fitted quantity was obtained, as the report labels it
    BASIS = {"train_flops": "estimated-from-card"}

    def named_columns(self, ctx) -> Dict[str, str]:
        opts = ctx.section_options(self.name)
        return {f"sections.trends.{key}": str(opts[key]) for key in ("params", "label", "train_flops")
                if opts.get(key) is not None}

    def columns(self, ctx) -> List[str]:
        if not ctx.mapping.time:
            raise SkipSection("no time column (pass --time-col or a mapping with 'time')")
        return [ctx.mapping.time, ctx.section_options(self.name).get("params", "params")]

    def fit(self, ctx):
        opts = ctx.section_options(self.name)
        split = opts.get("era_split_year")
        if split is not None and (isinstance(split, bool) or not isinstance(split, (int, float))):
            raise TableError(f"sections.trends.era_split_year must be a year, got {split!r}")
        table = ctx.table
        year = ctx.numeric(ctx.mapping.time, "time", "--time-col").to_numpy()
        params = ctx.numeric(opts.get("params", "params"), "parameters").to_numpy()
        flops = ctx.x_all.to_numpy()
        series = [("params", params), ("flops", flops)]
        if opts.get("train_flops") is not None:
            series.append(("train_flops", ctx.numeric(opts["train_flops"], "training FLOPs").to_numpy()))
        growth: Dict[str, List[Dict[str, Any]]] = {key: [] for key, _ in series}
        for key, values in series:
            for era, mask in _eras(year, split):
                try:
                    growth[key].append(dict(growth_fit(year[mask], values[mask], era),
                                            **({"basis": self.BASIS[key]} if key in self.BASIS else {})))
                except InsufficientDataError as err:
                    growth[key].append({"era": era, "skipped": str(err)})
        # accuracy against year and against FLOPs (the used rows: FLOPs and accuracy known)
        fy = ctx.numeric(ctx.mapping.time, "time", "--time-col", frame=ctx.frame).to_numpy()
        acc_year = _ols(fy, ctx.y, "points per year")
        acc_flops = _ols(np.log10(ctx.x), ctx.y, "points per decade of FLOPs")
        # frontier by year over every row with a year and an accuracy
        label_col = opts.get("label") or next((c for c in ("model_id", "name") if c in table.columns), None)
        acc_all = ctx.numeric(ctx.columns["acc"], "accuracy").to_numpy()
        frontier, best = [], -np.inf
        for y in sorted(set(year[np.isfinite(year) & np.isfinite(acc_all)])):
            idx = np.flatnonzero((year == y) & np.isfinite(acc_all))
            top = idx[np.argmax(acc_all[idx])]
            best = max(best, float(acc_all[top]))
            frontier.append({"year": float(y), "n": int(idx.size), "best": float(acc_all[top]), "best_so_far": best,
                             "model": str(table[label_col].iloc[top]) if label_col else f"row {top}"})
        return {"time": ctx.mapping.time, "params_column": opts.get("params", "params"),
                "train_flops_column": opts.get("train_flops"),
                "flops_column": ctx.columns["flops"], "era_split_year": split, "growth": growth,
                "accuracy_vs_year": acc_year, "accuracy_vs_flops": acc_flops, "frontier": frontier,
                "how": "log-linear OLS of the measured/transferred per-model values against publication year"}

    def summary(self, fitted, ctx):
        return fitted

    def figures(self, part, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        year = ctx.numeric(ctx.mapping.time, "time", "--time-col").to_numpy()
        params = ctx.numeric(part["params_column"], "parameters").to_numpy()
        series = [("params", params, "parameters"), ("flops", ctx.x_all.to_numpy(), f"FLOPs ({part['flops_column']})")]
        if part.get("train_flops_column"):
            series.append(("train_flops", ctx.numeric(part["train_flops_column"], "training FLOPs").to_numpy(),
                           "training FLOPs (estimated-from-card)"))
        for key, values, label in series:
            ok = np.isfinite(year) & np.isfinite(values) & (values > 0)
            fits = [f for f in part["growth"][key] if "skipped" not in f]
            save(plotting.plot_trend(year[ok], values[ok], fits, label, f"{label} by year"), f"trend_{key}")
        fy = ctx.numeric(ctx.mapping.time, "time", "--time-col", frame=ctx.frame).to_numpy()
        fr = part["frontier"]
        save(plotting.plot_accuracy_by_year(fy, ctx.y, [f["year"] for f in fr], [f["best_so_far"] for f in fr],
                                            ctx.acc_label), "accuracy_by_year")

    def console(self, part) -> List[str]:
        out = []
        for key in part["growth"]:
            for f in part["growth"][key]:
                if "skipped" in f:
                    continue
                head = f"doubling time of {key}{' ' + f['basis'] if f.get('basis') else ''} ({f['era']}, {f['n']} models, {f['year_min']:g}-{f['year_max']:g}): "
                if f["doubling_years"] is None:
                    out.append(head + f"not growing (slope {f['slope']:.3g} decades/year), 95% CI of the doubling "
                                      f"time [{_years(f['doubling_years_ci'][0])}, ∞]")
                else:
                    out.append(head + f"{_years(f['doubling_years'])} years, 95% CI "
                               f"[{_years(f['doubling_years_ci'][0])}, {_years(f['doubling_years_ci'][1])}]")
        return out

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 f"log10(value) = intercept + slope · {part['time']} by OLS; doubling time = log10 2 / slope "
                 "(years; ∞ when the slope's interval reaches 0).", ""]
        rows = []
        for key in part["growth"]:
            for f in part["growth"][key]:
                label = f"{key} ({self.BASIS[key]})" if key in self.BASIS else key
                if "skipped" in f:
                    rows.append([label, f["era"], "skipped: " + f["skipped"], "", "", "", ""])
                    continue
                rows.append([label, f["era"], str(f["n"]),
                             _years(f["doubling_years"]) if f["doubling_years"] else "not growing",
                             ci_text(f["doubling_years_ci"], ".3g"), num(f["growth_5_years"], ".3g"),
                             num(f["r2"], ".3f")])
        lines += md_table(["quantity", "era", "n", "doubling (years)", "95 % CI", "growth in 5 years", "R²"], rows)
        a, b = part["accuracy_vs_year"], part["accuracy_vs_flops"]
        lines += [f"Robust accuracy rises {num(a['slope'], '.3g')} {a['unit']} {ci_text(a['slope_ci'], '.3g')} "
                  f"(n = {a['n']}) and {num(b['slope'], '.3g')} {b['unit']} {ci_text(b['slope_ci'], '.3g')}.", ""]
        lines += ["Frontier by year:", ""] + md_table(
            ["year", "models", "best that year", "best so far", "model"],
            [[f"{f['year']:g}", str(f["n"]), num(f["best"], ".4g"), num(f["best_so_far"], ".4g"), f["model"]]
             for f in part["frontier"]])
        return lines


def _ols(u: np.ndarray, v: np.ndarray, unit: str) -> Dict[str, Any]:
    import statsmodels.api as sm  # statsmodels deferred: loaded only by the fits that use it

    ok = np.isfinite(u) & np.isfinite(v)
    if ok.sum() < 3 or np.unique(u[ok]).size < 2:
        return {"unit": unit, "n": int(ok.sum()), "slope": None, "slope_ci": None}
    res = sm.OLS(v[ok], sm.add_constant(u[ok], has_constant="add")).fit()
    lo, hi = np.asarray(res.conf_int(alpha=0.05))[1]
    return {"unit": unit, "n": int(ok.sum()), "slope": float(res.params[1]), "slope_ci": [float(lo), float(hi)],
            "intercept": float(res.params[0]), "r2": float(res.rsquared)}


def _years(v: Optional[float]) -> str:
    return "∞" if v is None else f"{v:.3g}"
