"""Accuracy, training time, power and cost by device and dataset: the cost-aware study's Figures 3-6 (Meyers et
al., "A Cost-Aware Approach to Adversarial Robustness in Neural Networks"), drawn from the records.

Runs when the table has more than one device or more than one dataset (otherwise skipped, saying which one of
each it has). The device of a run is its first GPU's name (``hardware.gpus``), else its CPU model
(``hardware.cpu``), else ``cost.device_model``; a mapping may name another column (``sections: {devices:
{device: COLUMN, dataset: COLUMN}}``; the dataset is ``config.data.name`` by default). Completed runs only.
Per (device, dataset) group and quantity the report gives n, mean and sample sd of the measured values
(``devices.groups``); one figure per quantity: the group means as bars by dataset, one bar per device, with
±1 sd and every run as a dot.

Quantities (the ones present): clean and adversarial accuracy (AutoAttack, else PGD; Figure 3), training time
(``timing.train_seconds``, Figure 4), mean device power while measured (``energy.mean_power_w``, Figure 5) and
the training cost (cloud $ at the device's hourly price, ``cost.cloud_usd_low``, else electricity $; Figure 6).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from results import Accuracy, Cost, Energy, Hardware, Timing
from results.config_paths import config_path

from ..errors import TableError
from ..formatting import md_table, num
from .base import Section, SkipSection

DATASET = config_path("data.name")
GPUS, CPU, DEVICE_MODEL = Hardware.path("gpus"), Hardware.path("cpu"), Cost.path("device_model")
#: figure stem -> (title, [(column candidates in order of preference, short name, axis label)])
FIGURES = {
    "device_accuracy": ("accuracy", [((Accuracy.path("clean"),), "clean", "clean accuracy (%)"),
                                     ((Accuracy.path("autoattack"), Accuracy.path("pgd")), "adversarial",
                                      "adversarial accuracy (%)")]),
    "device_train_time": ("training time", [((Timing.path("train_seconds"),), "train_seconds",
                                             "training time (s)")]),
    "device_power": ("power", [((Energy.path("mean_power_w"),), "power_w", "mean device power (W)")]),
    "device_cost": ("cost", [((Cost.path("cloud_usd_low"), Cost.path("electricity_usd")), "cost_usd",
                              "training cost ($)")]),
}


def _first_gpu(value: Any) -> Optional[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value or None
    if isinstance(value, (list, tuple)) and value:
        return str(value[0])
    return None


def device_labels(table: pd.DataFrame) -> pd.Series:
    """The device of each row: first GPU, else CPU model, else ``cost.device_model`` (None when none is known)."""
    out = []
    for _, row in table.iterrows():
        label = _first_gpu(row.get(GPUS)) if GPUS in table.columns else None
        for col in (CPU, DEVICE_MODEL):
            if label is None and col in table.columns and isinstance(row.get(col), str) and row.get(col):
                label = row.get(col)
        out.append(label)
    return pd.Series(out, index=table.index, dtype=object)


class DevicesSection(Section):
    title = "Accuracy, training time, power and cost by device and dataset"
    core = ()
    option_keys = {"device": "column naming a run's device (default: first GPU, else CPU model)",
                   "dataset": "column naming a run's dataset (default config.data.name)"}

    def named_columns(self, ctx) -> Dict[str, str]:
        opts = ctx.section_options(self.name)
        return {f"sections.devices.{k}": str(opts[k]) for k in ("device", "dataset") if opts.get(k) is not None}

    def columns(self, ctx):
        opts = ctx.section_options(self.name)
        if opts.get("device") is None and not {GPUS, CPU, DEVICE_MODEL} & set(ctx.table.columns):
            raise SkipSection(f"no device column ({GPUS}, {CPU} or {DEVICE_MODEL}; or sections.devices.device)")
        return [str(opts.get("dataset", DATASET))] + ([str(opts["device"])] if opts.get("device") else [])

    def fit(self, ctx):
        opts = ctx.section_options(self.name)
        table = ctx.table
        if "status" in table.columns:
            table = table[table["status"] == "completed"]
        device = (table[opts["device"]].astype(str) if opts.get("device") else device_labels(table))
        dataset = table[str(opts.get("dataset", DATASET))]
        ok = device.notna() & dataset.notna()
        table, device, dataset = table[ok], device[ok].astype(str), dataset[ok].astype(str)
        devices, datasets = sorted(set(device)), sorted(set(dataset))
        if len(devices) < 2 and len(datasets) < 2:
            raise SkipSection(f"one device ({', '.join(devices) or 'none'}) and one dataset "
                              f"({', '.join(datasets) or 'none'}): nothing to compare")
        quantities: Dict[str, Any] = {}
        for stem, (_, specs) in FIGURES.items():
            for candidates, short, label in specs:
                col = next((c for c in candidates if c in table.columns), None)
                if col is None:
                    continue
                try:
                    values = pd.to_numeric(table[col], errors="raise").astype(float)
                except (TypeError, ValueError):
                    raise TableError(f"column '{col}' ({label}) has values that are not numbers") from None
                groups = []
                for (dev, data), v in values.groupby([device, dataset], sort=True):
                    v = v[np.isfinite(v)]
                    if v.empty:
                        continue
                    groups.append({"device": dev, "dataset": data, "n": int(v.size), "mean": float(v.mean()),
                                   "sd": float(v.std(ddof=1)) if v.size > 1 else None,
                                   "values": [float(x) for x in v]})
                if groups:
                    quantities[short] = {"column": col, "label": label, "figure": stem, "groups": groups}
        if not quantities:
            raise SkipSection("no accuracy, training time, power or cost column with values")
        return {"devices": devices, "datasets": datasets, "quantities": quantities,
                "how": "measured values of the completed runs, grouped by device and dataset: mean and sample sd"}

    def summary(self, fitted, ctx):
        out = {k: v for k, v in fitted.items() if k != "quantities"}
        out["groups"] = {short: {"column": q["column"], "label": q["label"],
                                 "groups": [{k: v for k, v in g.items() if k != "values"} for g in q["groups"]]}
                         for short, q in fitted["quantities"].items()}
        return out

    def figures(self, fitted, ctx, save) -> None:
        import matplotlib.pyplot as plt  # matplotlib deferred: loaded only when figures are drawn

        devices, datasets = fitted["devices"], fitted["datasets"]
        for stem, (title, specs) in FIGURES.items():
            parts = [fitted["quantities"][short] for _, short, _ in specs if short in fitted["quantities"]]
            if not parts:
                continue
            fig, axes = plt.subplots(1, len(parts), figsize=(5.5 * len(parts), 4.2), squeeze=False)
            width = 0.8 / len(devices)
            for ax, q in zip(axes[0], parts):
                for k, dev in enumerate(devices):
                    pos, means, sds = [], [], []
                    for j, data in enumerate(datasets):
                        g = next((g for g in q["groups"] if g["device"] == dev and g["dataset"] == data), None)
                        if g is None:
                            continue
                        x = j - 0.4 + width * (k + 0.5)
                        pos.append(x)
                        means.append(g["mean"])
                        sds.append(g["sd"] or 0.0)
                        ax.scatter([x] * g["n"], g["values"], s=8, color="k", zorder=3)
                    ax.bar(pos, means, width=width, yerr=sds, color=f"C{k}", label=dev, capsize=3)
                ax.set_xticks(range(len(datasets)))
                ax.set_xticklabels(datasets)
                ax.set_ylabel(q["label"])
                ax.set_xlabel("dataset")
                ax.legend(fontsize=7, title="device")
            fig.suptitle(f"{title[0].upper()}{title[1:]} by device and dataset (measured; mean ± sd, runs as dots)")
            fig.tight_layout()
            save(fig, stem)
            plt.close(fig)

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 f"Measured values of the completed runs by device ({', '.join(part['devices'])}) and dataset "
                 f"({', '.join(part['datasets'])}): mean ± sample sd (n).", ""]
        rows = []
        for q in part["groups"].values():
            for g in q["groups"]:
                rows.append([q["label"], g["device"], g["dataset"], str(g["n"]), num(g["mean"]), num(g["sd"])])
        return lines + md_table(["quantity", "device", "dataset", "n", "mean", "sd"], rows)
