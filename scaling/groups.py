"""Laws per group, compared (``robustperf analyze --by COLUMN``, the mapping key ``by``).

Every section that declares ``per_group`` (the envelope, the candidate laws, the quantile frontier, the joint
law of the allocation section) is fitted again on the rows of each value of the column; each group's part
goes to ``report[section]["groups"][value]`` beside the fit on all rows, with the section's own intervals.

Whether the envelope exponents differ is tested on the groups' envelope points (the best run of each FLOP bin of
each group) by a log-log OLS with a group intercept and a group x log FLOPs interaction,
``log acc = c + alpha log C + sum_g (c_g + d_g log C) [group = g]``: with two groups, the Wald t-test of
``d_g = 0`` (two-sided); with more, the omnibus F-test that every ``d_g`` is 0, plus each pair's t-test
(unadjusted). Its interval is a percentile bootstrap of the difference of the envelope exponents (NLS, as
reported), resampling the rows within each group and rebuilding each group's envelope. Rows whose ``by`` value is
missing belong to no group (counted in ``by.missing``).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Dict, List

import numpy as np
import pandas as pd

from recipes.limits import limit, over_limit_message

from .allocation import percentile_ci
from .errors import ScalingError, TableError
from .formatting import ci_text, md_table
from .laws import EnvelopePowerLaw, bin_edges, envelope_indices, fit_power_law_nls
from .sections.registry import get_section

LEVEL = 0.05
TEST_2 = ("Wald t-test of the group x log FLOPs interaction in a log-log OLS on the groups' envelope points "
          "(two-sided)")
TEST_K = ("omnibus F-test that every group x log FLOPs interaction is 0 in a log-log OLS on the groups' envelope "
          "points; pairwise: each pair's Wald t-test, unadjusted")
#: bootstrap resamples of the difference of exponents, at most
MAX_BOOT = 500


def group_values(table: pd.DataFrame, by: str) -> Dict[str, np.ndarray]:
    """Group label (text) -> boolean row mask, in sorted order; rows with a missing value in no group."""
    col = table[by]
    present = col.notna()
    labels = col[present].astype(str)
    values = sorted(labels.unique())
    if len(values) > limit("groups"):
        raise TableError(f"--by {by}: " + over_limit_message("groups", f"the number of distinct values of '{by}'",
                                                              len(values)))
    return {v: (present & (col.astype(str) == v)).to_numpy() for v in values}


def fit_groups(ctx, run: Callable) -> None:
    """Fit every ``per_group`` section that ran on all rows again per group; test the envelope exponents."""
    by = ctx.mapping.by
    groups = group_values(ctx.table, by)
    names = [n for n in ctx.report.get("sections", []) or _ran(ctx) if getattr(get_section(n), "per_group", False)]
    ctx.report["by"] = {"column": by, "groups": {g: int(m.sum()) for g, m in groups.items()},
                        "missing": int(ctx.table[by].isna().sum()), "sections": names}
    if len(groups) < 2:
        ctx.notes.append(f"--by {by}: only {len(groups)} group, nothing to compare")
    # the table is already adapted (mapping.adapter ran on it): the groups must not run the adapter again
    sub_mapping = dataclasses.replace(ctx.mapping, by=None, adapter=None)
    fits: Dict[str, Any] = {}
    for value, mask in groups.items():
        try:
            sub_report, sub_ctx = run(ctx.table[mask].reset_index(drop=True), sub_mapping, ctx.options, names)
        except ScalingError as err:
            for name in names:
                ctx.report[name].setdefault("groups", {})[value] = {"skipped": str(err)}
            continue
        for name in names:
            ctx.report[name].setdefault("groups", {})[value] = sub_report.get(name, {"skipped": "not run"})
        fits[value] = sub_ctx
    ctx.fits["by"] = fits  # the groups' contexts, for the figure (not a section: never in report["sections"])
    if "envelope" in names and len(groups) >= 2:
        ctx.report["envelope"]["group_difference"] = envelope_difference(ctx, groups, fits)


def _ran(ctx) -> List[str]:
    return [n for n in ctx.fits]


def interaction_test(points: Dict[str, tuple]) -> Dict[str, Any]:
    """The test on the groups' envelope points ``{group: (x, y)}`` (x, y > 0); see the module docstring."""
    import statsmodels.api as sm  # deferred, as elsewhere in scaling

    labels = list(points)
    lx = np.concatenate([np.log(points[g][0]) for g in labels])
    ly = np.concatenate([np.log(points[g][1]) for g in labels])
    gid = np.concatenate([np.full(len(points[g][0]), i) for i, g in enumerate(labels)])
    cols = [np.ones_like(lx), lx]
    for i in range(1, len(labels)):
        cols += [(gid == i).astype(float), (gid == i) * lx]
    design = np.column_stack(cols)
    if design.shape[0] <= design.shape[1]:
        raise ScalingError(f"group comparison: {design.shape[0]} envelope points for {design.shape[1]} "
                           f"coefficients")
    res = sm.OLS(ly, design).fit()
    inter = [2 + 2 * (i - 1) + 1 for i in range(1, len(labels))]
    out: Dict[str, Any] = {"df_resid": float(res.df_resid), "n_points": int(lx.size)}
    if len(labels) == 2:
        out.update(statistic=float(res.tvalues[inter[0]]), p_value=float(res.pvalues[inter[0]]), test=TEST_2,
                   statistic_name="t")
    else:
        r = np.zeros((len(inter), design.shape[1]))
        for row, j in enumerate(inter):
            r[row, j] = 1.0
        f = res.f_test(r)
        out.update(statistic=float(np.squeeze(f.fvalue)), p_value=float(np.squeeze(f.pvalue)), test=TEST_K,
                   statistic_name="F", df_num=len(inter))
    return out


