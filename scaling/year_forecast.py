"""Forecasts by year: the robust accuracy, training compute and cost ($) of the model of a given year.

Three fitted trends are chained, each with its own uncertainty, and the uncertainty is carried by Monte Carlo
(one draw of each trend's parameters per sample; percentile intervals):

1. **Compute per year**: ``log10 FLOPs = a + b * year``, OLS over the table's models (the trends section's fit),
   parameters drawn from their normal sampling distribution (estimate, OLS covariance).
2. **The accuracy law**: accuracy against training FLOPs, the law the backtest chose (else the envelope power
   law), parameters drawn by refitting it on bootstrap resamples of the envelope points (the best run per FLOP
   bin, so the accuracy is the best the year's compute buys). Accuracies are clipped to [0, 100] %.
3. **Compute per dollar**: ``$ per FLOP(year) = anchor * 2**(-(year - anchor year) / T)``, with the doubling time
   T of FLOP/s per $ from a cited series (shipped in ``scaling/price_performance.yaml``, values as published:
   Hobbhahn & Besiroglu 2022, Epoch AI), drawn log-normally with the published estimate as median and the
   published 95 % interval as ±1.96 sd of log T (the interval is nearly symmetric in log T). The anchor (the $
   per FLOP of one year) is shipped too (a V100 rented on Google Cloud at its peak FP32 rate: a lower bound on
   cost) or given. Assumption, stated in the report: rental prices per FLOP fall at the rate of FLOP/s per $ of
   GPU purchase prices.

``cost = FLOPs(year) * $ per FLOP(year)``, with the trend of the training FLOPs paid for when the law's FLOPs are
another quantity (``train_flops``: e.g. RobustBench's law is in inference FLOPs per image, its training FLOPs are
estimated from training cards). Everything here is extrapolated and the report says so.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .errors import InsufficientDataError, ScalingError

#: the shipped compute-per-dollar trend and anchor (values as published; sources in the file)
PRICE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "price_performance.yaml")
Z95 = 1.959963984540054


def load_price_performance(path: str = PRICE_FILE) -> Dict[str, Any]:
    """The shipped compute-per-dollar data (``trend`` with its series, ``anchor``)."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def price_trend(data: Dict[str, Any], series: Optional[str] = None, doubling: Optional[Sequence[float]] = None
                ) -> Dict[str, Any]:
    """The doubling time (years) of FLOP/s per $ with its 95 % interval: a series of the shipped data, or
    ``doubling = [estimate, low, high]`` given. Returns ``{"doubling_years", "ci95", "source", ...}``."""
    trend = data["trend"]
    if doubling is not None:
        if (len(doubling) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in doubling)
                or not 0 < doubling[1] <= doubling[0] <= doubling[2] or not math.isfinite(doubling[2])):
            raise ScalingError(f"sections.year_forecast.price_doubling_years must be [estimate, low, high] years with "
                               f"0 < low <= estimate <= high, got {doubling!r}")
        return {"doubling_years": float(doubling[0]), "ci95": [float(doubling[1]), float(doubling[2])],
                "source": "given (sections.year_forecast.price_doubling_years)"}
    name = series or trend["default"]
    if name not in trend["series"]:
        raise ScalingError(f"sections.year_forecast.price_series: unknown series '{name}'; shipped: "
                           + ", ".join(trend["series"]))
    s = trend["series"][name]
    return {"doubling_years": float(s["doubling_years"]), "ci95": [float(v) for v in s["ci95"]],
            "series": name, "label": s["label"], "n": s["n"], "source": trend["source"], "url": trend["url"],
            "metric": trend["metric"]}


def compute_trend(year: np.ndarray, flops: np.ndarray) -> Dict[str, Any]:
    """OLS of log10 FLOPs on year with the parameters' covariance (rows with a finite year and FLOPs > 0)."""
    import statsmodels.api as sm  # statsmodels deferred: loaded only by the fits that use it

    ok = np.isfinite(year) & np.isfinite(flops) & (flops > 0)
    year, flops = year[ok], flops[ok]
    if year.size < 3 or np.unique(year).size < 2:
        raise InsufficientDataError("compute trend by year", 3, int(year.size), "needs >= 2 distinct years")
    res = sm.OLS(np.log10(flops), sm.add_constant(year, has_constant="add")).fit()
    cov = np.asarray(res.cov_params(), dtype=float)
    return {"intercept": float(res.params[0]), "slope": float(res.params[1]), "cov": cov.tolist(),
            "slope_ci": [float(v) for v in np.asarray(res.conf_int(0.05))[1]], "n": int(year.size),
            "year_min": float(year.min()), "year_max": float(year.max()), "r2": float(res.rsquared),
            "doubling_years": math.log10(2) / float(res.params[1]) if res.params[1] > 0 else None}


