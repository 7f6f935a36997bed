"""Power per epoch: robust against standard training (the methods study), from the records' per-epoch energy.

Each run's record keeps its per-epoch training energy (``energy.epochs``: ``[epoch, seconds, gpu_j, cpu_j,
dram_j]`` rows, :mod:`benchmarks.measurement.epochs`); an epoch's power is its joules over the device kinds
measured divided by its seconds. Within each setting (dataset x model, as the methods section groups runs),
every method's average power (joules ÷ seconds over all its epochs and runs) is divided by ``standard``'s, with
a 95 % percentile bootstrap interval that resamples the epochs of both methods (fixed seed, so the report is
reproducible). The figure draws the mean power per epoch of each method, standard training dashed.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from results import Energy

from ..errors import ScalingError
from ..formatting import md_table, num
from .base import Section
from .methods import METHOD, SETTING, _labels

EPOCHS = Energy.path("epochs")
#: bootstrap resamples of the power ratio's interval
BOOTSTRAP = 2000


def epoch_power(series: Any) -> List[tuple]:
    """``(epoch, seconds, joules)`` of a record's ``energy.epochs`` (JSON text in a table); rows without
    seconds or with no measured kind are left out."""
    if isinstance(series, str):
        try:
            series = json.loads(series)
        except ValueError:
            return []
    out = []
    for row in series if isinstance(series, list) else []:
        if not isinstance(row, list) or len(row) < 5:
            continue
        epoch, seconds, *kinds = row[:5]
        joules = [float(k) for k in kinds if isinstance(k, (int, float))]
        if isinstance(seconds, (int, float)) and seconds > 0 and joules:
            out.append((epoch, float(seconds), float(sum(joules))))
    return out


def _ratio_ci(a: List[tuple], b: List[tuple], rng) -> Optional[List[float]]:
    """95 % bootstrap interval of (sum J / sum s of a) / (same of b), resampling each side's epochs."""
    if len(a) < 2 or len(b) < 2:
        return None
    sa, ja = np.array([r[1] for r in a]), np.array([r[2] for r in a])
    sb, jb = np.array([r[1] for r in b]), np.array([r[2] for r in b])
    ia = rng.integers(0, len(a), (BOOTSTRAP, len(a)))
    ib = rng.integers(0, len(b), (BOOTSTRAP, len(b)))
    ratios = (ja[ia].sum(1) / sa[ia].sum(1)) / (jb[ib].sum(1) / sb[ib].sum(1))
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return [float(lo), float(hi)]


class PowerSection(Section):
    title = "Power per epoch: robust vs standard training"
    core = ()  # reads only its own columns

    def columns(self, ctx):
        return [METHOD, EPOCHS]

    def fit(self, ctx):
        table = ctx.table.copy()
        if "status" in table.columns:
            table = table[table["status"] == "completed"]
        table["_epochs"] = [epoch_power(v) for v in table[EPOCHS]]
        table = table[table["_epochs"].map(bool)]
        if table.empty:
            raise ScalingError(f"no run has a per-epoch energy series ({EPOCHS})")
        if "standard" not in set(table[METHOD].astype(str)):
            raise ScalingError("no run of the baseline method 'standard' has a per-epoch energy series")
        table["_method"] = _labels(table)
        setting_cols = [c for c in SETTING if c in table.columns]
        rng = np.random.default_rng(0)
        settings = []
        groups = table.groupby(setting_cols, dropna=False, sort=True) if setting_cols else [((), table)]
        for key, frame in groups:
            key = key if isinstance(key, tuple) else (key,)
            base = [r for rows in frame[frame[METHOD] == "standard"]["_epochs"] for r in rows]
            if not base:
                continue
            base_power = sum(r[2] for r in base) / sum(r[1] for r in base)
            methods = []
            for label, runs in frame.groupby("_method", sort=False):
                epochs = [r for rows in runs["_epochs"] for r in rows]
                power = sum(r[2] for r in epochs) / sum(r[1] for r in epochs)
                per_epoch: Dict[Any, List[float]] = {}
                for r in epochs:
                    per_epoch.setdefault(r[0], []).append(r[2] / r[1])
                methods.append({
                    "method": label, "runs": int(len(runs)), "epochs": len(epochs), "mean_power_w": power,
                    "power_ratio": power / base_power, "power_ratio_ci": _ratio_ci(epochs, base, rng),
                    "power_per_epoch_w": [[e, float(np.mean(p))] for e, p in sorted(per_epoch.items())]})
            settings.append({"setting": {c: (None if pd.isna(v) else v) for c, v in zip(setting_cols, key)},
                             "methods": methods})
        return {"settings": settings, "bootstrap": BOOTSTRAP}

    def summary(self, fitted, ctx):
        return fitted

    def figures(self, fitted, ctx, save):
        import matplotlib.pyplot as plt  # matplotlib deferred: loaded only when figures are drawn

        for i, setting in enumerate(fitted["settings"]):
            name = " ".join(str(v) for v in setting["setting"].values() if v is not None) or "all runs"
            fig, ax = plt.subplots(figsize=(6.5, 4))
            for row in setting["methods"]:
                xs, ys = zip(*row["power_per_epoch_w"])
                standard = row["method"] == "standard"
                ax.plot(xs, ys, "k--" if standard else "-", marker="o", ms=3,
                        label=row["method"] if standard else f"{row['method']} (×{row['power_ratio']:.2f})")
            ax.set_xlabel("epoch")
            ax.set_ylabel("mean power of the epoch's training (W)")
            ax.set_title(f"Power per epoch: {name}")
            ax.legend(fontsize=8)
            fig.tight_layout()
            save(fig, f"power_epochs_{i}")
            plt.close(fig)

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 "Average power of training (joules over the device kinds measured ÷ seconds, all epochs and runs) "
                 f"÷ `standard`'s, with a 95 % bootstrap interval over epochs ({part.get('bootstrap')} resamples).",
                 ""]
        for setting in part.get("settings", []):
            name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in setting["setting"].items()) or "all runs"
            lines += [f"### {name}", ""]
            rows = []
            for r in setting["methods"]:
                ci = r.get("power_ratio_ci")
                rows.append([r["method"], str(r["runs"]), str(r["epochs"]), num(r["mean_power_w"], ".4g"),
                             num(r["power_ratio"], ".3g") + (f" [{num(ci[0], '.3g')}, {num(ci[1], '.3g')}]"
                                                             if ci else "")])
            lines += md_table(["method", "runs", "epochs", "mean power (W)", "power ratio"], rows)
            lines.append("")
        return lines
