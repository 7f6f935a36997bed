"""Slowdown attacks on multi-exit models (DeepSloth): EEC curves, efficacy and accuracy per attack and norm,
compute amplification, and the defence table (the shape of DeepSloth's Table 3).

Reads the ``slowdown.*`` columns that ``robustperf collect`` flattens from records evaluated with
``evaluation.slowdown``: per RAD level ``slowdown.by_rad.<rad5>.clean.*`` and ``...attacks.<attack>_<norm>.*``
(efficacy, accuracy, exit_fraction as JSON text, crafting and victim FLOPs, amplification), and
``slowdown.exit_cumulative_flops``. Rows without them are ignored; a table with none skips the section.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

import numpy as np

from recipes import catalog
from results import Slowdown
from results.config_paths import config_path
from results.keys import SLOWDOWN_BY_RAD, SLOWDOWN_EXIT_FLOPS

from ..formatting import md_table, num
from .base import Section, SkipSection

#: The record fields read (flattened columns): per RAD level ``<BY_RAD>.<rad>.clean.*`` and ``...attacks.<name>.*``.
BY_RAD = Slowdown.path(SLOWDOWN_BY_RAD)
EXIT_FLOPS = Slowdown.path(SLOWDOWN_EXIT_FLOPS)
ARCH = config_path("model.arch")
METHOD = config_path("training.loss")
_ATTACK_COL = re.compile(rf"^{re.escape(BY_RAD)}\.([^.]+)\.attacks\.([^.]+)\.efficacy$")
_CLEAN_COL = re.compile(rf"^{re.escape(BY_RAD)}\.([^.]+)\.clean\.efficacy$")
MAX_EEC_RUNS = 4


def _value(row, col) -> Optional[float]:
    value = row.get(col)
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _json_list(row, col) -> Optional[List[float]]:
    value = row.get(col)
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    if isinstance(value, str):
        try:
            out = json.loads(value)
        except ValueError:
            return None
        return [float(v) for v in out] if isinstance(out, list) else None
    return None


def eec_points(fractions: List[float], cumulative: List[float]):
    """The EEC curve's points (as :func:`benchmarks.slowdown.metrics.eec_curve`; numpy only here)."""
    c = np.asarray(cumulative, dtype=float)
    x = np.concatenate([[0.0], c / c[-1]])
    y = np.minimum(np.concatenate([[0.0], np.cumsum(fractions)]), 1.0)
    y[-1] = 1.0
    return x, y


def _split_name(name: str):
    base, _, norm = name.rpartition("_")
    return (base, norm) if norm in catalog.NORMS else (name, "")


