"""Quantile regression of accuracy on log10 FLOPs at q = 0.9 and q = 0.1 (the 10 % most efficient runs:
accuracy *is* the output, so low quantiles are the least efficient; we report both ends), with an optional
year/time column as the algorithmic-progress trend: ``acc = a + b * log10 FLOPs (+ c * (time - t0))``."""
from __future__ import annotations

import warnings
from typing import List

import numpy as np

from ..errors import ConvergenceError, InsufficientDataError
from ..formatting import ci_text, md_table, num
from .base import Section


def quantile_fit(design_cols, names, y, q: float, ci: float = 0.95) -> dict:
    # statsmodels deferred: loaded only by the fits that use it
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, IterationLimitWarning

    X = sm.add_constant(np.column_stack(design_cols), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", IterationLimitWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = sm.QuantReg(y, X).fit(q=q, max_iter=5000)
        except (IterationLimitWarning, ConvergenceWarning) as err:
            raise ConvergenceError(f"quantile regression q={q:g}", str(err)) from None
    lo, hi = np.asarray(res.conf_int(alpha=1 - ci)).T
    keys = ("intercept",) + tuple(names)
    pred = res.predict(X)
    return {"q": q, "params": {k: float(v) for k, v in zip(keys, res.params)},
            "params_ci": {k: [float(a), float(b)] for k, a, b in zip(keys, lo, hi)}, "n": int(len(y)),
            "share_below": float(np.mean(y <= pred + 1e-9))}


class QuantileTrendSection(Section):
    title = "Quantile regression with a time trend"
    needs = ("envelope",)

    def columns(self, ctx) -> List[str]:
        return [ctx.mapping.time] if ctx.mapping.time else []

    def fit(self, ctx):
        alive = ctx.y > ctx.options.collapse
        cols, names = [np.log10(ctx.x[alive])], ["log10_flops"]
        time_col, t0 = ctx.mapping.time, None
        if time_col:
            t = ctx.numeric(time_col, "time", "--time-col", frame=ctx.frame).to_numpy()[alive]
            ok = np.isfinite(t)
            t0 = float(np.nanmin(t)) if ok.any() else 0.0
            cols = [c[ok] for c in cols] + [t[ok] - t0]
            names.append("per_time_unit")
            y = ctx.y[alive][ok]
        else:
            y = ctx.y[alive]
        if len(y) < 2 + len(names):
            raise InsufficientDataError("quantile trend", 2 + len(names), int(len(y)))
        fits = [quantile_fit(cols, names, y, q) for q in ctx.options.quantiles]
        return {"time": time_col, "time_origin": t0, "model": "acc = intercept + log10_flops * log10(FLOPs)"
                + (" + per_time_unit * (time - time_origin)" if time_col else ""), "fits": fits}

    def summary(self, fitted, ctx):
        return fitted

    def markdown(self, part, report) -> List[str]:
        names = list(part["fits"][0]["params"])
        rows = [[f"{f['q']:g}"] + [f"{num(f['params'][k], '.4g')} {ci_text(f['params_ci'][k], '.3g')}" for k in names]
                + [f"{100 * f['share_below']:.1f} %", str(f["n"])] for f in part["fits"]]
        lines = [f"## {self.title}", "", f"`{part['model']}`" + (f"; time column `{part['time']}`, origin "
                                                                 f"{part['time_origin']:g}" if part["time"] else
                                                                 "; no time column (pass --time-col)") + ".", ""]
        return lines + md_table(["q"] + names + ["runs at or below", "n"], rows)