def envelope_difference(ctx, groups: Dict[str, np.ndarray], fits: Dict[str, Any]) -> Dict[str, Any]:
    """``envelope.group_difference``: the test, and the bootstrap interval of each difference of exponents."""
    ok = {g: f.fits["envelope"] for g, f in fits.items() if "envelope" in f.fits}
    if len(ok) < 2:
        return {"skipped": "fewer than two groups have an envelope law"}
    points = {g: (law.points_x_[law.points_y_ > 0], law.points_y_[law.points_y_ > 0]) for g, law in ok.items()}
    try:
        out = interaction_test(points)
    except ScalingError as err:
        out = {"skipped_test": str(err)}
    out["level"] = LEVEL
    if "p_value" in out:
        out["different"] = bool(out["p_value"] < LEVEL)
    boot = _bootstrap_alphas(ctx, ok, fits)
    pairs = []
    for g1, g2 in itertools.combinations(sorted(ok), 2):
        diff = boot[g2] - boot[g1]
        pair = {"groups": [g1, g2], "difference": ok[g2].alpha_ - ok[g1].alpha_,
                "difference_ci": list(percentile_ci(diff)), "n_boot": int(np.isfinite(diff).sum())}
        if len(ok) > 2:
            pair.update({k: v for k, v in interaction_test({g1: points[g1], g2: points[g2]}).items()
                         if k in ("p_value", "statistic")})
        pairs.append(pair)
    out["alpha"] = {g: law.alpha_ for g, law in ok.items()}
    out["interval"] = ("95 % percentile bootstrap of the difference of the envelope exponents (NLS), rows resampled "
                       "within each group")
    if len(pairs) == 1:
        out.update({k: pairs[0][k] for k in ("groups", "difference", "difference_ci", "n_boot")})
    else:
        out["pairwise"] = pairs
    return out


def _bootstrap_alphas(ctx, laws: Dict[str, EnvelopePowerLaw], fits) -> Dict[str, np.ndarray]:
    o = ctx.options
    n_boot = min(int(o.n_boot), MAX_BOOT)
    rng = np.random.default_rng(o.seed)
    out = {}
    for g, law in laws.items():
        x, y = fits[g].x, fits[g].y
        alphas = np.full(n_boot, np.nan)
        for i in range(n_boot):
            idx = rng.integers(0, x.size, x.size)
            try:
                alphas[i] = envelope_alpha(x[idx], y[idx], law)
            except (ScalingError, ValueError, RuntimeError):
                pass
        out[g] = alphas
    return out