class SlowdownSection(Section):
    title = "Slowdown attacks on early exits (DeepSloth)"
    core = ()  # reads only its own columns: runs on a table without FLOPs or accuracy

    def columns(self, ctx):
        if not any(_CLEAN_COL.match(str(c)) for c in ctx.table.columns):
            raise SkipSection("no slowdown.by_rad.*.clean.efficacy column (runs without evaluation.slowdown)")
        return ()

    def fit(self, ctx):
        table = ctx.table
        cols = [str(c) for c in table.columns]
        rads = sorted({m.group(1) for c in cols for m in [_CLEAN_COL.match(c)] if m},
                      key=lambda k: float(re.sub(r"[^0-9.]", "", k.replace("_", ".")) or 0))
        attacks = sorted({(m.group(1), m.group(2)) for c in cols for m in [_ATTACK_COL.match(c)] if m})
        labels = ctx.labels(table)
        rows, curves, degenerate = [], [], []
        for i, row in enumerate(table.to_dict("records")):
            arch = row.get(ARCH)
            method = row.get(METHOD)
            flops = _json_list(row, EXIT_FLOPS)
            for rk in rads:
                pre = f"{BY_RAD}.{rk}"
                e0 = _value(row, f"{pre}.clean.efficacy")
                if e0 is None:
                    continue
                if _value(row, f"{pre}.calibration.degenerate"):
                    # the thresholds make the network its first IC: no slowdown result to present (calibrate.py)
                    degenerate.append({"run": str(labels.iloc[i]), "rad": rk,
                                       "reason": row.get(f"{pre}.calibration.degenerate_reason")})
                    continue
                a0 = _value(row, f"{pre}.clean.accuracy")
                rows.append({"run": str(labels.iloc[i]), "arch": arch, "method": method, "rad": rk,
                             "attack": "clean", "norm": "", "efficacy": e0, "accuracy": a0,
                             "efficacy_clean": e0, "accuracy_clean": a0})
                curve = {"run": str(labels.iloc[i]), "rad": rk, "flops": flops,
                         "clean": _json_list(row, f"{pre}.clean.exit_fraction"), "attacks": {}}
                for rk2, name in attacks:
                    if rk2 != rk:
                        continue
                    ap = f"{pre}.attacks.{name}"
                    eff = _value(row, f"{ap}.efficacy")
                    if eff is None:
                        continue
                    attack, norm = _split_name(name)
                    rows.append({"run": str(labels.iloc[i]), "arch": arch, "method": method, "rad": rk,
                                 "attack": attack, "norm": norm, "efficacy": eff,
                                 "accuracy": _value(row, f"{ap}.accuracy"), "efficacy_clean": e0,
                                 "accuracy_clean": a0,
                                 "crafting_flops": _value(row, f"{ap}.crafting_flops"),
                                 "victim_extra_flops": _value(row, f"{ap}.victim_extra_flops"),
                                 "amplification_flops": _value(row, f"{ap}.amplification_flops"),
                                 "amplification_energy": _value(row, f"{ap}.amplification_energy"),
                                 "amplification_latency": _value(row, f"{ap}.amplification_latency")})
                    curve["attacks"][name] = _json_list(row, f"{ap}.exit_fraction")
                if flops and curve["clean"]:
                    curves.append(curve)
        if not rows:
            if degenerate:
                raise SkipSection(f"every slowdown result ({len(degenerate)}) comes from a degenerate calibration "
                                  f"(first: {degenerate[0]['run']} {degenerate[0]['rad']}: "
                                  f"{degenerate[0]['reason']}); none measures an early exit")
            raise SkipSection("no run has slowdown results")
        return {"rads": rads, "rows": rows, "curves": curves, "degenerate": degenerate}

    def summary(self, fitted, ctx) -> Dict[str, Any]:
        rows = fitted["rows"]
        primary = fitted["rads"][0]
        defence: Dict[str, Dict[str, Any]] = {}
        for r in rows:
            if r["rad"] != primary:
                continue
            key = f"{r['arch']} / {r['method']}"
            col = r["attack"] if not r["norm"] else f"{r['attack']} ({r['norm']})"
            defence.setdefault(key, {})[col] = {"efficacy": r["efficacy"], "accuracy": r["accuracy"]}
        return {"rads": fitted["rads"], "n_runs": len({r["run"] for r in rows}), "results": rows,
                "defence_table": defence, "efficacy_definition": "trapezoidal area under the EEC curve (DeepSloth)",
                "excluded_degenerate": fitted["degenerate"]}

    def figures(self, fitted, ctx, save) -> None:
        import matplotlib  # matplotlib deferred: loaded only when figures are drawn

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        curves = fitted["curves"][:MAX_EEC_RUNS]
        if curves:
            fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
            for ax, curve in zip(axes[0], curves):
                x, y = eec_points(curve["clean"], curve["flops"])
                ax.plot(x, y, "k-o", ms=3, label="clean")
                for name, fractions in curve["attacks"].items():
                    if fractions:
                        xa, ya = eec_points(fractions, curve["flops"])
                        ax.plot(xa, ya, "-", lw=1.2, label=name)
                ax.set_xlabel("fraction of the full network's FLOPs")
                ax.set_ylabel("fraction of samples exited")
                ax.set_title(f"{curve['run']} ({curve['rad']})", fontsize=9)
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1.02)
                ax.legend(fontsize=6)
            fig.tight_layout()
            save(fig, "slowdown_eec")
            plt.close(fig)
        rows = [r for r in fitted["rows"] if r["rad"] == fitted["rads"][0] and r["attack"] != "clean"]
        if rows:
            names = [f"{r['attack']}\n{r['norm']}" for r in rows]
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(6, 0.6 * len(rows) + 3) * 2, 3.8))
            idx = np.arange(len(rows))
            ax1.bar(idx - 0.2, [r["efficacy_clean"] for r in rows], 0.4, label="clean", color="0.6")
            ax1.bar(idx + 0.2, [r["efficacy"] for r in rows], 0.4, label="attacked", color="C3")
            ax1.set_ylabel(f"efficacy ({fitted['rads'][0]})")
            ax2.bar(idx - 0.2, [r["accuracy_clean"] or 0 for r in rows], 0.4, label="clean", color="0.6")
            ax2.bar(idx + 0.2, [r["accuracy"] or 0 for r in rows], 0.4, label="attacked", color="C0")
            ax2.set_ylabel("early-exit accuracy (%)")
            for ax in (ax1, ax2):
                ax.set_xticks(idx)
                ax.set_xticklabels(names, fontsize=6, rotation=60)
                ax.legend(fontsize=7)
            fig.tight_layout()
            save(fig, "slowdown_efficacy")
            plt.close(fig)
            amp = [(n, r["amplification_flops"]) for n, r in zip(names, rows) if r.get("amplification_flops")]
            if amp:
                fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(amp) + 2), 3.5))
                ax.bar(range(len(amp)), [a for _, a in amp], color="C2")
                ax.set_yscale("log")
                ax.axhline(1.0, color="k", lw=0.8, ls="--")
                ax.set_xticks(range(len(amp)))
                ax.set_xticklabels([n for n, _ in amp], fontsize=6, rotation=60)
                ax.set_ylabel("victim extra FLOPs / attacker FLOPs")
                fig.tight_layout()
                save(fig, "slowdown_amplification")
                plt.close(fig)

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", ""]
        if "results" not in part:
            return lines + [part.get("skipped", ""), ""]
        lines += [f"{part['n_runs']} runs; efficacy = {part['efficacy_definition']}; each cell efficacy / accuracy "
                  "(%); amplification = the victim's extra FLOPs over the attacker's crafting FLOPs (estimated "
                  "from counted passes).", ""]
        excluded = part.get("excluded_degenerate") or []
        if excluded:
            lines += [f"Left out: {len(excluded)} result(s) whose calibration is degenerate (the thresholds make the "
                      "network its first IC, so they measure no early exit): "
                      + "; ".join(f"{e['run']} {e['rad']}" for e in excluded[:20]), ""]
        rows = [r for r in part["results"] if r["attack"] != "clean"]
        lines += md_table(["run", "RAD", "attack", "norm", "efficacy clean → attacked", "accuracy clean → attacked",
                           "amplification (FLOPs)", "amplification (latency)"],
                          [[r["run"], r["rad"], r["attack"], r["norm"],
                            f"{num(r['efficacy_clean'], '.2f')} → {num(r['efficacy'], '.2f')}",
                            f"{num(r['accuracy_clean'], '.1f')} → {num(r['accuracy'], '.1f')}",
                            num(r.get("amplification_flops"), ".3g"), num(r.get("amplification_latency"), ".3g")]
                           for r in rows[:200]])
        table = part["defence_table"]
        if table:
            cols: List[str] = []
            for cells in table.values():
                for c in cells:
                    if c not in cols:
                        cols.append(c)
            cols.sort(key=lambda c: (c != "clean", c))
            lines += ["", f"Defence table ({part['rads'][0]}; rows: model / training method):", ""]
            lines += md_table(["model / training"] + cols,
                              [[key] + [f"{num(cells[c]['efficacy'], '.2f')} / {num(cells[c]['accuracy'], '.0f')}%"
                                        if c in cells else "" for c in cols] for key, cells in table.items()])
        return lines + [""]
