"""Candidate accuracy laws on the envelope points, chosen by backtesting, and their forecast with split-conformal
and bootstrap intervals (see :mod:`scaling.accuracy_laws` for the method and its references)."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ..accuracy_laws import (LAWS, backtest, bootstrap_invert, conformal_flops_interval, conformal_quantile,
                             make_law)
from ..errors import InsufficientDataError, ScalingError
from ..formatting import ci_text, md_table, num
from ..units import mapping_units, markdown_rows, picture, settings
from .base import Section

NOT_REACHABLE = "not reachable under this law"


class LawsSection(Section):
    """Every candidate law fitted on the envelope points (the best run of each FLOP bin)."""

    title = "Candidate laws on the envelope points"
    per_group = True
    needs = ("envelope",)

    def fit(self, ctx):
        env = ctx.fits["envelope"]
        fits: Dict[str, Any] = {}
        for law in LAWS:
            try:
                fits[law] = make_law(law).fit(env.points_x_, env.points_y_)
            except ScalingError as err:
                fits[law] = err
        if not any(not isinstance(f, Exception) for f in fits.values()):
            raise InsufficientDataError("candidate laws", 4, len(env.points_x_), "no law could be fitted")
        return fits

    def summary(self, fits, ctx):
        return {law: ({"failed": str(f)} if isinstance(f, Exception) else f.summary()) for law, f in fits.items()}

    def figures(self, fits, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        env = ctx.fits["envelope"]
        ok = {k: v for k, v in fits.items() if not isinstance(v, Exception)}
        save(plotting.plot_laws(ok, ctx.x, ctx.y, env.points_x_, env.points_y_, ctx.flops_label, ctx.acc_label),
             "laws")

    def markdown(self, part, report) -> List[str]:
        rows = []
        for law, s in part.items():
            if law == "groups":  # the per-group fits (--by), rendered by scaling.groups
                continue
            if "failed" in s:
                rows.append([f"`{law}`", "failed: " + s["failed"], "", "", "", ""])
                continue
            params = ", ".join(f"{k} = {num(v)}" + (f" {ci_text(s['params_ci'][k], '.3g')}" if k in s["params_ci"]
                                                     else "") for k, v in s["params"].items())
            rows.append([f"`{law}`", s["formula"], params, num(s["asymptote"]), num(s["r2"], ".3f"),
                         num(s["rmse"], ".3g")])
        return [f"## {self.title}", "", "Fitted on the envelope points; 95 % Wald intervals in brackets. The "
                "asymptote is the accuracy the law never exceeds (– = unbounded).", ""] + md_table(
            ["law", "form", "parameters", "asymptote", "R²", "RMSE"], rows)


class BacktestSection(Section):
    """Extrapolation loss of each law at each compute cut; the law with the smallest mean is chosen."""

    title = "Backtest: which law extrapolates"
    needs = ("laws",)

    def fit(self, ctx):
        env = ctx.fits["envelope"]
        laws = [law for law, f in ctx.fits["laws"].items() if not isinstance(f, Exception)]
        result = backtest(env.points_x_, env.points_y_, laws, ctx.options.cuts)
        if result["chosen"] is None:
            raise InsufficientDataError("backtest", 4, len(env.points_x_), "no law could be scored at every cut")
        level = ctx.options.conformal_level
        scores = result["residuals"][result["chosen"]]
        result["conformal"] = {"level": level, "q": conformal_quantile(scores, level), "n_scores": len(scores),
                               "scores": "absolute extrapolation residuals of the chosen law over all cuts"}
        return result

    def summary(self, result, ctx):
        out = {k: v for k, v in result.items() if k != "residuals"}
        out["n_residuals"] = {law: len(r) for law, r in result["residuals"].items()}
        return out

    def markdown(self, b, report) -> List[str]:
        header = ["law"] + [f"cut {100 * c:g} % ({n} fit / {m} held out)" for c, n, m in
                            zip(b["cuts"], b["n_fit"], b["n_test"])] + ["mean"]
        rows = []
        for law, errs in b["errors"].items():
            name = f"**{law}** (chosen)" if law == b["chosen"] else law
            rows.append([name] + [num(e, ".3g") for e in errs] + [num(b["mean_error"][law], ".3g")])
        c = b["conformal"]
        return [f"## {self.title}", "",
                "Each law is fitted on the envelope points below a compute cut (the cheapest share of the log FLOP "
                "range) and scored by its RMSE (accuracy points) on the points above it; the law with the smallest "
                "mean extrapolation error is used for forecasts (Alabdulmohsin et al. 2022).", ""] + md_table(
            header, rows) + [f"Split-conformal half-width at {100 * c['level']:g} %: ±{num(c['q'], '.3g')} points "
                             f"(from {c['n_scores']} backtest residuals of `{b['chosen']}`).", ""]


class LawForecastSection(Section):
    """FLOPs to reach each target under the chosen law: conformal and bootstrap intervals, pictured costs."""

    title = "Forecast under the chosen law"
    needs = ("backtest",)

    def fit(self, ctx):
        o = ctx.options
        env = ctx.fits["envelope"]
        b = ctx.fits["backtest"]
        chosen = b["chosen"]
        law = ctx.fits["laws"][chosen]
        q = b["conformal"]["q"]
        boot, p_unreach, n_ok = bootstrap_invert(chosen, env.points_x_, env.points_y_, o.targets, o.n_boot,
                                                 random_state=o.seed)
        observed_max = float(ctx.x.max())
        rows = []
        for j, target in enumerate(o.targets):
            flops = float(law.invert(target))
            reachable = bool(np.isfinite(flops))
            row = {"target": float(target), "law": chosen, "reachable": reachable,
                   "flops": flops if reachable else None,
                   "conformal_ci": list(conformal_flops_interval(law, target, q)),
                   "bootstrap_ci": boot[j], "p_unreachable": p_unreach[j],
                   "extrapolation": bool(not reachable or flops > observed_max)}
            if not reachable:
                asym = law.asymptote
                row["note"] = NOT_REACHABLE + (f" (asymptote {asym:.4g} %)" if asym is not None else "")
            else:
                row["pictured"] = picture(flops, mapping_units(ctx.mapping))
            rows.append(row)
        by_law = {}
        for name, fitted in ctx.fits["laws"].items():
            if isinstance(fitted, Exception):
                continue
            xs = fitted.invert(np.asarray(o.targets, dtype=float))
            by_law[name] = [float(v) if np.isfinite(v) else None for v in xs]
        return {"law": chosen, "units": settings(mapping_units(ctx.mapping)),
                "conformal_level": b["conformal"]["level"], "conformal_q": q, "n_boot": int(o.n_boot), "n_boot_ok": n_ok, "rows": rows, "by_law": by_law,
                "how": "extrapolated: the chosen law inverted at each target; intervals from split-conformal "
                       "backtest residuals and from a bootstrap of the envelope points"}

    def summary(self, fitted, ctx):
        return fitted

    def markdown(self, f, report) -> List[str]:
        lines = [f"## {self.title} (`{f['law']}`)", "",
                 f"FLOPs to reach each target by inverting `{f['law']}`; {100 * f['conformal_level']:g} % "
                 f"split-conformal interval (band ±{num(f['conformal_q'], '.3g')} points) and 95 % bootstrap "
                 f"interval ({f['n_boot_ok']} of {f['n_boot']} resamples fitted). ∞: the band or some resamples never "
                 "reach the target.", ""]
        rows = []
        for r in f["rows"]:
            if not r["reachable"]:
                rows.append([f"{r['target']:g} %", r["note"], "", "", ""])
                continue
            rows.append([f"{r['target']:g} %", num(r["flops"]), ci_text(r["conformal_ci"]),
                         ci_text(r["bootstrap_ci"]), "**extrapolation**" if r["extrapolation"] else "within data"])
        lines += md_table(["target", "FLOPs", "conformal CI", "bootstrap 95 % CI", "range"], rows)
        lines += markdown_rows([r for r in f["rows"] if r["reachable"]], f.get("units"))
        laws = list(f["by_law"])
        lines += ["Point forecasts of every candidate law (FLOPs; – = not reachable under that law):", ""]
        lines += md_table(["target"] + [f"`{k}`" for k in laws],
                          [[f"{r['target']:g} %"] + [num(f["by_law"][k][i]) for k in laws]
                           for i, r in enumerate(f["rows"])])
        return lines

