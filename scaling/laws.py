"""Power laws of robust accuracy and cost against training compute.

The envelope law follows "Scaling Compute Is Not All You Need for Adversarial Robustness" (Debenedetti, Wan,
Andriushchenko, Sehwag, Bhattacharjee, Mittal, 2023, arXiv:2312.13131): split the FLOP range into bins (19,
log-spaced), keep the best AutoAttack accuracy in each non-empty bin, drop collapsed runs (accuracy at or below a
threshold), and fit ``accuracy = C * FLOPs**alpha`` by nonlinear least squares. Costs (electricity $, CO2, kWh)
against FLOPs are fitted by ordinary least squares in log-log space.

Estimators follow the scikit-learn / lifelines contract: the constructor only stores parameters, ``fit()``
returns ``self``, fitted values end in ``_``; a law declares its parameter names in ``_fitted_parameter_names``.
Everything here is pure computation; figures are in :mod:`scaling.plotting`.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit
from sklearn.base import BaseEstimator

from .errors import ConvergenceError, InsufficientDataError, NotFittedError, ScalingError

BIN_SCALES = ("log", "linear")


# ------------------------------------------------------------------------------------------ pure math


def power_law(x, C: float, alpha: float):
    """``C * x**alpha``."""
    return C * np.power(x, alpha)


def invert_power_law(y, C: float, alpha: float):
    """The ``x`` with ``C * x**alpha == y``.

    A flat or falling law (``alpha <= 0``) never climbs above C: targets above C are ``inf`` (no amount of
    compute reaches them); a flat law is at its C everywhere (``0`` for targets at or below C).
    """
    y = np.asarray(y, dtype=float)
    with np.errstate(over="ignore", divide="ignore"):
        x = np.power(y / C, 1.0 / alpha) if alpha != 0 else np.zeros_like(y)
    return np.where((alpha <= 0) & (y > C), np.inf, x)


def bin_edges(x, n_bins: int = 19, scale: str = "log") -> np.ndarray:
    """``n_bins + 1`` edges over ``[min x, max x]``, log-spaced (``np.logspace``) or linear.

    Raises:
        ValueError: unknown scale or fewer than one bin.
        InsufficientDataError: no points, or all FLOPs equal (the range cannot be split).
    """
    if scale not in BIN_SCALES:
        raise ValueError(f"bin scale {scale!r} is not one of {', '.join(BIN_SCALES)}")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        raise InsufficientDataError("envelope binning", 1, 0)
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo == hi:
        raise InsufficientDataError("envelope binning", 2, 1, f"all {x.size} runs have the same FLOPs {lo:g}")
    if scale == "log":
        if lo <= 0:
            raise ScalingError(f"log-spaced bins need positive FLOPs, the smallest is {lo:g}")
        return np.logspace(np.log10(lo), np.log10(hi), int(n_bins) + 1)
    return np.linspace(lo, hi, int(n_bins) + 1)


def assign_bins(x, edges: np.ndarray) -> np.ndarray:
    """Bin index of each ``x`` (the right edge belongs to the last bin)."""
    idx = np.searchsorted(edges, np.asarray(x, dtype=float), side="right") - 1
    return np.clip(idx, 0, len(edges) - 2)


def envelope_indices(x, y, edges: np.ndarray) -> np.ndarray:
    """Indices of the best ``y`` in each non-empty bin (first one on ties), in bin order."""
    bins = assign_bins(x, edges)
    order = np.lexsort((-np.asarray(y, dtype=float), bins))  # by bin, then best y first; stable on ties
    first = np.ones(order.size, dtype=bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    return order[first]


def r_squared(y, y_hat) -> float:
    y = np.asarray(y, dtype=float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - np.asarray(y_hat, dtype=float)) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _clean_xy(x, y, fit: str, needed: int, positive_y: bool) -> Tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} != {y.size}")
    if np.any(~np.isfinite(x)) or np.any(~np.isfinite(y)):
        raise ScalingError(f"{fit}: x and y must be finite; drop missing rows first")
    if np.any(x <= 0):
        raise ScalingError(f"{fit}: FLOPs must be positive, {int(np.sum(x <= 0))} are not")
    if positive_y and np.any(y <= 0):
        raise ScalingError(f"{fit}: a log-log fit needs positive values, {int(np.sum(y <= 0))} are not")
    if x.size < needed:
        raise InsufficientDataError(fit, needed, int(x.size))
    if np.unique(x).size < 2:
        raise InsufficientDataError(fit, 2, 1, "all x values are equal, the slope is undefined")
    return x, y


def fit_loglog_ols(x, y, ci: float = 0.95):
    """OLS of ``log y`` on ``log x`` (statsmodels). Returns the fitted results object (needs >= 3 points)."""
    import statsmodels.api as sm  # statsmodels deferred: loaded only by the fits that use it

    x, y = _clean_xy(x, y, "log-log OLS", 3, positive_y=True)
    design = sm.add_constant(np.log(x), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tiny samples: kurtosis tests warn, fits are fine
        return sm.OLS(np.log(y), design).fit()


def fit_power_law_nls(x, y, p0: Optional[Tuple[float, float]] = None) -> Tuple[float, float, np.ndarray]:
    """Nonlinear least squares of ``y = C * x**alpha`` (scipy ``curve_fit``).

    Args:
        x, y: positive x, any finite y; at least 3 points.
        p0: start ``(C, alpha)``; default: the log-log OLS line (when y > 0), else ``(mean y, 0)``.
    Returns:
        ``(C, alpha, covariance)``.
    Raises:
        InsufficientDataError: fewer than 3 points or one distinct x.
        ConvergenceError: the optimiser failed or the covariance could not be estimated.
    """
    x, y = _clean_xy(x, y, "power-law NLS", 3, positive_y=False)
    if p0 is None:
        if np.all(y > 0):
            slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
            p0 = (float(np.exp(intercept)), float(slope))
        else:
            p0 = (float(np.mean(y)), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                popt, pcov = curve_fit(power_law, x, y, p0=p0, maxfev=20000)
        except (RuntimeError, OptimizeWarning) as err:
            raise ConvergenceError("power-law NLS", str(err)) from None
    if not np.all(np.isfinite(popt)) or not np.all(np.isfinite(pcov)):
        raise ConvergenceError("power-law NLS", "the parameters or their covariance are not finite")
    return float(popt[0]), float(popt[1]), pcov


# --------------------------------------------------------------------------------------- estimators


class _PowerLaw(BaseEstimator):
    """Shared behaviour of fitted ``y = C * x**alpha`` laws."""

    _fitted_parameter_names: Tuple[str, ...] = ("C_", "alpha_")

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless :meth:`fit` has run."""
        if not hasattr(self, "alpha_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(x, y) first")

    def predict(self, x) -> np.ndarray:
        """``C * x**alpha`` at ``x``."""
        self.check_fitted()
        return power_law(np.asarray(x, dtype=float), self.C_, self.alpha_)

    def invert(self, y) -> np.ndarray:
        """The x at which the law reaches ``y`` (``inf`` when it never does)."""
        self.check_fitted()
        return invert_power_law(y, self.C_, self.alpha_)

    def summary(self) -> dict:
        """The fitted values as plain floats, for report.json."""
        self.check_fitted()
        return {"C": self.C_, "alpha": self.alpha_, "C_ci": list(self.C_ci_), "alpha_ci": list(self.alpha_ci_),
                "r2": self.r2_, "n": self.n_}


