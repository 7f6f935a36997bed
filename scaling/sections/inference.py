"""Inference cost against robust accuracy (``robustperf infer``): what a robust model costs to query.

Reads each run's ``evaluation.inference.<precision>.*`` columns (:func:`scaling.table.inference_column`):
SingleStream p50 latency, Offline energy per image (SingleStream's when Offline has none) and the robust
accuracy at that precision, which is AutoAttack's (fp32, bf16, fp16) or the transfer of the fp32 AutoAttack
examples (int8; a weaker attack, so drawn hollow and labelled). One point per run and precision; figures
``inference_latency`` and ``inference_energy`` (when any energy was measured).
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pandas as pd

from ..formatting import md_table, num
from ..table import inference_column, inference_precisions
from .base import Section, SkipSection


def _values(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([np.nan] * len(frame), index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


class InferenceSection(Section):
    title = "Inference cost against robust accuracy"
    core = ()  # reads only its own columns: runs on a table without FLOPs or accuracy

    def columns(self, ctx) -> List[str]:
        precisions = inference_precisions(ctx.table)
        if not precisions:
            raise SkipSection("no evaluation.inference.*.SingleStream.latency_ms_p50 column (run `robustperf infer "
                              "RUN_DIR` on the runs)")
        return [inference_column(p, "latency_ms_p50") for p in precisions]

    def fit(self, ctx) -> pd.DataFrame:
        table = ctx.table
        labels = ctx.labels(table)
        rows = []
        for precision in inference_precisions(table):
            energy = _values(table, inference_column(precision, "energy_j_per_image"))
            energy = energy.where(energy.notna(), _values(table, inference_column(precision,
                                                                                  "single_stream_energy_j_per_image")))
            method_col = inference_column(precision, "robust_method")
            methods = table[method_col] if method_col in table.columns else pd.Series([None] * len(table),
                                                                                      index=table.index)
            part = pd.DataFrame({
                "run": labels, "precision": precision,
                "latency_ms_p50": _values(table, inference_column(precision, "latency_ms_p50")),
                "latency_ms_p99": _values(table, inference_column(precision, "latency_ms_p99")),
                "images_per_s": _values(table, inference_column(precision, "images_per_s")),
                "energy_j_per_image": energy,
                "clean": _values(table, inference_column(precision, "clean")),
                "robust": _values(table, inference_column(precision, "robust")),
                "robust_drop_vs_fp32": _values(table, inference_column(precision, "robust_drop_vs_fp32")),
                "robust_method": methods.where(methods.notna(), None),
            })
            rows.append(part[part["latency_ms_p50"].notna()])
        points = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
        if points.empty:
            raise SkipSection("no run has an inference latency (all evaluation.inference latency cells are empty)")
        return points

    def summary(self, points: pd.DataFrame, ctx) -> Dict[str, Any]:
        by = {}
        for precision, group in points.groupby("precision", sort=False):
            methods = sorted({str(m).split(" (")[0].split(" of ")[0] for m in group["robust_method"] if m})
            by[precision] = {
                "runs": int(len(group)), "latency_ms_p50_median": _median(group["latency_ms_p50"]),
                "images_per_s_median": _median(group["images_per_s"]),
                "energy_j_per_image_median": _median(group["energy_j_per_image"]),
                "robust_median": _median(group["robust"]),
                "robust_drop_vs_fp32_median": _median(group["robust_drop_vs_fp32"]),
                "robust_method": ", ".join(methods) or None,
            }
        return {"precisions": by, "points": int(len(points)),
                "obtained": "measured by robustperf infer (latency, throughput, energy); robust accuracy by "
                            "AutoAttack or, where labelled, transfer of the fp32 AutoAttack examples"}

    def figures(self, points: pd.DataFrame, ctx, save) -> None:
        save(_scatter(points, "latency_ms_p50", "SingleStream p50 latency (ms, measured)"), "inference_latency")
        if points["energy_j_per_image"].notna().any():
            save(_scatter(points, "energy_j_per_image", "energy per image (J, measured)"), "inference_energy")

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", "", part.get("obtained", ""), ""]
        return lines + md_table(
            ["precision", "runs", "p50 ms", "images/s", "J/image", "robust %", "drop vs fp32", "robust by"],
            [[p, str(v["runs"]), num(v["latency_ms_p50_median"]), num(v["images_per_s_median"]),
              num(v["energy_j_per_image_median"]), num(v["robust_median"], ".2f"),
              num(v["robust_drop_vs_fp32_median"], "+.2f"), v["robust_method"] or "-"]
             for p, v in part["precisions"].items()]) + ["", "Medians over runs.", ""]


def _median(values: pd.Series):
    values = values.dropna()
    return float(values.median()) if len(values) else None


def _scatter(points: pd.DataFrame, x: str, xlabel: str):
    from ..plotting import log_axis, new_figure  # matplotlib deferred: loaded only when figures are drawn

    fig = new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    with_acc = points[points["robust"].notna() & points[x].notna() & (points[x] > 0)]
    for i, (precision, group) in enumerate(with_acc.groupby("precision", sort=False)):
        transfer = group["robust_method"].astype(str).str.startswith("transfer")
        color = f"C{i % 10}"
        if (~transfer).any():
            ax.scatter(group.loc[~transfer, x], group.loc[~transfer, "robust"], s=24, color=color,
                       label=f"{precision} (AutoAttack)")
        if transfer.any():
            ax.scatter(group.loc[transfer, x], group.loc[transfer, "robust"], s=24, facecolors="none",
                       edgecolors=color, label=f"{precision} (transfer)")
    if len(with_acc):
        log_axis(ax, "x")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no run with a robust accuracy", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("robust accuracy (%)")
    ax.set_title(f"{xlabel.split(' (')[0]} vs robust accuracy")
    return fig
