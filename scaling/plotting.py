"""Figures of the scaling analysis, drawn from fitted objects (compare ``lifelines/plotting.py``).

Every function returns a matplotlib Figure (Agg backend, no display); :func:`save_figure` writes it as PNG and
PDF atomically. Scatter layers are rasterized so that 10,000-run tables keep small, fast PDFs.
"""
from __future__ import annotations

import io
import os
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from results import atomic_write_bytes  # noqa: E402

FORMATS = ("png", "pdf")
_POINT = dict(s=8, alpha=0.5, linewidths=0, rasterized=True)
# Line2D markers draw ~20 % faster than a PathCollection for thousands of points
_MARKER = dict(linestyle="", marker="o", markersize=2.8, markeredgewidth=0, alpha=0.5, rasterized=True)
MAX_LEVELS = 10


def log_axis(ax, which: str = "x") -> None:
    """Log scale with plain ``1e+15`` labels on decades: mathtext labels cost a third of a figure's time.

    Minor ticks are labelled (plainly) only when the axis spans less than about a decade, where decades alone
    would leave it without a single label (robust accuracies of 24-47 %, say).
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(LogFormatter(labelOnlyBase=True))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches (Agg, not attached to pyplot)."""
    # constrained layout: one layout pass per save, instead of bbox_inches="tight"'s extra full draw
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, out_dir: str, stem: str, formats: Sequence[str] = FORMATS) -> List[str]:
    """Write ``fig`` as ``out_dir/stem.<fmt>`` for each format (atomically); close it; return the paths."""
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=100)
        path = os.path.join(out_dir, f"{stem}.{fmt}")
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths


def _grid(x: np.ndarray, n: int = 200) -> np.ndarray:
    return np.logspace(np.log10(np.min(x)), np.log10(np.max(x)), n)


def plot_envelope(law, x, y, flops_label: str = "FLOPs", acc_label: str = "AutoAttack accuracy (%)",
                  yscale: str = "linear") -> Figure:
    """All runs, the dropped (collapsed) runs, the envelope points and the fitted law; log FLOPs axis.

    The accuracy axis is linear by default, from 0 to just above the best run, so the law's rise shows (a log
    axis spanning 0.01-60 % squashes it flat); ``yscale="log"`` draws it log-log.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    fig = new_figure(6, 4.2)
    ax = fig.subplots()
    kept = y > law.collapse
    ax.plot(x[kept], y[kept], color="0.6", label=f"runs ({int(kept.sum())})", **_MARKER)
    ax.scatter(law.points_x_, law.points_y_, color="C3", s=28, zorder=3, label=f"envelope ({law.n_} bins)")
    grid = _grid(x[kept])
    ax.plot(grid, law.predict(grid), color="C0", zorder=4,
            label=f"{law.C_:.4g}·x^{law.alpha_:.4g} (R²={law.r2_:.2f})")
    for edge in law.edges_:
        ax.axvline(edge, color="0.9", linewidth=0.6, zorder=0)
    log_axis(ax, "x")
    if yscale == "log":
        log_axis(ax, "y")
    else:
        top = float(np.nanmax(np.concatenate([y[kept], law.predict(grid)]))) if kept.any() else 100.0
        ax.set_ylim(0.0, min(100.0, top * 1.08) if top > 0 else 100.0)
    ax.set_xlabel(flops_label)
    ax.set_ylabel(acc_label)
    ax.set_title(f"Envelope power law ({law.dropped_} collapsed runs dropped)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_cost_fit(fit, x, y, flops_label: str, cost_label: str, title: str) -> Figure:
    """Runs, the log-log OLS line, its 95 % mean band and the prediction band."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    fig = new_figure(6, 4.2)
    ax = fig.subplots()
    ax.plot(x, y, color="0.5", label=f"runs ({len(x)})", **_MARKER)
    grid = _grid(x)
    lo, hi = fit.predict_interval(grid, "mean")
    plo, phi = fit.predict_interval(grid, "obs")
    ax.fill_between(grid, plo, phi, color="C0", alpha=0.1, linewidth=0, label="95 % prediction")
    ax.fill_between(grid, lo, hi, color="C0", alpha=0.3, linewidth=0, label="95 % mean")
    ax.plot(grid, fit.predict(grid), color="C0",
            label=f"α={fit.alpha_:.3f} [{fit.alpha_ci_[0]:.3f}, {fit.alpha_ci_[1]:.3f}], R²={fit.r2_:.2f}")
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlabel(flops_label)
    ax.set_ylabel(cost_label)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_predicted_vs_true(gbr, acc_label: str = "AutoAttack accuracy (%)") -> Figure:
    """Holdout predictions of the gradient-boosting model against the truth."""
    fig = new_figure(4.5, 4.5)
    ax = fig.subplots()
    ax.plot(gbr.y_test_, gbr.y_pred_, color="C0", **_MARKER)
    lo = float(min(np.min(gbr.y_test_), np.min(gbr.y_pred_)))
    hi = float(max(np.max(gbr.y_test_), np.max(gbr.y_pred_)))
    ax.plot([lo, hi], [lo, hi], color="0.3", linewidth=0.8)
    ax.set_xlabel(f"true {acc_label}")
    ax.set_ylabel(f"predicted {acc_label}")
    ax.set_title(f"Holdout: R²={gbr.r2_test_:.3f}, MAE={gbr.mae_test_:.2f} (n={gbr.n_test_})")
    return fig


