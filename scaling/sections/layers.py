"""Time by layer type, robust versus standard training: the records' ``timing.layer_profile``
(``measurement.layer_profile``, measured by :mod:`benchmarks.measurement.layers`), per training method.

For every method (``config.training.loss``) with profiled runs: the mean seconds per profiled training step in
convolutions, normalisation, activations, linear layers and the rest, and each type's share; a stacked bar
figure puts the methods side by side (the planning document's "time breakdown by layer type" of robust versus
standard training). Skipped when no run was profiled.
"""
from __future__ import annotations

from typing import List

import numpy as np

from results import Timing
from results.config_paths import config_path

from ..formatting import md_table, num
from .base import Section, SkipSection

#: the layer types, as benchmarks.measurement.layers.CATEGORIES (scaling never imports the workloads;
#: tests/scaling/sections/test_layers_section.py checks the two are equal)
CATEGORIES = ("convolution", "normalisation", "activation", "linear", "other")
PREFIX = Timing.path("layer_profile") + "."
METHOD = config_path("training.loss")


class LayerTimeSection(Section):
    title = "Time by layer type"
    core = ()

    def columns(self, ctx):
        return [f"{PREFIX}seconds.{c}" for c in CATEGORIES] + [f"{PREFIX}steps"]

    def fit(self, ctx):
        frame = ctx.table
        seconds = np.column_stack([ctx.numeric(f"{PREFIX}seconds.{c}", "layer seconds") for c in CATEGORIES])
        steps = ctx.numeric(f"{PREFIX}steps", "layer steps").to_numpy(dtype=float)
        ok = np.isfinite(seconds).all(axis=1) & np.isfinite(steps) & (steps > 0)
        if not ok.any():
            raise SkipSection("no run has timing.layer_profile (measurement.layer_profile)")
        methods = (frame[METHOD].astype(str) if METHOD in frame.columns else ctx.labels(frame).astype(str))
        rows = []
        for method in sorted(set(methods[ok])):
            pick = ok & (methods == method).to_numpy()
            per_step = (seconds[pick] / steps[pick, None]).mean(axis=0)
            total = float(per_step.sum())
            rows.append({"method": method, "runs": int(pick.sum()),
                         "seconds_per_step": dict(zip(CATEGORIES, map(float, per_step))),
                         "share": {c: (float(v) / total if total > 0 else None) for c, v in zip(CATEGORIES, per_step)}})
        return {"methods": rows}

    def summary(self, fitted, ctx):
        return fitted

    def figures(self, fitted, ctx, save) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = fitted["methods"]
        fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(rows)))
        left = np.zeros(len(rows))
        for category in CATEGORIES:
            values = np.array([r["seconds_per_step"][category] for r in rows])
            ax.barh([r["method"] for r in rows], values, left=left, label=category)
            left += values
        ax.set_xlabel("seconds per training step (torch profiler)")
        ax.set_title("Time by layer type")
        ax.legend(fontsize=7, ncol=len(CATEGORIES), loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.1 / len(rows)))
        fig.tight_layout()
        save(fig, self.name)

    def markdown(self, part, report) -> List[str]:
        head = ["method", "runs", "s / step"] + [f"{c} %" for c in CATEGORIES]
        body = [[r["method"], str(r["runs"]), num(sum(r["seconds_per_step"].values()), ".4g")]
                + [num(100 * r["share"][c], ".1f") if r["share"][c] is not None else "-" for c in CATEGORIES]
                for r in part["methods"]]
        return [f"## {self.title}", "", "Mean over each method's profiled runs (`timing.layer_profile`); the "
                "shares are of the profiled step time.", ""] + md_table(head, body)
