"""Table adapters: turn a published table into the columns the analysis reads, before any section runs.

A mapping file names one (``adapter: {name: robustbench, lookup: robustbench_archs.csv}``); an adapter is a
function ``(table, settings) -> (table, info)`` registered with :func:`register_adapter`, and ``info`` lands in
report.json under ``adapter``. Relative paths in the settings are relative to the mapping file.
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, Tuple

import numpy as np
import pandas as pd

from .errors import TableError

Adapter = Callable[[pd.DataFrame, Dict[str, Any]], Tuple[pd.DataFrame, Dict[str, Any]]]
#: name -> (function, {setting: description}) of every adapter.
_ADAPTERS: Dict[str, Tuple[Adapter, Dict[str, str]]] = {}
#: settings holding a path (made absolute against the mapping file's folder).
PATH_KEYS = ("lookup",)


def register_adapter(name: str, keys: Dict[str, str]):
    """Register ``fn(table, settings)`` as adapter ``name`` taking the settings ``keys`` (a decorator)."""
    def wrap(fn: Adapter) -> Adapter:
        _ADAPTERS[name] = (fn, dict(keys))
        return fn
    return wrap


def check_adapter(value: Any, path: str) -> Dict[str, Any]:
    """Validate a mapping file's ``adapter:`` entry; resolve its paths against the file's folder."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or "name" not in value:
        raise TableError(f"{path}: key 'adapter' must be {{name: ADAPTER, ...settings}}; adapters: "
                         + ", ".join(_ADAPTERS))
    name = value["name"]
    if name not in _ADAPTERS:
        raise TableError(f"{path}: adapter: unknown adapter '{name}'; valid: {', '.join(_ADAPTERS)}")
    keys = _ADAPTERS[name][1]
    out = {"name": name}
    for key, setting in value.items():
        if key == "name":
            continue
        if key not in keys:
            raise TableError(f"{path}: adapter.{key}: unknown key; valid keys of '{name}': {', '.join(keys)}")
        if key in PATH_KEYS:
            setting = os.path.join(os.path.dirname(os.path.abspath(path)), str(setting))
        out[key] = setting
    return out


def apply_adapter(table: pd.DataFrame, settings: Dict[str, Any]) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    fn = _ADAPTERS[settings["name"]][0]
    table, info = fn(table, {k: v for k, v in settings.items() if k != "name"})
    return table, dict(info, name=settings["name"])


# ------------------------------------------------------------------------------------------- robustbench

_YEAR = re.compile(r"\b(19[89]\d|20\d\d)\b")
ROBUSTBENCH_COLUMNS = ("model_id", "venue", "architecture", "autoattack_acc", "additional_data")


def venue_year(venue: Any) -> float:
    """The publication year in a RobustBench venue (``NeurIPS 2019``, ``arXiv, Oct 2020``); NaN if none."""
    match = _YEAR.search(str(venue)) if isinstance(venue, str) else None
    return float(match.group(1)) if match else float("nan")


def read_lookup(path: str) -> pd.DataFrame:
    """The architecture lookup (CSV: architecture, model, params, forward_flops, status, note)."""
    try:
        lookup = pd.read_csv(path, comment="#")
    except (OSError, ValueError) as err:
        raise TableError(f"{path}: cannot read the architecture lookup: {err}") from None
    need = {"architecture", "params", "forward_flops", "status"}
    if not need <= set(lookup.columns):
        raise TableError(f"{path}: the architecture lookup needs columns {', '.join(sorted(need))}",
                         present=[str(c) for c in lookup.columns])
    return lookup


@register_adapter("robustbench", {"lookup": "CSV of architecture -> params, forward FLOPs (made by "
                                            "`python -m benchmarks.robustbench_archs`)"})
def robustbench(table: pd.DataFrame, settings: Dict[str, Any]) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """RobustBench model metadata -> ``year`` (from the venue), ``params`` and ``inference_flops`` (one forward
    of one sample, from the lookup; unknown architectures stay empty and are listed), numeric accuracies and a
    boolean ``additional_data``."""
    missing = [c for c in ROBUSTBENCH_COLUMNS if c not in table.columns]
    if missing:
        raise TableError(f"the robustbench adapter needs column '{missing[0]}'", column=missing[0],
                         present=[str(c) for c in table.columns])
    if "lookup" not in settings:
        raise TableError("the robustbench adapter needs 'lookup: FILE' (the architecture lookup)")
    lookup = read_lookup(settings["lookup"])
    known = lookup[lookup["status"] == "profiled"].set_index("architecture")
    out = table.copy()
    out["year"] = out["venue"].map(venue_year)
    arch = out["architecture"].astype(str).str.strip()
    out["params"] = arch.map(known["params"]).astype(float)
    out["inference_flops"] = arch.map(known["forward_flops"]).astype(float)
    for col in ("autoattack_acc", "clean_acc"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    out["additional_data"] = out["additional_data"].map(
        lambda v: v if isinstance(v, (bool, np.bool_)) else str(v).strip().lower() == "true")
    unknown = arch[out["params"].isna()].value_counts()
    notes = lookup.set_index("architecture")["note"] if "note" in lookup.columns else pd.Series(dtype=object)
    info = {"lookup": os.path.basename(settings["lookup"]),
            "n_models": int(len(out)), "n_known_architecture": int(out["params"].notna().sum()),
            "unknown_architectures": {a: {"models": int(n), "why": str(notes.get(a, "not in the lookup"))}
                                      for a, n in unknown.items()},
            "no_year": list(out.loc[out["year"].isna(), "model_id"].astype(str)),
            "how": "params and inference FLOPs measured by building each architecture (robustperf profile, "
                   "DeepSpeed counter, 3x32x32) and transferred to the models by architecture name; year from "
                   "the venue text"}
    return out, info