def plot_importances(gbr) -> Figure:
    """Impurity and permutation importances side by side, one bar pair per factor."""
    names = list(gbr.features_)
    imp = np.array([gbr.importances_[n] for n in names])
    perm = np.array([gbr.permutation_importances_[n]["mean"] for n in names])
    perm_sd = np.array([gbr.permutation_importances_[n]["sd"] for n in names])
    order = np.argsort(imp)
    fig = new_figure(6.5, 0.45 * len(names) + 1.5)
    ax = fig.subplots()
    pos = np.arange(len(names))
    ax.barh(pos - 0.2, imp[order], height=0.4, color="C0", label="impurity")
    ax.barh(pos + 0.2, perm[order], height=0.4, xerr=perm_sd[order], color="C1", label="permutation (ΔR²)")
    ax.set_yticks(pos)
    ax.set_yticklabels([names[i] for i in order], fontsize=8)
    ax.set_xlabel("importance")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Factor importances (gradient boosting)")
    return fig


def _order(value):
    # numbers in numeric order, before text; "<none>" last
    if isinstance(value, (bool, np.bool_)):
        return (1, 0.0, str(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (0, float(value), "")
    return (2 if value == "<none>" else 1, 0.0, str(value))


def _levels(values: pd.Series) -> List:
    return sorted(values.map(lambda v: "<none>" if pd.isna(v) else v).unique(), key=_order)


def plot_by_factor(x, y, factor: pd.Series, facet: Optional[pd.Series] = None, law=None,
                   flops_label: str = "FLOPs", acc_label: str = "AutoAttack accuracy (%)") -> Figure:
    """Accuracy against FLOPs coloured by one factor, one panel per level of ``facet`` (the study's figs 1a, 2).

    A numeric factor with more than ten levels is drawn on a colour scale, others with one colour per level.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    factor = pd.Series(factor).reset_index(drop=True)
    panels = [(None, np.ones(len(x), dtype=bool))]
    if facet is not None:
        facet = pd.Series(facet).reset_index(drop=True)
        labels = facet.map(lambda v: "<none>" if pd.isna(v) else v)
        levels = _levels(facet)
        if 1 < len(levels) <= 6:
            panels = [(lv, (labels == lv).to_numpy()) for lv in levels]
    fig = new_figure(4.6 * len(panels) + 1.2, 4.0)
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    numeric = pd.api.types.is_numeric_dtype(factor) and not pd.api.types.is_bool_dtype(factor)
    continuous = numeric and factor.nunique() > MAX_LEVELS
    levels = None if continuous else _levels(factor)
    if levels is not None and len(levels) > MAX_LEVELS:
        continuous = False
        top = factor.astype(str).value_counts().index[:MAX_LEVELS - 1]
        factor = factor.astype(str).where(factor.astype(str).isin(top), "other")
        levels = _levels(factor)
    labels_f = factor.map(lambda v: "<none>" if pd.isna(v) else v)
    for ax, (title, mask) in zip(axes, panels):
        if continuous:
            sc = ax.scatter(x[mask], y[mask], c=factor.to_numpy(dtype=float)[mask], cmap="viridis", **_POINT)
        else:
            for i, lv in enumerate(levels):
                sel = mask & (labels_f == lv).to_numpy()
                if sel.any():
                    ax.plot(x[sel], y[sel], color=f"C{i % 10}", label=str(lv), **_MARKER)
        if law is not None:
            grid = _grid(x[x > 0])
            ax.plot(grid, law.predict(grid), color="k", linewidth=1, label="envelope law")
        log_axis(ax, "x")
        ax.set_xlabel(flops_label)
        if title is not None:
            ax.set_title(f"{facet.name} = {title}", fontsize=9)
    axes[0].set_ylabel(acc_label)
    if continuous:
        fig.colorbar(sc, ax=list(axes), label=str(factor.name))
    else:
        axes[-1].legend(title=str(factor.name), fontsize=7, title_fontsize=8, loc="lower right", markerscale=2)
    fig.suptitle(f"Accuracy vs FLOPs by {factor.name}", fontsize=10)
    return fig


def plot_quantile(frontier, law, x, y, flops_label: str = "FLOPs",
                  acc_label: str = "AutoAttack accuracy (%)") -> Figure:
    """All runs with the q-quantile line and the envelope law: two frontier estimates."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    fig = new_figure(6, 4.2)
    ax = fig.subplots()
    ax.plot(x, y, color="0.6", label=f"runs ({len(x)})", **_MARKER)
    grid = _grid(x)
    ax.plot(grid, frontier.predict(grid), color="C2",
            label=f"q={frontier.q:g} quantile: {frontier.slope_:.2f} %/decade")
    if law is not None:
        ax.plot(grid, law.predict(grid), color="C0", linestyle="--", label="envelope law")
    log_axis(ax, "x")
    ax.set_xlabel(flops_label)
    ax.set_ylabel(acc_label)
    ax.set_title("Frontier estimates: quantile regression and envelope")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_laws(laws, x, y, px, py, flops_label: str = "FLOPs",
              acc_label: str = "AutoAttack accuracy (%)", reach: float = 100.0) -> Figure:
    """Envelope points and every candidate law, extended ``reach``-fold beyond the largest FLOPs, with the
    bounded laws' asymptotes dotted (the runs themselves are in the envelope figure)."""
    x = np.asarray(x, dtype=float)
    fig = new_figure(6.5, 4.4)
    ax = fig.subplots()
    pos = x > 0
    ax.scatter(px, py, color="k", s=20, zorder=3, label="envelope points")
    grid = np.logspace(np.log10(np.min(px)), np.log10(np.max(px) * reach), 300)
    for i, (name, law) in enumerate(laws.items()):
        ax.plot(grid, law.predict(grid), color=f"C{i}", label=name)
        if law.asymptote is not None and law.asymptote <= 100:
            ax.axhline(law.asymptote, color=f"C{i}", linestyle=":", linewidth=0.8)
    ax.axvline(np.max(x[pos]), color="0.5", linestyle="--", linewidth=0.8, label="largest observed")
    log_axis(ax, "x")
    ax.set_ylim(max(0.0, float(np.min(py)) - 10), min(100.0, float(np.max(py)) + 25))
    ax.set_xlabel(flops_label)
    ax.set_ylabel(acc_label)
    ax.set_title(f"Candidate laws, extrapolated {reach:g}x")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_trend(year, values, fits, ylabel: str, title: str, log: bool = True) -> Figure:
    """Values against year (log scale), with each era's fitted log-linear growth line."""
    year = np.asarray(year, dtype=float)
    values = np.asarray(values, dtype=float)
    fig = new_figure(6, 4.2)
    ax = fig.subplots()
    ax.plot(year, values, color="C0", label=f"models ({len(year)})", **dict(_MARKER, alpha=0.7, markersize=4))
    for i, fit in enumerate(fits):
        grid = np.linspace(fit["year_min"], fit["year_max"], 50)
        ax.plot(grid, 10 ** (fit["intercept"] + fit["slope"] * grid), color=f"C{i + 1}",
                label=f"{fit['era']}: doubling {fit['doubling_years']:.2g} y" if fit.get("doubling_years") else
                fit["era"])
    if log:
        log_axis(ax, "y")
    ax.set_xlabel("year")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_accuracy_by_year(year, acc, frontier_years, frontier_acc, acc_label: str) -> Figure:
    """Robust accuracy of each model against its year, with the best-so-far frontier."""
    fig = new_figure(6, 4.2)
    ax = fig.subplots()
    ax.plot(year, acc, color="C0", label=f"models ({len(year)})", **dict(_MARKER, alpha=0.7, markersize=4))
    ax.step(frontier_years, frontier_acc, where="post", color="C3", label="best so far")
    ax.set_xlabel("year")
    ax.set_ylabel(acc_label)
    ax.set_title("Robust accuracy by year")
    ax.legend(fontsize=8, loc="lower right")
    return fig
