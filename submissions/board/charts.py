"""The board's charts as plotly figure specifications (plain ``{"data": [...], "layout": {...}}`` JSON that
``Plotly.newPlot`` draws in the page; the Python package only ships the JavaScript, so building the figures needs
no import of plotly).

* :func:`pareto_figure`: robust accuracy against a cost to target (kWh or $), one trace per division, the
  unconfirmed results as open markers, and each division's Pareto front of its ranked (confirmed) results: those
  that no other ranked result of the division beats on both cost (lower) and robust accuracy (higher), drawn as a
  staircase.
* :func:`runs_figure`: a result's per-run time to target, coloured by how the olympic score counted each run.

Text from inputs (submitter, system) is HTML-escaped: plotly renders a few tags in hover text.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

from .markup import esc, number
from .model import Result, Run

#: marker colour of each division; others get the last
COLOURS = {"closed": "#1f5fa8", "open": "#d1661b", "": "#6b6b6b"}


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the non-dominated points when lower x and higher y are better, ordered by x.

    A point is dominated when another has x no larger and y no smaller, one of them strictly; of identical points
    the first is kept.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front: List[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _hover(result: Result, x_column: str, x_label: str) -> str:
    row = result.row
    accuracy = number(row["robust_accuracy"], "robust_accuracy")
    return (f"{esc(row.get('submitter'))} \u00b7 {esc(row.get('system'))}<br>{esc(row.get('division'))}"
            f"{'' if result.ranked else ', unconfirmed'}<br>robust accuracy {accuracy} %"
            f"<br>{esc(x_label)} {number(row[x_column], x_column)}")


def pareto_figure(results: Sequence[Result], x_column: str, x_label: str, links: Dict[str, str]) -> Dict[str, Any]:
    """Robust accuracy (y) against ``x_column`` (a cost to target) of the results that have both; ``links``
    maps a result's ``page_id`` to its page's URL (a click on a point opens it). Empty ``data`` when none has."""
    shown = [r for r in results if isinstance(r.row.get(x_column), (int, float))
             and isinstance(r.row.get("robust_accuracy"), (int, float))]
    data: List[Dict[str, Any]] = []
    divisions = sorted({str(r.row.get("division") or "") for r in shown}, key=lambda d: (d not in COLOURS, d))
    for division in divisions:
        for ranked in (True, False):
            group = [r for r in shown if str(r.row.get("division") or "") == division and r.ranked is ranked]
            if not group:
                continue
            colour = COLOURS.get(division, COLOURS[""])
            data.append({
                "type": "scatter", "mode": "markers", "name": f"{division or 'no division'}"
                                                             f"{'' if ranked else ' (unconfirmed, not ranked)'}",
                "x": [r.row[x_column] for r in group], "y": [r.row["robust_accuracy"] for r in group],
                "text": [_hover(r, x_column, x_label) for r in group], "hoverinfo": "text",
                "customdata": [links.get(r.page_id, "") for r in group],
                "marker": {"size": 10, "color": colour, "symbol": "circle" if ranked else "circle-open",
                           "line": {"width": 1.5, "color": colour}},
            })
    for division in divisions:  # one front per division: MLPerf never ranks the closed and the open together
        ranked = [r for r in shown if r.ranked and str(r.row.get("division") or "") == division]
        if not ranked:
            continue
        front = [ranked[i] for i in pareto_front([(r.row[x_column], r.row["robust_accuracy"]) for r in ranked])]
        data.append({"type": "scatter", "mode": "lines", "name": f"Pareto front, {division or 'no division'}",
                     "line": {"shape": "hv", "color": COLOURS.get(division, COLOURS[""]), "width": 1.5,
                              "dash": "dot"},
                     "x": [r.row[x_column] for r in front], "y": [r.row["robust_accuracy"] for r in front],
                     "hoverinfo": "skip"})
    xs = [r.row[x_column] for r in shown]
    log = bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 30
    layout = {"xaxis": {"title": {"text": esc(x_label)}, "type": "log" if log else "linear", "zeroline": False},
              "yaxis": {"title": {"text": "robust accuracy (%)"}, "zeroline": False},
              "margin": {"l": 60, "r": 20, "t": 20, "b": 50}, "height": 420, "hovermode": "closest",
              "legend": {"orientation": "h", "y": -0.2}}
    return {"data": data, "layout": layout}


def runs_figure(runs: Sequence[Run]) -> Dict[str, Any]:
    """Each run's time to target as a bar: scored, dropped (fastest or slowest) or, when missed, absent."""
    kinds = (("scored", True, "#1f5fa8"), ("dropped (fastest or slowest)", False, "#9bb7d9"),
             ("no score", None, "#6b6b6b"))
    data = []
    for name, scored, colour in kinds:
        group = [r for r in runs if r.scored is scored and r.figures.get("seconds") is not None]
        if group:
            data.append({"type": "bar", "name": name, "x": [f"run {r.k}" for r in group],
                         "y": [r.figures["seconds"] for r in group], "marker": {"color": colour},
                         "hovertemplate": "%{x}: %{y:.4g} s<extra></extra>"})
    layout = {"yaxis": {"title": {"text": "time to target (s)"}}, "barmode": "overlay", "height": 320,
              "margin": {"l": 60, "r": 20, "t": 20, "b": 40}, "legend": {"orientation": "h", "y": -0.25},
              "xaxis": {"categoryorder": "array", "categoryarray": [f"run {r.k}" for r in runs]}}
    return {"data": data, "layout": layout}
