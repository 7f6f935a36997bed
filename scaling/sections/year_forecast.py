"""Forecast by year: robust accuracy, training FLOPs and cost ($) of the model of a given year, with intervals
that carry the compute trend's, the accuracy law's and the compute-per-dollar trend's uncertainty (method and
sources: :mod:`scaling.year_forecast`). Years: ``robustperf analyze --year Y`` (repeatable) or the mapping's
``sections: {year_forecast: {years: [...]}}``; default the table's latest year + 1, + 3 and + 5."""
from __future__ import annotations

import math
from typing import Any, Dict, List

import numpy as np

from ..errors import ConvergenceError, InsufficientDataError, ScalingError, TableError
from ..formatting import ci_text, md_table, num
from ..year_forecast import compute_trend, forecast_years, load_price_performance, price_trend
from .base import Section, SkipSection


def _number(value, key: str, low: float = -math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= low:
        raise TableError(f"sections.year_forecast.{key} must be a finite number" + (f" > {low:g}" if low > -math.inf
                                                                                    else "") + f", got {value!r}")
    return float(value)


class YearForecastSection(Section):
    title = "Forecast by year: robust accuracy and cost"
    needs = ("envelope",)
    option_keys = {"years": "years to forecast (default: latest year in the table + 1, + 3, + 5)",
                   "price_series": "compute-per-dollar series of the shipped data: all (default), ml, top, fp16",
                   "price_doubling_years": "[estimate, low, high] doubling time of FLOP/s per $ instead of a series",
                   "usd_per_flop": "$ per FLOP in anchor_year (default: the shipped anchor, a V100 on GCP at peak)",
                   "anchor_year": "the year of usd_per_flop",
                   "train_flops": "column of the training FLOPs paid for, when the law's FLOPs are another quantity "
                                  "(its own trend by year prices the model)"}

    def named_columns(self, ctx) -> Dict[str, str]:
        col = ctx.section_options(self.name).get("train_flops")
        return {} if col is None else {"sections.year_forecast.train_flops": str(col)}

    def columns(self, ctx):
        if not ctx.mapping.time:
            raise SkipSection("no time column (pass --time-col or a mapping with 'time')")
        return [ctx.mapping.time]

    def _years(self, ctx, latest: float) -> List[float]:
        given = tuple(getattr(ctx.options, "years", ()) or ()) or ctx.section_options(self.name).get("years")
        if not given:
            return [math.floor(latest) + k for k in (1, 3, 5)]
        if not isinstance(given, (list, tuple)):
            given = [given]
        return [_number(y, "years") for y in given]

    def fit(self, ctx):
        opts = ctx.section_options(self.name)
        year = ctx.numeric(ctx.mapping.time, "time", "--time-col").to_numpy()
        trend = compute_trend(year, ctx.x_all.to_numpy())
        cost_trend = None
        if opts.get("train_flops") is not None:
            cost_trend = compute_trend(year, ctx.numeric(str(opts["train_flops"]), "training FLOPs").to_numpy())
        data = load_price_performance()
        price = price_trend(data, opts.get("price_series"), opts.get("price_doubling_years"))
        anchor = data["anchor"]
        if opts.get("usd_per_flop") is not None:
            if opts.get("anchor_year") is None:
                raise TableError("sections.year_forecast.usd_per_flop needs anchor_year (the year of that price)")
            anchor = {"usd_per_flop": _number(opts["usd_per_flop"], "usd_per_flop", 0.0),
                      "year": _number(opts["anchor_year"], "anchor_year"),
                      "source": "given (sections.year_forecast.usd_per_flop)"}
        else:
            anchor = dict(anchor, usd_per_flop=anchor["usd_per_hour"] / 3600.0 / anchor["peak_flop_per_s"])
        law_name, point, draws = self._law(ctx)
        years = self._years(ctx, trend["year_max"])
        rows = forecast_years(years, trend, point, draws, price, anchor["usd_per_flop"], anchor["year"],
                              n_draws=int(ctx.options.n_boot), seed=int(ctx.options.seed), cost_trend=cost_trend)
        paid = None if cost_trend is None else dict({k: v for k, v in cost_trend.items() if k != "cov"},
                                                    column=str(opts["train_flops"]))
        return {"train_flops_trend": paid, "_cost_trend": cost_trend,"years": rows, "law": law_name, "law_draws": len(draws), "n_draws": int(ctx.options.n_boot),
                "compute_trend": dict({k: v for k, v in trend.items() if k != "cov"}, column=ctx.columns["flops"],
                                      time=ctx.mapping.time),
                "price_performance": price, "anchor": anchor,
                "assumption": "rental $ per FLOP falls at the published rate of GPU FLOP/s per $",
                "how": "extrapolated: Monte Carlo over the compute trend's OLS parameters, bootstrap refits of the "
                       "accuracy law on the envelope points and the log-normal doubling time of FLOP/s per $; "
                       "95 % percentile intervals",
                "_point": point, "_draws": draws, "_trend": trend}

    @staticmethod
    def _law(ctx):
        """(name, fitted predict, predicts of the refits on resamples of the envelope points)."""
        from ..accuracy_laws import LAWS
        from ..forecast import bootstrap_law
        from ..laws import power_law

        env = ctx.fits["envelope"]
        x, y = np.asarray(env.points_x_, dtype=float), np.asarray(env.points_y_, dtype=float)
        n = int(ctx.options.n_boot)
        chosen = (ctx.fits.get("backtest") or {}).get("chosen")
        if chosen and chosen in LAWS and chosen != "power":
            law = ctx.fits["laws"][chosen]
            rng = np.random.default_rng(ctx.options.seed)
            draws = []
            for _ in range(n):
                idx = rng.integers(0, x.size, x.size)
                if np.unique(x[idx]).size < 3:
                    continue
                try:
                    draws.append(LAWS[chosen](intervals=False).fit(x[idx], y[idx]).predict)
                except (ConvergenceError, InsufficientDataError, ScalingError):
                    continue
            return chosen, law.predict, draws
        boot = bootstrap_law(x, y, n_boot=n, random_state=ctx.options.seed, p0=(env.C_, env.alpha_))
        draws = [(lambda f, C=C, a=a: power_law(f, C, a)) for C, a in boot]
        return "power (envelope)", (lambda f: power_law(f, env.C_, env.alpha_)), draws

    def summary(self, fitted, ctx):
        return {k: v for k, v in fitted.items() if not k.startswith("_")}

    def figures(self, fitted, ctx, save) -> None:
        import matplotlib.pyplot as plt  # matplotlib deferred: loaded only when figures are drawn

        trend = fitted["_trend"]
        last = max(r["year"] for r in fitted["years"])
        grid = np.linspace(trend["year_min"], last, 40)
        rows = forecast_years(grid, trend, fitted["_point"], fitted["_draws"], fitted["price_performance"],
                              fitted["anchor"]["usd_per_flop"], fitted["anchor"]["year"],
                              n_draws=min(int(ctx.options.n_boot), 400), seed=int(ctx.options.seed),
                              cost_trend=fitted["_cost_trend"])
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for ax, key, label in ((a1, "accuracy", "robust accuracy (%)"), (a2, "usd", "training cost ($)")):
            ax.plot(grid, [r[key] for r in rows], "C0-", label="forecast")
            lo = [r[f"{key}_ci"][0] for r in rows]
            hi = [r[f"{key}_ci"][1] for r in rows]
            ax.fill_between(grid, [np.nan if v is None else v for v in lo], [np.nan if v is None else v for v in hi],
                            color="C0", alpha=0.25, label="95 % interval (all three trends)")
            ax.errorbar([r["year"] for r in fitted["years"]], [r[key] for r in fitted["years"]],
                        yerr=np.array([[r[key] - r[f"{key}_ci"][0], r[f"{key}_ci"][1] - r[key]]
                                       for r in fitted["years"]]).T, fmt="o", color="C3", capsize=3,
                        label="asked years")
            ax.axvline(trend["year_max"], color="0.5", ls=":", lw=1)
            ax.set_xlabel("year")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
        a2.set_yscale("log")
        fig.suptitle(f"Forecast by year (extrapolated; law {fitted['law']}, compute per $ doubling "
                     f"{fitted['price_performance']['doubling_years']:g} years)")
        fig.tight_layout()
        save(fig, "year_forecast")
        plt.close(fig)

    def console(self, part) -> List[str]:
        return [f"{r['year']:g}: robust accuracy {r['accuracy']:.3g} % {ci_text(r['accuracy_ci'], '.3g')}, "
                f"FLOPs {r['flops']:.3g} {ci_text(r['flops_ci'], '.3g')}, cost ${r['usd']:.3g} "
                f"{ci_text(r['usd_ci'], '.3g')} (extrapolated)" for r in part["years"]]

    def markdown(self, part, report) -> List[str]:
        t, p, a = part["compute_trend"], part["price_performance"], part["anchor"]
        lines = [f"## {self.title}", "",
                 f"Extrapolated. Compute: log10 FLOPs = {num(t['intercept'])} + {num(t['slope'], '.4g')} · year "
                 f"(OLS over {t['n']} models, {t['year_min']:g}-{t['year_max']:g}); accuracy: law `{part['law']}` "
                 f"({part['law_draws']} bootstrap refits); compute per $: FLOP/s per $ doubles every "
                 f"{num(p['doubling_years'], '.3g')} years {ci_text(p['ci95'], '.3g')} ({p['source']}); $ per FLOP "
                 f"{num(a['usd_per_flop'], '.3g')} in {a['year']:g} ({a['source']})"
                 + (f"; the cost prices the training FLOPs of `{part['train_flops_trend']['column']}` by their own "
                    "trend" if part.get("train_flops_trend") else "") + ". Assumption: "
                 f"{part['assumption']}. 95 % intervals from {part['n_draws']} Monte Carlo draws of all three.", ""]
        lines += md_table(["year", "robust accuracy (%)", "95 % CI", "FLOPs", "95 % CI", "cost ($)", "95 % CI"],
                          [[f"{r['year']:g}", num(r["accuracy"], ".3g"), ci_text(r["accuracy_ci"], ".3g"),
                            num(r["flops"], ".3g"), ci_text(r["flops_ci"], ".3g"), num(r["usd"], ".3g"),
                            ci_text(r["usd_ci"], ".3g")] for r in part["years"]])
        return lines
