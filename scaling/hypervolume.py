"""Hypervolume of a Pareto front, exactly, with a stated reference point; and each point's or group's share of it.

The hypervolume (Zitzler & Thiele 1998, the "S-metric") of a set of points is the volume of the region they
dominate and that dominates the reference point: the union of the boxes spanned by each point and the reference.
It is the one unary indicator that is strictly monotone in Pareto dominance, so a larger hypervolume means a
front that is at least as good everywhere or better somewhere (with the same reference point only: a
hypervolume is meaningless without its reference, so every result carries it).

Computed exactly (no sampling): directions are first turned into minimisation (a ``max`` objective is negated),
points that do not strictly dominate the reference in every objective add nothing and are dropped, dominated
points likewise; then

- one objective: ``reference - min``;
- two: a sweep over the points sorted by the first objective (a staircase of rectangles), O(n log n);
- three or more: slicing along the last objective ("hypervolume by slicing objectives", While et al. 2006):
  between consecutive values of the last objective the slab's volume is its thickness times the
  (d-1)-dimensional hypervolume of the points below it, recursively down to the 2-D sweep. O(n^(d-1) log n):
  instant for the fronts of a study (tens to thousands of points in 3-D); the work, n^(d-1) for n
  non-dominated points, is bounded (``recipes.limits``: ``hypervolume_work``, 10^7: about 3,000 points in 3-D,
  200 in 4-D).

Reference point (``reference_point``): given explicitly, or by the default rule, the worst value of each objective
in the data moved outward by 10 % of the objective's range (by 10 % of its absolute value, or 1 when that is 0,
where all the values are equal), so that every point of the front, the extreme ones included, contributes a box
of positive volume. The rule and the margin are returned with the point.

The exclusive contribution of a point (or of a group of points, e.g. one training method's runs) is the
hypervolume lost when it is removed: ``HV(all) - HV(all but it)``; dominated points contribute 0.
Pure numpy; no optuna (``optuna._hypervolume`` is private).
"""
from __future__ import annotations

from typing import Any, Dict, Hashable, List, Optional, Sequence

import numpy as np

from recipes.limits import limit, over_limit_message

from .errors import ScalingError

__all__ = ["DEFAULT_MARGIN", "REFERENCE_RULE", "contributions", "group_contributions", "hypervolume",
           "nondominated", "reference_point", "to_minimisation"]

#: the default reference point's margin beyond the worst value, as a share of the objective's range
DEFAULT_MARGIN = 0.1
#: the default reference rule, as the reports state it
REFERENCE_RULE = ("worst value of each objective in the data, moved outward by 10 % of its range (10 % of its "
                  "absolute value, or 1 if 0, when the range is 0)")


def _directions(directions: Optional[Sequence[str]], d: int) -> List[str]:
    dirs = ["min"] * d if directions is None else [str(x).lower()[:3] for x in directions]
    if len(dirs) != d or any(x not in ("min", "max") for x in dirs):
        raise ScalingError(f"directions must be {d} of 'min'/'max' (minimize/maximize), got {list(directions or [])}")
    return dirs


