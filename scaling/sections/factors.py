"""Which recipe factors matter: gradient boosting of accuracy on the factors, and accuracy-vs-FLOPs figures
coloured by each factor (faceted by synthetic data), as in the reference study's section 4 and figures 1a, 2."""
from __future__ import annotations

import re
from typing import List

from ..errors import TableError
from ..regression import GradientBoostingAnalysis
from ..formatting import md_table, num
from ..table import RECORD_FEATURES
from .base import Section, SkipSection


def factor_columns(ctx) -> List[str]:
    """The factors: the mapping's (each must exist), else our records' defaults (all present, or skipped)."""
    mapping = ctx.mapping
    if mapping.features is not None:
        missing = [f for f in mapping.features if f not in ctx.table.columns]
        if missing:
            raise TableError(f"the table has no factor column '{missing[0]}'", column=missing[0],
                             present=[str(c) for c in ctx.table.columns], hint="pass --feature COLUMN (repeatable)")
        return list(mapping.features)
    missing = [f for f in RECORD_FEATURES if f not in ctx.table.columns]
    if missing:
        raise SkipSection("default factor columns missing: " + ", ".join(missing)
                          + "; pass --feature COLUMN (repeatable) or a mapping with 'features'")
    return list(RECORD_FEATURES)


class GradientBoostingSection(Section):
    title = "Gradient boosting: which factors matter"

    def columns(self, ctx) -> List[str]:
        return factor_columns(ctx)

    def fit(self, ctx):
        o = ctx.options
        return GradientBoostingAnalysis(n_repeats=o.n_repeats, random_state=o.seed).fit(
            ctx.frame[factor_columns(ctx)], ctx.y)

    def summary(self, fitted, ctx):
        return fitted.summary()

    def figures(self, fitted, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        save(plotting.plot_predicted_vs_true(fitted, "accuracy (%)"), "gbr_predicted_vs_true")
        save(plotting.plot_importances(fitted), "gbr_importances")

    def markdown(self, g, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 f"Holdout R² = {g['r2_test']:.3f}, MAE = {g['mae_test']:.3g} points (n_test = {g['n_test']}); "
                 f"{len(g['cv_r2'])}-fold CV R² = {g['cv_r2_mean']:.3f} ± {g['cv_r2_sd']:.3f}. "
                 f"Categorical factors are ordinal-coded.", ""]
        order = sorted(g["importances"], key=lambda f: -g["importances"][f])
        return lines + md_table(["factor", "impurity", "permutation ΔR² (mean ± sd)"],
                                [[f"`{f}`", num(g["importances"][f], ".3f"),
                                  f"{num(g['permutation_importances'][f]['mean'], '.3f')} ± "
                                  f"{num(g['permutation_importances'][f]['sd'], '.3f')}"] for f in order])


class FactorFiguresSection(Section):
    """Figures only: accuracy against FLOPs coloured by each factor, one panel per level of the facet."""

    title = "Accuracy against FLOPs by factor"
    needs = ("envelope",)

    def columns(self, ctx) -> List[str]:
        return factor_columns(ctx)

    def fit(self, ctx):
        return factor_columns(ctx)

    def summary(self, features, ctx):
        facet = ctx.columns.get("facet")
        return {"features": features, "facet": facet if facet in ctx.frame.columns else None}

    def figures(self, features, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        facet = ctx.columns.get("facet")
        facet = ctx.frame[facet] if facet and facet in ctx.frame.columns else None
        for feature in features:
            fig = plotting.plot_by_factor(ctx.x, ctx.y, ctx.frame[feature].rename(feature), facet,
                                          ctx.fits["envelope"], ctx.flops_label, ctx.acc_label)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", feature).strip("_") or "factor"
            save(fig, f"acc_vs_flops_by_{stem}")

    def markdown(self, part, report) -> List[str]:
        return []  # the figures are listed with the others