class PowerLawNLS(_PowerLaw):
    """``y = C * x**alpha`` by nonlinear least squares, with Wald (t) intervals from the covariance.

    Args:
        ci: confidence level of the intervals.
    Attributes:
        C_, alpha_: the parameters; C_ci_, alpha_ci_: their intervals; r2_: R² in linear space; n_: points.
    """

    def __init__(self, ci: float = 0.95):
        self.ci = ci

    def fit(self, x, y) -> "PowerLawNLS":
        C, alpha, pcov = fit_power_law_nls(x, y)
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        self.n_ = int(x.size)
        se = np.sqrt(np.diag(pcov))
        t = float(stats.t.ppf(0.5 + self.ci / 2, self.n_ - 2))
        self.C_, self.alpha_ = C, alpha
        self.C_se_, self.alpha_se_ = float(se[0]), float(se[1])
        self.C_ci_ = (C - t * se[0], C + t * se[0])
        self.alpha_ci_ = (alpha - t * se[1], alpha + t * se[1])
        self.r2_ = r_squared(y, power_law(x, C, alpha))
        return self


class PowerLawOLS(_PowerLaw):
    """``y = C * x**alpha`` by OLS of ``log y`` on ``log x`` (statsmodels), for costs against FLOPs.

    Args:
        ci: confidence level of the intervals.
    Attributes:
        C_, alpha_, C_ci_, alpha_ci_: parameters and intervals (C's interval is exp of the intercept's);
        r2_: R² of the log-log regression; n_: points; results_: the statsmodels results.
    """

    def __init__(self, ci: float = 0.95):
        self.ci = ci

    def fit(self, x, y) -> "PowerLawOLS":
        res = fit_loglog_ols(x, y, self.ci)
        lo, hi = np.asarray(res.conf_int(alpha=1 - self.ci)).T
        self.results_ = res
        self.n_ = int(res.nobs)
        self.C_ = float(np.exp(res.params[0]))
        self.alpha_ = float(res.params[1])
        self.C_ci_ = (float(np.exp(lo[0])), float(np.exp(hi[0])))
        self.alpha_ci_ = (float(lo[1]), float(hi[1]))
        self.r2_ = float(res.rsquared)
        return self

    def predict_interval(self, x, kind: str = "mean") -> Tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` of the mean (``kind="mean"``) or a new observation (``"obs"``) at ``x``."""
        self.check_fitted()
        import statsmodels.api as sm  # statsmodels deferred: loaded only by the fits that use it

        x = np.atleast_1d(np.asarray(x, dtype=float))
        frame = self.results_.get_prediction(sm.add_constant(np.log(x), has_constant="add")).summary_frame(
            alpha=1 - self.ci)
        key = "mean_ci" if kind == "mean" else "obs_ci"
        return np.exp(frame[f"{key}_lower"].to_numpy()), np.exp(frame[f"{key}_upper"].to_numpy())


class EnvelopePowerLaw(_PowerLaw):
    """The compute-optimal frontier: best accuracy per FLOP bin, ``accuracy = C * FLOPs**alpha``.

    The bins span the FLOPs of the runs *kept*, those with accuracy above ``collapse`` (the cheapest and the
    dearest kept run are the first and last edges), not of all runs: a collapsed run (0 % robust accuracy) is no
    point of the frontier, and letting the cheapest of them stretch the range moves every edge and so the law
    (on the reference study's table the paper's C = 50.86, alpha = 0.0105 come from the 272 kept runs; binning
    all 319 makes a collapsed run the best of the first bin: C = 24.2, alpha = 0.057 with it as a point,
    C = 61.3, alpha = -0.004 without). ``summary()["binning_range"]`` says which rows were binned, how many,
    and their FLOP range.

    Args:
        n_bins: number of FLOP bins (19 in the reference study).
        bin_scale: ``"log"`` (edges ``np.logspace`` over [min, max]) or ``"linear"``.
        collapse: runs whose accuracy is at or below this are dropped (collapsed training).
        ci: confidence level of the intervals.
    Attributes:
        C_, alpha_, C_ci_, alpha_ci_, r2_: the NLS law on the envelope points (Wald t intervals), R² linear.
        ols_: :class:`PowerLawOLS` fitted to the same points (log-log, statsmodels intervals).
        edges_: bin edges; points_x_, points_y_: envelope points; points_index_: their positions in the
        input; dropped_: runs at or below ``collapse``; n_used_: runs binned; binned_range_: their smallest
        and largest FLOPs; n_: envelope points.
    Raises (from fit):
        InsufficientDataError: fewer than 3 non-empty bins after dropping collapsed runs.
        ConvergenceError: NLS did not converge.
    """

    def __init__(self, n_bins: int = 19, bin_scale: str = "log", collapse: float = 0.0, ci: float = 0.95):
        self.n_bins = n_bins
        self.bin_scale = bin_scale
        self.collapse = collapse
        self.ci = ci

    def fit(self, x, y) -> "EnvelopePowerLaw":
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"x and y differ in length: {x.size} != {y.size}")
        if np.any(~np.isfinite(x)) or np.any(~np.isfinite(y)):
            raise ScalingError("envelope: FLOPs and accuracy must be finite; drop missing rows first")
        keep = y > self.collapse
        self.dropped_ = int(np.sum(~keep))
        self.n_used_ = int(np.sum(keep))
        if self.n_used_ < 3:
            raise InsufficientDataError("envelope power law", 3, self.n_used_,
                                        f"{self.dropped_} runs at or below the collapse threshold {self.collapse:g}")
        kept = np.flatnonzero(keep)
        self.binned_range_ = (float(x[kept].min()), float(x[kept].max()))
        self.edges_ = bin_edges(x[kept], self.n_bins, self.bin_scale)
        local = envelope_indices(x[kept], y[kept], self.edges_)
        self.points_index_ = kept[local]
        self.points_x_ = x[self.points_index_]
        self.points_y_ = y[self.points_index_]
        self.n_ = int(self.points_index_.size)
        if self.n_ < 3:
            raise InsufficientDataError("envelope power law", 3, self.n_,
                                        f"only {self.n_} of {self.n_bins} bins hold runs; try fewer --bins")
        nls = PowerLawNLS(ci=self.ci).fit(self.points_x_, self.points_y_)
        self.C_, self.alpha_ = nls.C_, nls.alpha_
        self.C_ci_, self.alpha_ci_ = nls.C_ci_, nls.alpha_ci_
        self.C_se_, self.alpha_se_ = nls.C_se_, nls.alpha_se_
        self.r2_ = nls.r2_
        self.ols_ = PowerLawOLS(ci=self.ci).fit(self.points_x_, self.points_y_) if np.all(self.points_y_ > 0) else None
        return self

    def summary(self) -> dict:
        out = super().summary()
        out.update({
            "n_bins": int(self.n_bins), "bin_scale": self.bin_scale, "collapse": float(self.collapse),
            "dropped": self.dropped_, "n_used": self.n_used_, "n_points": self.n_,
            "edges": [float(e) for e in self.edges_],
            "binning_range": {"rows": "kept",
                              "description": f"runs with accuracy above the collapse threshold {self.collapse:g} % "
                                             "(collapsed runs are dropped before binning)",
                              "n": self.n_used_, "flops_min": self.binned_range_[0],
                              "flops_max": self.binned_range_[1]},
            "points": [{"flops": float(a), "acc": float(b), "row": int(i)}
                       for a, b, i in zip(self.points_x_, self.points_y_, self.points_index_)],
            "ols": None if self.ols_ is None else {k: v for k, v in self.ols_.summary().items()},
        })
        return out


#: Fitters of ``y = C * x**alpha`` by name, for tests and the docs.
FITTERS = {"nls": PowerLawNLS, "ols": PowerLawOLS, "envelope": EnvelopePowerLaw}
