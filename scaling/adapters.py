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
PATH_KEYS = ("lookup", "zoo", "estimates")


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


def read_zoo_table(path: str, dataset: Any, threat: Any) -> pd.DataFrame:
    """The zoo table's rows of one leaderboard (``benchmarks/zoo/zoo_models.csv``: every model of robustbench's
    zoo, its params and forward FLOPs counted by building it; ``status`` ``profiled`` where counted)."""
    try:
        zoo = pd.read_csv(path, comment="#", dtype={"name": str, "status": str, "note": str})
    except (OSError, ValueError) as err:
        raise TableError(f"{path}: cannot read the zoo table: {err}") from None
    need = {"name", "dataset", "threat", "params", "forward_flops", "status"}
    if not need <= set(zoo.columns):
        raise TableError(f"{path}: the zoo table needs columns {', '.join(sorted(need))}",
                         present=[str(c) for c in zoo.columns])
    if dataset is None or threat is None:
        raise TableError(f"{path}: the robustbench adapter's 'zoo' needs 'dataset' and 'threat' (the leaderboard)")
    return zoo[(zoo["dataset"] == str(dataset)) & (zoo["threat"] == str(threat))].drop_duplicates("name") \
        .set_index("name")


def read_estimates(path: str, dataset: Any, threat: Any) -> Dict[str, Dict[str, Any]]:
    """{model: estimate} of a ``robustperf zoo cost -o`` file (training FLOPs estimated from training cards)."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as err:
        raise TableError(f"{path}: cannot read the zoo estimates: {err}") from None
    if not isinstance(doc, dict) or not str(doc.get("format", "")).startswith("robustperf-zoo-estimates/") \
            or not isinstance(doc.get("estimates"), list):
        raise TableError(f"{path}: not a file of `robustperf zoo cost -o` (format robustperf-zoo-estimates/1)",
                         key="format", value=doc.get("format") if isinstance(doc, dict) else None)
    return {str(e.get("model")): e for e in doc["estimates"] if isinstance(e, dict)
            and (dataset is None or e.get("dataset") == dataset) and (threat is None or e.get("threat") == threat)}


def _flops_range(estimate: Dict[str, Any]) -> Tuple[float, float]:
    r = estimate.get("train_flops")
    if not isinstance(r, dict):
        return float("nan"), float("nan")
    low, high = pd.to_numeric(pd.Series([r.get("low"), r.get("high")]), errors="coerce")
    return (float(low), float(high)) if low > 0 and high > 0 else (float("nan"), float("nan"))


@register_adapter("robustbench", {
    "lookup": "CSV of architecture -> params, forward FLOPs (made by `python -m benchmarks.robustbench_archs`): "
              "the models not counted in the zoo table, by architecture name",
    "zoo": "the zoo table (benchmarks/zoo/zoo_models.csv, make zoo-table): each model built by robustbench's code "
           "and counted",
    "dataset": "the leaderboard's dataset in the zoo table and the estimates (cifar10, cifar100, imagenet)",
    "threat": "the leaderboard's threat model in the zoo table and the estimates (Linf, L2)",
    "estimates": "`robustperf zoo cost -o` JSON: training FLOPs estimated from training cards"})
def robustbench(table: pd.DataFrame, settings: Dict[str, Any]) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """RobustBench model metadata -> ``year`` (from the venue), ``params`` and ``inference_flops`` (one forward
    of one sample) with ``count_source`` saying how each was obtained: ``built`` (the zoo table's count of the
    model built by robustbench's code), ``by-name`` (the lookup's count of the architecture its name names) or
    ``unknown`` (empty, listed with why); ``train_flops_estimated`` (the geometric mean of the low and high
    estimate of its training card, ``train_flops_low`` / ``_high``) where ``estimates`` has the model; numeric
    accuracies and ``additional_data`` (True/False; empty where the table does not state it)."""
    missing = [c for c in ROBUSTBENCH_COLUMNS if c not in table.columns]
    if missing:
        raise TableError(f"the robustbench adapter needs column '{missing[0]}'", column=missing[0],
                         present=[str(c) for c in table.columns])
    if "lookup" not in settings and "zoo" not in settings:
        raise TableError("the robustbench adapter needs 'lookup: FILE' (the architecture lookup) or 'zoo: FILE'")
    out = table.copy()
    out["year"] = out["venue"].map(venue_year)
    ids = out["model_id"].astype(str).str.strip()
    arch = out["architecture"].astype(str).str.strip()
    out["params"] = np.nan
    out["inference_flops"] = np.nan
    out["count_source"] = "unknown"
    why = pd.Series("", index=out.index, dtype=object)
    if "zoo" in settings:
        zoo = read_zoo_table(settings["zoo"], settings.get("dataset"), settings.get("threat"))
        counted = zoo[zoo["status"] == "profiled"]
        built = ids.isin(counted.index)
        out.loc[built, "params"] = ids[built].map(counted["params"]).astype(float)
        out.loc[built, "inference_flops"] = ids[built].map(counted["forward_flops"]).astype(float)
        out.loc[built, "count_source"] = "built"
        status = ids.map(zoo["status"].astype(str) + ": " + zoo["note"].fillna("").astype(str))
        why = status.where(status.notna(), "not in robustbench's model zoo").astype(str)
    notes = pd.Series(dtype=object)
    if "lookup" in settings:
        lookup = read_lookup(settings["lookup"])
        known = lookup[lookup["status"] == "profiled"].drop_duplicates("architecture").set_index("architecture")
        notes = lookup.drop_duplicates("architecture").set_index("architecture")["note"] \
            if "note" in lookup.columns else notes
        by_name = (out["count_source"] == "unknown") & arch.isin(known.index)
        out.loc[by_name, "params"] = arch[by_name].map(known["params"]).astype(float)
        out.loc[by_name, "inference_flops"] = arch[by_name].map(known["forward_flops"]).astype(float)
        out.loc[by_name, "count_source"] = "by-name"
    for col in ("autoattack_acc", "clean_acc"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    out["additional_data"] = out["additional_data"].map(_flag)
    unknown = out["count_source"] == "unknown"
    reasons = {i: "; ".join(r for r in (str(why.get(i) or ""),
                                        f"architecture {arch[i]!r}: " + str(notes.get(arch[i], "not in the lookup"))
                                        if "lookup" in settings else "no architecture lookup for this leaderboard")
                            if r) for i in out.index[unknown]}
    info = {"n_models": int(len(out)), "n_known_architecture": int(out["params"].notna().sum()),
            "counts": {source: int((out["count_source"] == source).sum()) for source in ("built", "by-name",
                                                                                        "unknown")},
            "count_source": dict(zip(ids, out["count_source"])),
            "unknown_models": {ids[i]: {"architecture": arch[i], "why": reasons[i]} for i in out.index[unknown]},
            "unknown_architectures": {a: {"models": int(n), "why": str(notes.get(a, "not in the lookup"))}
                                      for a, n in arch[unknown].value_counts().items()},
            "no_year": list(out.loc[out["year"].isna(), "model_id"].astype(str)),
            "how": "params and inference FLOPs: built = the model built by robustbench's code and counted (zoo table, "
                   "robustperf profile's DeepSpeed counter, one image); by-name = the architecture its name names, "
                   "built with the suite's builders (lookup, 3x32x32, 10 classes); unknown = listed, not guessed. "
                   "Year from the venue text"}
    for key in ("lookup", "zoo", "estimates"):
        if key in settings:
            info[key] = os.path.basename(settings[key])
    if "estimates" in settings:
        est = read_estimates(settings["estimates"], settings.get("dataset"), settings.get("threat"))
        ranges = ids.map(lambda m: _flops_range(est[m]) if m in est else (np.nan, np.nan))
        out["train_flops_low"] = [r[0] for r in ranges]
        out["train_flops_high"] = [r[1] for r in ranges]
        out["train_flops_estimated"] = np.sqrt(out["train_flops_low"] * out["train_flops_high"])
        info["estimated_training"] = {
            "basis": "estimated-from-card", "n_cards": len(est),
            "n_models": int(out["train_flops_estimated"].notna().sum()),
            "not_on_leaderboard": sorted(set(est) - set(ids)),
            "how": "train_flops_estimated = sqrt(low x high) of each card's estimate (robustperf zoo cost)"}
    return out, info


def _flag(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text)