def _interval(values: np.ndarray, ci: float = 0.95) -> List[Optional[float]]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    return [float(np.percentile(values, 50 * (1 - ci))), float(np.percentile(values, 50 * (1 + ci)))]


def forecast_years(years: Sequence[float], trend: Dict[str, Any], law_point: Callable[[np.ndarray], np.ndarray],
                   law_draws: Sequence[Callable[[np.ndarray], np.ndarray]], price: Dict[str, Any],
                   anchor_usd_per_flop: float, anchor_year: float, n_draws: int = 1000, seed: int = 0,
                   ci: float = 0.95, cost_trend: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Monte Carlo forecast of FLOPs, accuracy and $ for each year (see the module doc).

    Args:
        years: the years to forecast.
        trend: :func:`compute_trend`'s result.
        law_point: the fitted law (FLOPs -> accuracy %); law_draws: the law refitted on resamples.
        price: :func:`price_trend`'s result.
        anchor_usd_per_flop, anchor_year: the $ per FLOP of one year.
        cost_trend: the trend of the training FLOPs that are paid for, when the law's FLOPs are another quantity
            (e.g. inference FLOPs per image); its own draws, reported as ``train_flops``. Default: ``trend``.
    """
    if not law_draws:
        raise ScalingError("no bootstrap refit of the accuracy law converged; no interval for the forecast")
    rng = np.random.default_rng(seed)
    beta = rng.multivariate_normal([trend["intercept"], trend["slope"]], np.asarray(trend["cov"]), size=n_draws)
    which = rng.integers(0, len(law_draws), n_draws)
    lo, hi = price["ci95"]
    sd_log_t = (math.log(hi) - math.log(lo)) / (2 * Z95)
    t_draw = np.exp(rng.normal(math.log(price["doubling_years"]), sd_log_t, n_draws))
    beta_cost = beta if cost_trend is None else rng.multivariate_normal(
        [cost_trend["intercept"], cost_trend["slope"]], np.asarray(cost_trend["cov"]), size=n_draws)
    yrs = np.asarray([float(y) for y in years], dtype=float)
    flops_all = 10.0 ** (beta[:, :1] + beta[:, 1:] * yrs)  # draws x years
    acc_all = np.empty_like(flops_all)
    for b in np.unique(which):  # one call per refit of the law, whatever the number of years
        idx = which == b
        acc_all[idx] = law_draws[b](flops_all[idx])
    acc_all = np.clip(acc_all, 0.0, 100.0)
    rows = []
    for j, year in enumerate(yrs):
        year = float(year)
        flops, acc = flops_all[:, j], acc_all[:, j]
        usd_per_flop = anchor_usd_per_flop * 2.0 ** (-(year - anchor_year) / t_draw)
        paid = flops if cost_trend is None else 10.0 ** (beta_cost[:, 0] + beta_cost[:, 1] * year)
        usd = paid * usd_per_flop
        point_flops = 10.0 ** (trend["intercept"] + trend["slope"] * year)
        ct = cost_trend or trend
        point_paid = 10.0 ** (ct["intercept"] + ct["slope"] * year)
        point_usd_per_flop = anchor_usd_per_flop * 2.0 ** (-(year - anchor_year) / price["doubling_years"])
        extra = {} if cost_trend is None else {"train_flops": float(point_paid), "train_flops_ci": _interval(paid, ci)}
        rows.append({
            "year": year, "flops": float(point_flops), "flops_ci": _interval(flops, ci),
            "accuracy": float(np.clip(law_point(np.array([point_flops]))[0], 0.0, 100.0)),
            "accuracy_ci": _interval(acc, ci),
            "usd_per_flop": float(point_usd_per_flop), "usd_per_flop_ci": _interval(usd_per_flop, ci),
            "usd": float(point_paid * point_usd_per_flop), "usd_ci": _interval(usd, ci),
            "extrapolation": bool(year > trend["year_max"]), **extra})
    return rows


__all__ = ["PRICE_FILE", "compute_trend", "forecast_years", "load_price_performance", "price_trend"]
