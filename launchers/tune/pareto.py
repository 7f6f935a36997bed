"""The Pareto front of a ``robustperf tune`` study: its trials as rows, and the files written beside the journal.

``pareto.csv`` (the front), ``pareto.png``/``.pdf`` (the first two objectives, every completed trial, the front
marked) and ``pareto.yaml`` (the front as a recipe: ``robustperf launch pareto.yaml --set repeats=3`` repeats its
runs with more seeds).
"""
from __future__ import annotations

import csv
import io
import os
from typing import Any, Dict, List, Sequence

from results import atomic_write_bytes, atomic_write_text

from .study import REASON_ATTR, RUN_ID_ATTR
from .trials import recipe_text

PARETO_CSV = "pareto.csv"
PARETO_FIGURE = "pareto"
PARETO_RECIPE = "pareto.yaml"


def trial_rows(study, names: Sequence[str]) -> List[Dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(), "run_id": t.user_attrs.get(RUN_ID_ATTR)}
        row.update({k: v for k, v in t.params.items()})
        for name, value in zip(names, t.values or [None] * len(names)):
            row[name] = value
        if t.user_attrs.get(REASON_ATTR):
            row["failure_reason"] = t.user_attrs[REASON_ATTR]
        rows.append(row)
    return rows


def pareto_rows(study, names: Sequence[str]) -> List[Dict[str, Any]]:
    """The Pareto-optimal completed trials (optuna's ``best_trials``), with run ids, parameters, objectives."""
    front = {t.number for t in study.best_trials} if any(
        t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) else set()
    return [r for r in trial_rows(study, names) if r["trial"] in front]


def write_pareto(study, folder: str, names: Sequence[str], recipe=None) -> List[str]:
    """``pareto.csv``, ``pareto.png``/``.pdf`` (two objectives or more) and ``pareto.yaml`` (given the recipe and a
    front) in the study folder; atomic writes. Returns the paths written."""
    rows = pareto_rows(study, names)
    written = []
    columns = sorted({k for r in rows for k in r}, key=lambda c: (c not in ("trial", "run_id"), c in names, c))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or ["trial"])
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    path = os.path.join(folder, PARETO_CSV)
    atomic_write_text(path, buf.getvalue())
    written.append(path)
    if len(names) >= 2:
        written += _pareto_figure(study, folder, names, {r["trial"] for r in rows})
    front = [t.params for t in study.get_trials(deepcopy=False) if t.number in {r["trial"] for r in rows}]
    if recipe is not None and front:
        path = os.path.join(folder, PARETO_RECIPE)
        atomic_write_text(path, recipe_text(recipe, front, f"{recipe.name}-pareto",
                                            f"the Pareto front of robustperf tune {recipe.path} ({len(front)} runs)"))
        written.append(path)
    return written


def _pareto_figure(study, folder: str, names: Sequence[str], front: set) -> List[str]:
    # matplotlib deferred: only a finished study draws its figure
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = [t.values[0] for t in done]
    y = [t.values[1] for t in done]
    ax.scatter(x, y, s=18, color="0.6", label="trials")
    pts = sorted((t.values[0], t.values[1]) for t in done if t.number in front)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="tab:red", label="Pareto front")
    dirs = [d.name.lower()[:3] for d in study.directions]
    ax.set_xlabel(f"{names[0]} ({dirs[0]})")
    ax.set_ylabel(f"{names[1]} ({dirs[1]})")
    ax.set_title(f"{study.study_name}: {len(done)} completed trials (measured)")
    ax.legend()
    paths = []
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=100)
        path = os.path.join(folder, f"{PARETO_FIGURE}.{fmt}")
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
