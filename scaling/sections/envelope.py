"""The envelope law: best AutoAttack accuracy per FLOP bin, ``accuracy = C * FLOPs**alpha``.

Runs when the table has FLOPs and accuracy columns; a fit that fails (too few bins, no convergence) skips this
section and those built on its fit, with the reason, and the rest of the analysis goes on."""
from __future__ import annotations

from typing import Any, Dict, List

from ..laws import EnvelopePowerLaw
from ..formatting import ci_text, md_table, num
from .base import Section


class EnvelopeSection(Section):
    title = "Envelope scaling law"
    per_group = True

    def fit(self, ctx):
        o = ctx.options
        return EnvelopePowerLaw(o.n_bins, o.bin_scale, o.collapse).fit(ctx.x, ctx.y)

    def summary(self, law, ctx) -> Dict[str, Any]:
        env = law.summary()
        labels = ctx.labels()
        for point in env["points"]:
            point["label"] = str(labels.iloc[point.pop("row")])
        return env

    def figures(self, law, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn

        save(plotting.plot_envelope(law, ctx.x, ctx.y, ctx.flops_label, ctx.acc_label,
                                    yscale=getattr(ctx.options, "envelope_yscale", "linear")), "envelope")

    def markdown(self, env, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 f"accuracy = C · FLOPs^α over the best run of each of {env['n_bins']} {env['bin_scale']}-spaced "
                 f"FLOP bins ({env['n_points']} non-empty); {env['dropped']} runs at or below the collapse "
                 f"threshold {env['collapse']:g} % dropped.", ""]
        rng = env.get("binning_range")
        if rng:
            lines += [f"Binning range: the {rng['n']} {rng['description']}, FLOPs {num(rng['flops_min'])} to "
                      f"{num(rng['flops_max'])} (rows: {rng['rows']}).", ""]
        rows = [["NLS (scipy)", num(env["C"]), ci_text(env["C_ci"]), num(env["alpha"]), ci_text(env["alpha_ci"]),
                 num(env["r2"], ".3f")]]
        if env.get("ols"):
            o = env["ols"]
            rows.append(["log-log OLS (statsmodels)", num(o["C"]), ci_text(o["C_ci"]), num(o["alpha"]),
                         ci_text(o["alpha_ci"]), num(o["r2"], ".3f")])
        return lines + md_table(["fit", "C", "C 95 % CI", "α", "α 95 % CI", "R²"], rows)
