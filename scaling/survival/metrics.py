"""Metrics of a fitted AFT model: information criteria, concordance, calibration (ICI/E50/E90), RMST."""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Sequence

import numpy as np
import pandas as pd

#: Most rows used to fit the calibration spline (seeded subsample above it): the spline is a smoother.
CALIBRATION_MAX_ROWS = 5000
#: Points of the time grid used to integrate survival curves.
GRID_POINTS = 256


def n_coefficients(fitter) -> int:
    """Every estimated coefficient (intercepts and ancillary parameters included)."""
    return int(len(fitter.params_))


def information_criteria(log_likelihood: float, k: int, n: int) -> Dict[str, float]:
    """AIC and BIC with k estimated coefficients and n subjects (BIC >= AIC exactly when ln n >= 2)."""
    return {"aic": -2.0 * log_likelihood + 2.0 * k, "bic": -2.0 * log_likelihood + k * math.log(n)}


def concordance(durations, predicted, events) -> float:
    """Harrell's C of predicted survival times with observed durations (1 = perfectly ordered)."""
    from lifelines.utils import concordance_index  # lifelines deferred: loaded by a survival fit only

    predicted = np.asarray(predicted, dtype=float)
    finite = np.isfinite(predicted)
    if not finite.all():  # an infinite median (S never reaches 0.5): longer than any finite one
        cap = np.nanmax(np.where(finite, predicted, np.nan)) if finite.any() else 1.0
        predicted = np.where(finite, predicted, cap * 10.0 + 1.0)
    return float(concordance_index(np.asarray(durations, dtype=float), predicted, np.asarray(events)))


def survival_at(fitter, X: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
    """S(t | x) as an array (len(times) x rows)."""
    return fitter.predict_survival_function(X, times=list(times)).to_numpy()


def calibration(fitter, frame: pd.DataFrame, t0: float, *, seed: int = 0,
                max_rows: int = CALIBRATION_MAX_ROWS) -> Dict[str, Any]:
    """ICI, E50, E90 (and the smoothed curve) of the predicted probability of failure by ``t0``.

    Returns ``{"ici", "e50", "e90", "emax", "predicted", "observed", "n"}``; the metrics are None (with
    ``"error"``) when the calibration spline cannot be fitted (e.g. too few distinct predictions).

    The spline is fitted with durations and t0 divided by the power of ten nearest t0 when t0 is outside
    [1e-3, 1e3] (FLOPs to failure are of order 1e9): its optimiser starts near t = 1 and fails that far from
    it, and the probability at t0 does not depend on the unit. Inside that range the unit is left as it is.
    """
    from lifelines import CRCSplineFitter  # lifelines deferred: loaded by a survival fit only

    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    predicted = np.clip(1.0 - survival_at(fitter, frame, [t0])[0], 1e-10, 1 - 1e-10)
    cll = np.log(-np.log(1.0 - predicted))
    unit = _spline_unit(t0)
    data = pd.DataFrame({"cll": cll, "T": frame["T"].to_numpy() / unit, "E": frame["E"].to_numpy()})
    out: Dict[str, Any] = {"n": int(len(frame)), "t0": float(t0)}
    try:
        crc = CRCSplineFitter(n_baseline_knots=3, penalizer=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crc.fit_right_censoring(data, "T", "E",
                                    regressors={"beta_": ["cll"], "gamma0_": "1", "gamma1_": "1", "gamma2_": "1"})
            observed = 1.0 - crc.predict_survival_function(data[["cll"]], times=[t0 / unit]).to_numpy()[0]
    except Exception as err:  # noqa: BLE001 - the smoother is a diagnostic; say why it is missing
        out.update({"ici": None, "e50": None, "e90": None, "emax": None,
                    "error": f"calibration spline not fitted: {type(err).__name__}: {str(err).splitlines()[0]}"})
        return out
    delta = np.abs(observed - predicted)
    order = np.argsort(predicted)
    out.update({"ici": float(delta.mean()), "e50": float(np.percentile(delta, 50)),
                "e90": float(np.percentile(delta, 90)), "emax": float(delta.max()),
                "predicted": predicted[order], "observed": observed[order]})
    return out


def _spline_unit(t0: float) -> float:
    """1, or the power of ten nearest ``t0`` when t0 is outside [1e-3, 1e3] (see :func:`calibration`)."""
    if not (t0 > 0 and math.isfinite(t0)):
        return 1.0
    exponent = math.log10(t0)
    return 1.0 if abs(exponent) <= 3 else 10.0 ** round(exponent)


def rmst(fitter, X: pd.DataFrame, t_max: float, points: int = GRID_POINTS) -> np.ndarray:
    """Per-row restricted mean survival time: the integral of S(t | x) over [0, t_max] (trapezoids)."""
    grid = np.linspace(0.0, float(t_max), points)
    surv = survival_at(fitter, X, grid[1:])
    surv = np.vstack([np.ones((1, surv.shape[1])), surv])
    return np.trapezoid(surv, grid, axis=0) if hasattr(np, "trapezoid") else np.trapz(surv, grid, axis=0)


def km_rmst(durations, events, t_max: float) -> float:
    """Kaplan-Meier restricted mean survival time up to ``t_max`` (model-free)."""
    # lifelines deferred: loaded by a survival fit only
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    km = KaplanMeierFitter().fit(np.asarray(durations, dtype=float), np.asarray(events))
    return float(restricted_mean_survival_time(km, t=float(t_max)))


def expectation(fitter, X: pd.DataFrame) -> np.ndarray:
    """Untruncated E[T | x] (lifelines' predict_expectation; NaN/inf where it does not exist)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(fitter.predict_expectation(X), dtype=float).reshape(-1)
