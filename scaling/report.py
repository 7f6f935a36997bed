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

from .errors import ScalingError
from .formatting import md_table
from .sections.registry import get_section
from .table import write_failure

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
    """Write ``out_dir/report.json`` and ``out_dir/report.md``; return their paths.

    Raises:
        ScalingError: a write failed (disk full, read-only, ...), naming the file.
    """
    data = jsonable(report)
    json_path = os.path.join(out_dir, REPORT_JSON)
    md_path = os.path.join(out_dir, REPORT_MD)
    for path, text in ((json_path, json.dumps(data, indent=2, allow_nan=False) + "\n"),
                       (md_path, render_markdown(data))):
        try:
            atomic_write_text(path, text)
        except OSError as err:
            raise ScalingError(f"{path}: cannot write the report: {write_failure(err)}") from None
    return [json_path, md_path]


def render_markdown(r: Dict[str, Any]) -> str:
    """The human report: what was fitted, the numbers with intervals, the forecast, the figures."""
    lines = ["# robustperf scaling analysis", ""]
    cols = r.get("columns", {})
    lines += [f"Source: `{r.get('source')}` — {r.get('n_rows')} rows, {r.get('n_used')} with FLOPs and accuracy.",
              ""]
    lines += md_table(["role", "column"], [[k, f"`{v}`"] for k, v in cols.items() if v and k != "features"])
    if cols.get("features"):
        lines += ["Factors: " + ", ".join(f"`{f}`" for f in cols["features"]), ""]
    for note in r.get("notes", []):
        lines.append(f"> {note}")
    if r.get("notes"):
        lines.append("")
    excluded = r.get("excluded", {})
    if any(excluded.values()):
        lines += ["## Excluded rows", ""]
        lines += md_table(["reason", "n", "rows (first 10)"],
                        [[k, str(len(v)), ", ".join(map(str, v[:10]))] for k, v in excluded.items() if v])
    if r.get("problems"):
        lines += ["## Records not analysed", ""] + [f"- {p}" for p in r["problems"][:50]] + [""]

    skipped = r.get("skipped_sections", {})
    if skipped:
        lines += ["Skipped sections:", ""] + [f"- {name}: {why}" for name, why in skipped.items()] + [""]
    for name in r.get("sections", []):
        if name in r:
            lines += get_section(name).markdown(r[name], r)

    if r.get("by"):
        from .groups import markdown as groups_markdown

        lines += groups_markdown(r)
    figs = r.get("figures", [])
    if figs:
        lines += ["## Figures", ""]
        for path in figs:
            if path.endswith(".png"):
                stem = path[:-4]
                lines.append(f"- [{os.path.basename(stem)}]({path}) ([pdf]({stem}.pdf))")
        lines.append("")
    return "\n".join(lines)
