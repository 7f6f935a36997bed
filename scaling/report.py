"""report.json (for programs) and report.md (for people) of an analysis, written atomically.

JSON has no NaN or infinity: they are written as null (an unbounded forecast interval says so in its own
``upper_unbounded`` flag).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List

import numpy as np

from results import atomic_write_text

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python values and NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_report(out_dir: str, report: Dict[str, Any]) -> List[str]:
    """Write ``out_dir/report.json`` and ``out_dir/report.md``; return their paths."""
    data = jsonable(report)
    json_path = os.path.join(out_dir, REPORT_JSON)
    md_path = os.path.join(out_dir, REPORT_MD)
    atomic_write_text(json_path, json.dumps(data, indent=2, allow_nan=False) + "\n")
    atomic_write_text(md_path, render_markdown(data))
    return [json_path, md_path]


def _g(value: Any, fmt: str = ".4g") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value)


def _ci(pair: Any, fmt: str = ".4g") -> str:
    if not pair:
        return "–"
    lo, hi = pair
    return f"[{_g(lo, fmt)}, {'∞' if hi is None else _g(hi, fmt)}]"


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _skipped(section: Any) -> str:
    return section.get("skipped") if isinstance(section, dict) and "skipped" in section else ""


def render_markdown(r: Dict[str, Any]) -> str:
    """The human report: what was fitted, the numbers with intervals, the forecast, the figures."""
    lines = ["# robustperf scaling analysis", ""]
    cols = r.get("columns", {})
    lines += [f"Source: `{r.get('source')}` — {r.get('n_rows')} rows, {r.get('n_used')} with FLOPs and accuracy.",
              ""]
    lines += _table(["role", "column"], [[k, f"`{v}`"] for k, v in cols.items() if v and k != "features"])
    if cols.get("features"):
        lines += ["Factors: " + ", ".join(f"`{f}`" for f in cols["features"]), ""]
    for note in r.get("notes", []):
        lines.append(f"> {note}")
    if r.get("notes"):
        lines.append("")
    excluded = r.get("excluded", {})
    if any(excluded.values()):
        lines += ["## Excluded rows", ""]
        lines += _table(["reason", "n", "rows (first 10)"],
                        [[k, str(len(v)), ", ".join(map(str, v[:10]))] for k, v in excluded.items() if v])
    if r.get("problems"):
        lines += ["## Records not analysed", ""] + [f"- {p}" for p in r["problems"][:50]] + [""]

    env = r["envelope"]
    lines += ["## Envelope scaling law", "",
              f"accuracy = C · FLOPs^α over the best run of each of {env['n_bins']} {env['bin_scale']}-spaced FLOP "
              f"bins ({env['n_points']} non-empty); {env['dropped']} runs at or below the collapse threshold "
              f"{env['collapse']:g} % dropped.", ""]
    rows = [["NLS (scipy)", _g(env["C"]), _ci(env["C_ci"]), _g(env["alpha"]), _ci(env["alpha_ci"]),
             _g(env["r2"], ".3f")]]
    if env.get("ols"):
        o = env["ols"]
        rows.append(["log-log OLS (statsmodels)", _g(o["C"]), _ci(o["C_ci"]), _g(o["alpha"]), _ci(o["alpha_ci"]),
                     _g(o["r2"], ".3f")])
    lines += _table(["fit", "C", "C 95 % CI", "α", "α 95 % CI", "R²"], rows)

    lines += ["## Cost against FLOPs (log-log OLS)", ""]
    rows = []
    for key, label in (("electricity", "electricity $"), ("co2", "CO2 kg"), ("kwh", "energy kWh")):
        sec = r.get(key)
        if not sec:
            continue
        if _skipped(sec):
            rows.append([label, "skipped: " + _skipped(sec), "", "", "", ""])
        else:
            rows.append([label, _g(sec["alpha"]), _ci(sec["alpha_ci"]), _g(sec["C"]), _g(sec["r2"], ".3f"),
                         str(sec["n"])])
    lines += _table(["quantity", "α", "α 95 % CI", "C", "R²", "n"], rows)

    q = r.get("quantile")
    lines += ["## Quantile frontier", ""]
    if _skipped(q):
        lines += [f"Skipped: {_skipped(q)}", ""]
    elif q:
        lines += [f"q = {q['q']:g}: accuracy = {q['intercept']:.3g} + {q['slope_per_decade']:.3g} · log10(FLOPs) "
                  f"(slope 95 % CI {_ci(q['slope_ci'], '.3g')}); {100 * q['share_below']:.1f} % of runs at or "
                  f"below.", ""]

    g = r.get("gbr")
    lines += ["## Gradient boosting: which factors matter", ""]
    if _skipped(g):
        lines += [f"Skipped: {_skipped(g)}", ""]
    elif g:
        lines += [f"Holdout R² = {g['r2_test']:.3f}, MAE = {g['mae_test']:.3g} points (n_test = {g['n_test']}); "
                  f"{len(g['cv_r2'])}-fold CV R² = {g['cv_r2_mean']:.3f} ± {g['cv_r2_sd']:.3f}. "
                  f"Categorical factors are ordinal-coded.", ""]
        order = sorted(g["importances"], key=lambda f: -g["importances"][f])
        lines += _table(["factor", "impurity", "permutation ΔR² (mean ± sd)"],
                        [[f"`{f}`", _g(g["importances"][f], ".3f"),
                          f"{_g(g['permutation_importances'][f]['mean'], '.3f')} ± "
                          f"{_g(g['permutation_importances'][f]['sd'], '.3f')}"] for f in order])

    lines += ["## Forecast", "",
              "FLOPs to reach a target AutoAttack accuracy by inverting the envelope law; 95 % intervals from "
              f"{r.get('forecast_n_boot')} bootstrap resamples of the envelope points. ∞: some resamples never "
              "reach the target. Extrapolations beyond the largest observed FLOPs are marked.", ""]
    costs = [k for k in ("usd", "kwh", "co2_kg") if any(k in row for row in r.get("forecast", []))]
    rows = []
    for row in r.get("forecast", []):
        cells = [f"{row['target']:g} %", _g(row["flops"]), _ci(row["flops_ci"]),
                 "**extrapolation**" if row["extrapolation"] else "within data"]
        cells += [f"{_g(row.get(c))} {_ci(row.get(c + '_ci'))}" for c in costs]
        rows.append(cells)
    lines += _table(["target", "FLOPs", "95 % CI", "range"] + costs, rows)
    if any(row.get("alpha_ci_includes_zero") for row in r.get("forecast", [])):
        lines += ["> α's interval includes 0: the data are compatible with no gain from compute, i.e. infinite "
                  "FLOPs for any target above C.", ""]

    rep = r.get("repeats", {})
    if not rep.get("group"):
        lines += ["## Repeats", "", "No configuration columns: pass --group COL to average repeated seeds.", ""]
    elif not rep.get("configs"):
        lines += ["## Repeats", "", "No configuration was run with several seeds.", ""]
    else:
        lines += ["## Repeats", "",
                  f"{rep['n_configs']} configurations with several seeds (grouped by {len(rep['group'])} columns); "
                  "olympic mean = mean without the best and the worst (MLPerf), needs >= 3 runs.", ""]
        lines += _table(["config", "n", "mean", "sd", "olympic mean"],
                        [[c["label"], str(c["n"]), _g(c["mean"], ".3f"), _g(c["sd"], ".3f"),
                          _g(c["olympic_mean"], ".3f")] for c in rep["configs"][:30]])

    figs = r.get("figures", [])
    if figs:
        lines += ["## Figures", ""]
        for path in figs:
            if path.endswith(".png"):
                stem = path[:-4]
                lines.append(f"- [{os.path.basename(stem)}]({path}) ([pdf]({stem}.pdf))")
        lines.append("")
    return "\n".join(lines)
