"""Costs against FLOPs (electricity $, CO2, kWh): log-log OLS over every run with positive FLOPs and cost.

One :class:`CostSection` subclass per quantity (one catalog entry each); the forecast section evaluates every
fitted cost law at its FLOPs.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ..laws import PowerLawOLS
from ..formatting import ci_text, md_table, num
from .base import Section, SkipSection
from .registry import get_section


class CostSection(Section):
    """``cost = C * FLOPs**alpha`` of one cost column; a subclass per cost names it.

    Attributes:
        key: the mapping field / column role (``cost``).
        forecast_name: the name of this cost in forecast rows (``usd``).
        label: axis label and report wording.
        option: the command-line flag that sets the column.
    """

    key = forecast_name = label = option = ""
    core = ("flops",)  # every run with FLOPs and this cost, with or without an accuracy

    @property
    def title(self) -> str:
        return f"{self.label[0].upper()}{self.label[1:]} against FLOPs (log-log OLS)"

    def columns(self, ctx) -> List[str]:
        expr = ctx.columns.get(self.key)
        if expr is None:
            raise SkipSection(f"no {self.key} column (pass {self.option})")
        return [expr]

    def fit(self, ctx):
        expr = ctx.columns[self.key]
        values = ctx.numeric(expr, self.label, self.option)
        ok = ctx.valid_x & values.notna() & (values > 0)
        fit = PowerLawOLS().fit(ctx.x_all[ok].to_numpy(), values[ok].to_numpy())
        fit.column_ = expr
        fit.points_ = (ctx.x_all[ok].to_numpy(), values[ok].to_numpy())
        fit.dropped_nonpositive_ = int((ctx.valid_x & values.notna() & (values <= 0)).sum())
        fit.missing_ = int((ctx.valid_x & values.isna()).sum())
        return fit

    def summary(self, fit, ctx) -> Dict[str, Any]:
        return dict(fit.summary(), column=fit.column_, dropped_nonpositive=fit.dropped_nonpositive_,
                    missing=fit.missing_)

    def figures(self, fit, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        x, y = fit.points_
        save(plotting.plot_cost_fit(fit, x, y, ctx.flops_label, f"{self.label} ({fit.column_})",
                                    f"{self.label} vs FLOPs (log-log OLS)"), self.name)

    def markdown(self, sec, report) -> List[str]:
        return [f"## {self.title}", ""] + md_table(
            ["α", "α 95 % CI", "C", "R²", "n", "column"],
            [[num(sec["alpha"]), ci_text(sec["alpha_ci"]), num(sec["C"]), num(sec["r2"], ".3f"), str(sec["n"]),
              f"`{sec['column']}`"]])


class ElectricitySection(CostSection):
    key, forecast_name, label, option = "cost", "usd", "electricity cost ($)", "--cost-col"


class Co2Section(CostSection):
    key, forecast_name, label, option = "co2", "co2_kg", "emissions (kg CO2eq)", "--co2-col"


class KwhSection(CostSection):
    key, forecast_name, label, option = "kwh", "kwh", "energy (kWh)", "--kwh-col"


def cost_laws(ctx) -> Dict[str, PowerLawOLS]:
    """Fitted cost laws by forecast name (``usd``, ``co2_kg``, ``kwh``), from the cost sections that ran."""
    sections = {name: get_section(name) for name in ctx.fits}
    return {s.forecast_name: ctx.fits[name] for name, s in sections.items() if isinstance(s, CostSection)}
