"""Forecast: FLOPs (and kWh, $, CO2) to reach target accuracies by inverting the envelope law, bootstrapped."""
from __future__ import annotations

from typing import List

from ..forecast import forecast
from ..formatting import ci_text, md_table, num
from ..units import mapping_units, markdown_rows, picture
from .base import Section
from .costs import cost_laws


class ForecastSection(Section):
    title = "Forecast"
    needs = ("envelope",)

    def fit(self, ctx):
        o = ctx.options
        rows = forecast(ctx.fits["envelope"], o.targets, costs=cost_laws(ctx), usd_per_kwh=ctx.mapping.usd_per_kwh,
                        n_boot=o.n_boot, random_state=o.seed, observed_max=float(ctx.x.max()))
        for row in rows:
            row["pictured"] = picture(row["flops"], mapping_units(ctx.mapping))
        return rows

    def summary(self, rows, ctx):
        return rows

    def markdown(self, rows, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 "FLOPs to reach a target AutoAttack accuracy by inverting the envelope law; 95 % intervals from "
                 f"{report.get('options', {}).get('n_boot')} bootstrap resamples of the envelope points. ∞: some "
                 "resamples never reach the target. Extrapolations beyond the largest observed FLOPs are marked.", ""]
        costs = [k for k in ("usd", "kwh", "co2_kg") if any(k in row for row in rows)]
        table = []
        for row in rows:
            cells = [f"{row['target']:g} %", num(row["flops"]), ci_text(row["flops_ci"]),
                     "**extrapolation**" if row["extrapolation"] else "within data"]
            cells += [f"{num(row.get(c))} {ci_text(row.get(c + '_ci'))}" for c in costs]
            table.append(cells)
        lines += md_table(["target", "FLOPs", "95 % CI", "range"] + costs, table)
        lines += markdown_rows(rows, (report.get("law_forecast") or {}).get("units"))
        if any(row.get("alpha_ci_includes_zero") for row in rows):
            lines += ["> α's interval includes 0: the data are compatible with no gain from compute, i.e. infinite "
                      "FLOPs for any target above C.", ""]
        return lines
