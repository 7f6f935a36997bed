"""Costs against FLOPs (electricity $, CO2, kWh): log-log OLS over every run with positive FLOPs and cost.

One :class:`CostSection` per quantity; the forecast section evaluates every fitted cost law at its FLOPs.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ..laws import PowerLawOLS
from ..report import ci_text, md_table, num
from ._registry import Section, SkipSection, register_section


class CostSection(Section):
    """``cost = C * FLOPs**alpha`` of one cost column.

    Args:
        name: report key (``electricity``).
        key: the mapping field / column role (``cost``).
        forecast_name: the name of this cost in forecast rows (``usd``).
        label: axis label and report wording.
        option: the command-line flag that sets the column.
        order: position in the report.
    """

    def __init__(self, name: str, key: str, forecast_name: str, label: str, option: str, order: int):
        self.name, self.key, self.forecast_name, self.label, self.option = name, key, forecast_name, label, option
        self.title = f"{label[0].upper()}{label[1:]} against FLOPs (log-log OLS)"
        self.order = order

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
        from .. import plotting

        x, y = fit.points_
        save(plotting.plot_cost_fit(fit, x, y, ctx.flops_label, f"{self.label} ({fit.column_})",
                                    f"{self.label} vs FLOPs (log-log OLS)"), self.name)

    def markdown(self, sec, report) -> List[str]:
        return [f"## {self.title}", ""] + md_table(
            ["α", "α 95 % CI", "C", "R²", "n", "column"],
            [[num(sec["alpha"]), ci_text(sec["alpha_ci"]), num(sec["C"]), num(sec["r2"], ".3f"), str(sec["n"]),
              f"`{sec['column']}`"]])


def cost_laws(ctx) -> Dict[str, PowerLawOLS]:
    """Fitted cost laws by forecast name (``usd``, ``co2_kg``, ``kwh``), from the cost sections that ran."""
    from ._registry import _SECTIONS

    return {s.forecast_name: ctx.fits[s.name] for s in _SECTIONS.values()
            if isinstance(s, CostSection) and s.name in ctx.fits}


for _args in (("electricity", "cost", "usd", "electricity cost ($)", "--cost-col", 200),
              ("co2", "co2", "co2_kg", "emissions (kg CO2eq)", "--co2-col", 210),
              ("kwh", "kwh", "kwh", "energy (kWh)", "--kwh-col", 220)):
    register_section(CostSection(*_args))
del _args
