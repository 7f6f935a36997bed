"""Forecast the compute (and its kWh, $ and CO2) needed to reach a target robust accuracy.

Inverting the envelope law ``acc = C * FLOPs**alpha`` gives ``FLOPs = (acc / C)**(1 / alpha)``. Intervals come
from a nonparametric bootstrap over the envelope points: resample the points with replacement, refit the law,
invert. A resample whose alpha is at or below zero never reaches a target above its C: its FLOPs are infinite,
so an interval's upper end may be unbounded (reported as null with ``upper_unbounded: true``). Forecasts
beyond the largest observed FLOPs are marked as extrapolation. Cost fits (electricity $, CO2, kWh against
FLOPs) are monotone, so their intervals are the cost of the FLOPs interval's ends.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import ConvergenceError, InsufficientDataError
from .laws import EnvelopePowerLaw, PowerLawOLS, fit_power_law_nls, invert_power_law


def bootstrap_law(x, y, n_boot: int = 1000, random_state: int = 0, p0=None) -> np.ndarray:
    """``(n_ok, 2)`` array of ``(C, alpha)`` refitted on resamples of the points ``(x, y)``.

    Resamples with fewer than 3 distinct x, or whose fit does not converge, are skipped (they are counted by
    the caller as ``n_boot - len(result)``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(random_state)
    out = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, x.size, x.size)
        if np.unique(x[idx]).size < 3:
            continue
        try:
            C, alpha, _ = fit_power_law_nls(x[idx], y[idx], p0=p0)
        except (ConvergenceError, InsufficientDataError):
            continue
        out.append((C, alpha))
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _interval(values: np.ndarray, ci: float):
    """Percentile interval (outer order statistics, no interpolation: ends may be inf); ``None`` for inf."""
    lo = np.percentile(values, 50 * (1 - ci), method="lower")
    hi = np.percentile(values, 50 * (1 + ci), method="higher")
    return [None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi)]


def forecast(law: EnvelopePowerLaw, targets: Sequence[float], *, costs: Optional[Dict[str, PowerLawOLS]] = None,
             usd_per_kwh: Optional[float] = None, n_boot: int = 1000, ci: float = 0.95, random_state: int = 0,
             observed_max: Optional[float] = None) -> List[dict]:
    """FLOPs (and costs) to reach each target accuracy, with bootstrap intervals.

    Args:
        law: a fitted envelope law.
        targets: robust accuracies in percent.
        costs: fitted cost laws by name (``usd``, ``co2_kg``, ``kwh``) evaluated at the forecast FLOPs.
        usd_per_kwh: electricity price; gives ``kwh`` from ``usd`` when no kWh law is fitted.
        n_boot: bootstrap resamples of the envelope points.
        observed_max: largest FLOPs in the data (default: the largest envelope point); beyond is extrapolation.
    Returns:
        One dict per target: ``target, flops, flops_ci, upper_unbounded, p_unreachable, extrapolation,
        alpha_ci_includes_zero, n_boot_ok`` and for each cost ``<name>, <name>_ci``.
    """
    law.check_fitted()
    costs = dict(costs or {})
    boot = bootstrap_law(law.points_x_, law.points_y_, n_boot=n_boot, random_state=random_state,
                         p0=(law.C_, law.alpha_))
    observed_max = float(np.max(law.points_x_) if observed_max is None else observed_max)
    alpha_zero = bool(law.alpha_ci_[0] <= 0 <= law.alpha_ci_[1])
    rows = []
    for target in targets:
        target = float(target)
        flops = float(invert_power_law(target, law.C_, law.alpha_))
        row = {"target": target, "flops": flops if np.isfinite(flops) else None,
               "reachable": bool(np.isfinite(flops)), "n_boot_ok": int(len(boot)),
               "alpha_ci_includes_zero": alpha_zero}
        if len(boot):
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                samples = np.array([invert_power_law(target, C, a) for C, a in boot], dtype=float)
            samples = np.where(np.isnan(samples), np.inf, samples)
            row["flops_ci"] = _interval(samples, ci)
            row["p_unreachable"] = float(np.mean(~np.isfinite(samples)))
        else:
            row["flops_ci"] = [None, None]
            row["p_unreachable"] = None
        row["upper_unbounded"] = row["flops_ci"][1] is None
        row["extrapolation"] = bool(not np.isfinite(flops) or flops > observed_max)
        row["extrapolation_factor"] = (flops / observed_max) if np.isfinite(flops) else None
        for name, fit in costs.items():
            row[name] = _cost(fit, row["flops"])
            row[f"{name}_ci"] = [_cost(fit, v) for v in row["flops_ci"]]
        if "kwh" not in costs and "usd" in costs and usd_per_kwh:
            row["kwh"] = None if row["usd"] is None else row["usd"] / usd_per_kwh
            row["kwh_ci"] = [None if v is None else v / usd_per_kwh for v in row["usd_ci"]]
            row["kwh_from"] = f"usd / {usd_per_kwh:g} $/kWh"
        rows.append(row)
    return rows


def _cost(fit: PowerLawOLS, flops: Optional[float]) -> Optional[float]:
    if flops is None:
        return None
    with np.errstate(over="ignore"):
        value = float(fit.predict(flops))
    return value if np.isfinite(value) else None
