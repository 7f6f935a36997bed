"""Figure of the allocation section: iso-FLOP curves of the joint law and the compute-optimal frontier."""
from __future__ import annotations

import numpy as np

from ..allocation import optimal_allocation, predict


def plot_allocation(plotting, fit, part):
    """Left: predicted error against N along ``k N D = C`` for several budgets (optimum marked), with the runs.
    Right: the optimal N and D against C, with the asked budgets and their bootstrap intervals."""
    law = fit["law"]
    alloc = fit["allocation"]
    fig = plotting.new_figure(10, 4)
    left, right = fig.subplots(1, 2)
    n, t = fit["n"], fit["t"]
    left.plot(n, t, linestyle="", marker="o", markersize=3, alpha=0.4, color="grey", label="runs")
    plotting.log_axis(left, "x")
    left.set_xlabel("parameters N")
    left.set_ylabel(fit["what"])
    if alloc is None:
        grid = np.logspace(np.log10(n.min()), np.log10(n.max()), 100)
        for d in np.quantile(fit["d"], [0.1, 0.5, 0.9]):
            left.plot(grid, predict(law.theta_, grid, d), label=f"D = {d:.3g}")
        left.legend(fontsize=7)
        right.text(0.5, 0.5, "no FLOPs column: no budgets", ha="center", va="center", transform=right.transAxes)
        return fig
    k = alloc["k"]
    c_obs = k * n * fit["d"]
    budgets = np.logspace(np.log10(c_obs.min()), np.log10(max(c_obs.max(), max(b["flops"] for b in alloc["budgets"]))),
                          5)
    lo, hi = np.log10(n.min()) - 1, np.log10(n.max()) + 2
    grid = np.logspace(lo, hi, 200)
    for c in budgets:
        line, = left.plot(grid, predict(law.theta_, grid, c / (k * grid)), linewidth=1, label=f"C = {c:.2g}")
        best = optimal_allocation(law.theta_, c, k)
        if np.isfinite(best[0]):
            left.plot([best[0]], [best[2]], marker="*", markersize=9, color=line.get_color())
    top = float(np.max(t)) * 1.5
    left.set_ylim(min(float(np.min(t)), law.params_["E"]) * 0.9, top)
    left.set_title("iso-FLOP curves (★ optimum)", fontsize=9)
    left.legend(fontsize=7)
    cs = np.logspace(np.log10(budgets[0]), np.log10(budgets[-1]), 50)
    best = np.array([optimal_allocation(law.theta_, c, k) for c in cs])
    right.plot(cs, best[:, 0], label="best N")
    right.plot(cs, best[:, 1], label="best D (samples seen)")
    for b in alloc["budgets"]:
        for key, color in (("params", "C0"), ("samples", "C1")):
            lo_ci, hi_ci = b[f"{key}_ci"]
            if np.isfinite(lo_ci) and np.isfinite(hi_ci):
                right.errorbar([b["flops"]], [b[key]], yerr=[[b[key] - lo_ci], [hi_ci - b[key]]], fmt="o",
                               color=color, capsize=3, markersize=4)
    plotting.log_axis(right, "x")
    plotting.log_axis(right, "y")
    right.set_xlabel("compute budget C (FLOPs column's unit)")
    right.set_title("compute-optimal frontier (budgets with 95 % bootstrap CI)", fontsize=9)
    right.legend(fontsize=7)
    return fig
