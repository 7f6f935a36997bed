"""A second, bin-free frontier: quantile regression of accuracy on log10 FLOPs (q = 0.9 by default)."""
from __future__ import annotations

from typing import List

from ..regression import QuantileFrontier
from ..formatting import ci_text
from .base import Section


class QuantileSection(Section):
    title = "Quantile frontier"
    per_group = True
    needs = ("envelope",)

    def fit(self, ctx):
        alive = ctx.y > ctx.options.collapse
        return QuantileFrontier(q=ctx.options.quantile).fit(ctx.x[alive], ctx.y[alive])

    def summary(self, fitted, ctx):
        return fitted.summary()

    def figures(self, fitted, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        save(plotting.plot_quantile(fitted, ctx.fits["envelope"], ctx.x, ctx.y, ctx.flops_label, ctx.acc_label),
             "quantile")

    def markdown(self, q, report) -> List[str]:
        return [f"## {self.title}", "",
                f"q = {q['q']:g}: accuracy = {q['intercept']:.3g} + {q['slope_per_decade']:.3g} · log10(FLOPs) "
                f"(slope 95 % CI {ci_text(q['slope_ci'], '.3g')}); {100 * q['share_below']:.1f} % of runs at or "
                f"below.", ""]