def _points(points, d: Optional[int] = None) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, d or 1)
    if arr.ndim != 2 or (d is not None and arr.shape[1] != d) or arr.shape[1] < 1:
        raise ScalingError(f"points must be an (n, d) array of objective values, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ScalingError("objective values must be finite numbers (drop the runs that lack one first)")
    return arr


def to_minimisation(points, directions: Optional[Sequence[str]] = None) -> np.ndarray:
    """``points`` with every ``max`` objective negated, so that lower is better in each."""
    arr = _points(points)
    sign = np.array([-1.0 if x == "max" else 1.0 for x in _directions(directions, arr.shape[1])])
    return arr * sign


def reference_point(points, directions: Optional[Sequence[str]] = None,
                    margin: float = DEFAULT_MARGIN) -> Dict[str, Any]:
    """The default reference point of ``points``: ``{"point": [...], "rule": ..., "margin": ...}`` in the
    objectives' own units and directions (a ``max`` objective's reference lies below its smallest value)."""
    arr = _points(points)
    if arr.shape[0] == 0:
        raise ScalingError("no point to derive a reference point from; give the reference explicitly")
    dirs = _directions(directions, arr.shape[1])
    ref = []
    for j, direction in enumerate(dirs):
        col = arr[:, j]
        span = float(col.max() - col.min())
        step = margin * (span if span > 0 else (abs(float(col.max())) or 1.0))
        ref.append(float(col.max() + step) if direction == "min" else float(col.min() - step))
    return {"point": ref, "rule": REFERENCE_RULE if margin == DEFAULT_MARGIN else
            REFERENCE_RULE.replace("10 %", f"{100 * margin:g} %"), "margin": float(margin)}


def nondominated(points) -> np.ndarray:
    """Flags of the points (minimisation) that no other point weakly dominates with one strict improvement;
    of identical points the first is kept."""
    arr = _points(points)
    keep = np.ones(arr.shape[0], dtype=bool)
    for i in range(arr.shape[0]):
        others = np.delete(np.arange(arr.shape[0]), i)
        b = arr[others]
        dominated = np.all(b <= arr[i], axis=1) & np.any(b < arr[i], axis=1)
        same_before = np.all(b == arr[i], axis=1) & (others < i)
        keep[i] = not (dominated.any() or same_before.any())
    return keep


def _hv2(pts: np.ndarray, ref: np.ndarray) -> float:
    """2-D sweep; ``pts`` non-dominated-or-not, all strictly below ``ref``."""
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    total, best_y = 0.0, float(ref[1])
    for x, y in pts[order]:
        if y < best_y:
            total += (float(ref[0]) - x) * (best_y - y)
            best_y = float(y)
    return total


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    d = pts.shape[1]
    if pts.shape[0] == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        return _hv2(pts, ref)
    order = np.argsort(pts[:, -1], kind="stable")
    pts = pts[order]
    total = 0.0
    for k in range(pts.shape[0]):
        top = float(ref[-1]) if k + 1 == pts.shape[0] else float(pts[k + 1, -1])
        depth = top - float(pts[k, -1])
        if depth <= 0:
            continue
        below = pts[:k + 1, :-1]
        if d > 3 and below.shape[0] > 1:  # the 2-D sweep skips dominated points by itself
            below = below[nondominated(below)]
        total += depth * _hv(below, ref[:-1])
    return total


def hypervolume(points, reference: Optional[Sequence[float]] = None,
                directions: Optional[Sequence[str]] = None) -> float:
    """Exact hypervolume of ``points`` (``(n, d)``, objective values) against ``reference``.

    Args:
        points: one row per point; rows with a non-finite value are an error (drop them first).
        reference: the reference point in the objectives' units; default :func:`reference_point`'s rule.
        directions: ``"min"``/``"max"`` (or ``minimize``/``maximize``) per objective; default all ``min``.
    Raises:
        ScalingError: bad shapes or directions, non-finite values, or more non-dominated points than the bound
            ``hypervolume_work`` for three objectives or more.
    """
    arr = _points(points)
    dirs = _directions(directions, arr.shape[1])
    if reference is None:
        if arr.shape[0] == 0:
            return 0.0
        reference = reference_point(arr, dirs)["point"]
    ref = to_minimisation(np.asarray(reference, dtype=float).reshape(1, -1), dirs)[0]
    if ref.size != arr.shape[1]:
        raise ScalingError(f"the reference point has {ref.size} values for {arr.shape[1]} objectives")
    pts = to_minimisation(arr, dirs)
    pts = pts[np.all(pts < ref, axis=1)]
    if pts.shape[0] > 1:
        pts = pts[nondominated(pts)]
    work = float(pts.shape[0]) ** (pts.shape[1] - 1)
    if pts.shape[1] >= 3 and work > limit("hypervolume_work"):
        raise ScalingError(over_limit_message(
            "hypervolume_work", f"the work of an exact hypervolume of {pts.shape[0]:,} non-dominated points in "
            f"{pts.shape[1]} objectives (points^(objectives-1))", int(work)))
    return float(_hv(pts, ref))


def contributions(points, reference: Sequence[float], directions: Optional[Sequence[str]] = None) -> List[float]:
    """Exclusive hypervolume contribution of each point: ``HV(all) - HV(all but that point)``."""
    arr = _points(points)
    total = hypervolume(arr, reference, directions)
    return [max(0.0, total - hypervolume(np.delete(arr, i, axis=0), reference, directions))
            for i in range(arr.shape[0])]


def group_contributions(points, groups: Sequence[Hashable], reference: Sequence[float],
                        directions: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Each group's exclusive contribution (the hypervolume lost without all of its points), ranked.

    Returns one dict per group, largest contribution first: ``group, points, contribution, share`` (of the
    whole hypervolume; None when it is 0) and ``rank`` (1 = largest; equal contributions share a rank).
    """
    arr = _points(points)
    if len(groups) != arr.shape[0]:
        raise ScalingError(f"{len(groups)} group labels for {arr.shape[0]} points")
    total = hypervolume(arr, reference, directions)
    labels = list(dict.fromkeys(groups))
    out = []
    for label in labels:
        mask = np.array([g == label for g in groups])
        rest = hypervolume(arr[~mask], reference, directions) if (~mask).any() else 0.0
        gain = max(0.0, total - rest)
        out.append({"group": label, "points": int(mask.sum()), "contribution": gain,
                    "share": gain / total if total > 0 else None})
    out.sort(key=lambda r: -r["contribution"])
    rank = 0
    for i, row in enumerate(out):
        if i == 0 or row["contribution"] < out[i - 1]["contribution"]:
            rank = i + 1
        row["rank"] = rank
    return out