def envelope_alpha(x: np.ndarray, y: np.ndarray, law: EnvelopePowerLaw) -> float:
    """The envelope exponent of ``law``'s settings on ``(x, y)``: its binning and NLS, without its OLS and
    summaries (a bootstrap refits it hundreds of times)."""
    keep = y > law.collapse
    xk, yk = x[keep], y[keep]
    idx = envelope_indices(xk, yk, bin_edges(xk, law.n_bins, law.bin_scale))
    if idx.size < 3:
        return float("nan")
    return fit_power_law_nls(xk[idx], yk[idx])[1]


def markdown(r: Dict[str, Any]) -> List[str]:
    """report.md's part of ``--by``: each group's envelope exponent and the comparison."""
    by = r["by"]
    lines = [f"## Laws per group of `{by['column']}`", "",
             "Groups (rows): " + ", ".join(f"{g} ({n})" for g, n in by["groups"].items())
             + (f"; {by['missing']} rows without a value" if by["missing"] else "") + ".", ""]
    env = r.get("envelope", {})
    rows = []
    for g, part in (env.get("groups") or {}).items():
        if "alpha" in part:
            rows.append([g, f"{part['alpha']:.4g}", ci_text(part["alpha_ci"], ".3g"), f"{part['C']:.4g}",
                         str(part["n_points"])])
        else:
            rows.append([g, "skipped: " + str(part.get("skipped")), "", "", ""])
    if rows:
        lines += md_table(["group", "envelope α", "α 95 % CI", "C", "bins"], rows)
    diff = env.get("group_difference") or {}
    if "p_value" in diff:
        lines += [f"Do the exponents differ? {diff['test']}: {diff['statistic_name']} = {diff['statistic']:.3g}, "
                  f"p = {diff['p_value']:.3g} (level {diff['level']:g}: "
                  f"{'different' if diff['different'] else 'no evidence of a difference'}).", ""]
    for pair in ([diff] if "difference" in diff else diff.get("pairwise", [])):
        lines.append(f"- α({pair['groups'][1]}) − α({pair['groups'][0]}) = {pair['difference']:.3g} "
                     f"{ci_text(pair['difference_ci'], '.3g')} ({diff.get('interval', '')})")
    return lines + [""] + (["Each per-group section's fits: report.json, `<section>.groups.<value>`.", ""])


def draw(ctx, report: Dict[str, Any], save) -> None:
    """``envelope_by_<column>``: each group's runs, envelope points and law on one axis (when fitted)."""
    from . import plotting  # matplotlib deferred

    fits = {g: f for g, f in (ctx.fits.get("by") or {}).items() if "envelope" in f.fits}
    if not fits:
        return
    fig = plotting.new_figure(6.5, 4.4)
    ax = fig.subplots()
    for i, (g, sub) in enumerate(sorted(fits.items())):
        law, color = sub.fits["envelope"], f"C{i % 10}"
        kept = sub.y > law.collapse
        ax.plot(sub.x[kept], sub.y[kept], linestyle="", marker="o", markersize=2.5, alpha=0.35, color=color)
        ax.scatter(law.points_x_, law.points_y_, s=18, color=color, zorder=3)
        grid = np.logspace(np.log10(sub.x[kept].min()), np.log10(sub.x[kept].max()), 100)
        ax.plot(grid, law.predict(grid), color=color, zorder=4,
                label=f"{report['by']['column']} = {g}: α = {law.alpha_:.3g} {ci_text(law.alpha_ci_, '.3g')}")
    plotting.log_axis(ax, "x")
    diff = report.get("envelope", {}).get("group_difference", {})
    title = "Envelope law per group"
    if "p_value" in diff:
        title += f" (exponents differ? p = {diff['p_value']:.2g})"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(ctx.flops_label)
    ax.set_ylabel(ctx.acc_label)
    ax.legend(fontsize=7, loc="lower right")
    save(fig, f"envelope_by_{_stem(report['by']['column'])}")


def _stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))[:60]
