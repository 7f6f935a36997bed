"""Candidate laws of robust accuracy (%) against compute, and how they are chosen: by extrapolation.

Four laws, each an estimator with the contract of :mod:`scaling.laws` (constructor stores parameters, ``fit``
returns ``self``, fitted values end in ``_``, ``_fitted_parameter_names`` lists them):

- ``power``: ``acc = C * x**alpha`` (the reference study's envelope law; unbounded for alpha > 0);
- ``saturating``: ``acc = A - B * x**(-alpha)`` with ``A <= 100``, ``B > 0``, ``alpha > 0`` (bounded by A);
- ``loglinear``: ``acc = a + b * log10 x``;
- ``error_loglinear``: ``log10(1 / error) = alpha + beta * log10 x`` on the error rate ``1 - acc / 100``
  (Thompson et al., "The Computational Limits of Deep Learning", 2020); bounded by 100 %.

**Backtesting** (the extrapolation loss of Alabdulmohsin, Neyshabur and Zhai, "Revisiting Neural Scaling Laws
in Language and Vision", NeurIPS 2022, appendix A.1): each law is fitted on the points below a compute cut (the
cheapest 50, 60, 70, 80 % of the log FLOP range) and scored by the RMSE of its predictions on the points above
it. The law with the smallest mean extrapolation RMSE is chosen for forecasts.

**Split-conformal intervals** (Vovk, Gammerman, Shafer 2005; Lei et al. 2018): the absolute backtest residuals
of the chosen law are the calibration scores; with n scores, the ``ceil((n + 1) * level) / n`` empirical
quantile ``q`` gives the band ``prediction ± q`` at any compute, and the FLOPs interval of a target ``t`` is
where the band contains ``t``: ``[f^-1(t - q), f^-1(t + q)]``, unbounded when ``t + q`` is at or above the
law's asymptote. Distribution-free, but only as good as "future extrapolation errors look like past ones".
"""
from __future__ import annotations

import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator

from .errors import ConvergenceError, InsufficientDataError, NotFittedError, ScalingError
from .laws import fit_power_law_nls, invert_power_law, power_law, r_squared

#: Backtest cuts: fractions of the log10 FLOP range used for fitting.
DEFAULT_CUTS = (0.5, 0.6, 0.7, 0.8)
#: The fewest points a law is fitted on, and the fewest held-out points a cut is scored on.
MIN_FIT_POINTS = 3
MIN_TEST_POINTS = 1


def _xy(x, y, law: str, needed: int) -> Tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} != {y.size}")
    if np.any(~np.isfinite(x)) or np.any(~np.isfinite(y)):
        raise ScalingError(f"{law}: x and y must be finite; drop missing rows first")
    if np.any(x <= 0):
        raise ScalingError(f"{law}: FLOPs must be positive, {int(np.sum(x <= 0))} are not")
    if x.size < needed:
        raise InsufficientDataError(f"{law} law", needed, int(x.size))
    if np.unique(x).size < 2:
        raise InsufficientDataError(f"{law} law", 2, 1, "all FLOPs are equal")
    return x, y


class AccuracyLaw(BaseEstimator):
    """Shared behaviour: ``predict``, ``invert`` (``inf`` where the law never reaches a target), ``summary``.

    Subclasses set ``name``, ``formula`` and ``_fitted_parameter_names`` and implement ``fit``, ``_predict``,
    ``_invert`` and ``asymptote`` (``None`` when unbounded).
    """

    name = ""
    formula = ""
    _fitted_parameter_names: Tuple[str, ...] = ()

    def check_fitted(self) -> None:
        if not all(hasattr(self, a) for a in self._fitted_parameter_names):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(x, y) first")

    def predict(self, x) -> np.ndarray:
        self.check_fitted()
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._predict(np.asarray(x, dtype=float))

    def invert(self, y) -> np.ndarray:
        """The FLOPs at which the law reaches accuracy ``y``: ``inf`` when it never does."""
        self.check_fitted()
        y = np.asarray(y, dtype=float)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            x = np.asarray(self._invert(y), dtype=float)
        return np.where(np.isnan(x), np.inf, x)

    @property
    def asymptote(self) -> Optional[float]:
        return None

    def params(self) -> Dict[str, float]:
        self.check_fitted()
        return {a.rstrip("_"): float(getattr(self, a)) for a in self._fitted_parameter_names}

    def summary(self) -> dict:
        self.check_fitted()
        out = {"law": self.name, "formula": self.formula, "params": self.params(),
               "params_ci": {k: list(v) for k, v in getattr(self, "params_ci_", {}).items()},
               "asymptote": self.asymptote, "r2": self.r2_, "rmse": self.rmse_, "n": self.n_}
        return out

    def _finish(self, x: np.ndarray, y: np.ndarray) -> "AccuracyLaw":
        pred = self.predict(x)
        self.n_ = int(x.size)
        self.r2_ = r_squared(y, pred)
        self.rmse_ = float(np.sqrt(np.mean((y - pred) ** 2)))
        return self


def _wald(names: Sequence[str], values: Sequence[float], pcov: Optional[np.ndarray], n: int,
          ci: Optional[float]) -> Dict[str, Tuple[float, float]]:
    if ci is None or pcov is None or not np.all(np.isfinite(pcov)) or n <= len(names):
        return {}
    se = np.sqrt(np.clip(np.diag(pcov), 0, None))
    t = float(stats.t.ppf(0.5 + ci / 2, n - len(names)))
    return {k: (float(v - t * s), float(v + t * s)) for k, v, s in zip(names, values, se)}


class PowerLaw(AccuracyLaw):
    """``acc = C * x**alpha`` by nonlinear least squares (the envelope law's fit)."""

    name = "power"
    formula = "acc = C * x^alpha"
    _fitted_parameter_names = ("C_", "alpha_")

    def __init__(self, ci: float = 0.95, intervals: bool = True):
        self.ci = ci
        self.intervals = intervals

    def fit(self, x, y) -> "PowerLaw":
        x, y = _xy(x, y, self.name, 3)
        self.C_, self.alpha_, pcov = fit_power_law_nls(x, y)
        self.params_ci_ = _wald(("C", "alpha"), (self.C_, self.alpha_), pcov, x.size,
                                self.ci if self.intervals else None)
        return self._finish(x, y)

    def _predict(self, x):
        return power_law(x, self.C_, self.alpha_)

    def _invert(self, y):
        return invert_power_law(y, self.C_, self.alpha_)

    @property
    def asymptote(self) -> Optional[float]:
        return None if self.alpha_ > 0 else float(self.C_)


class SaturatingLaw(AccuracyLaw):
    """``acc = A - B * x**(-alpha)``, ``A <= max_accuracy`` (100 %), ``B > 0``, ``alpha > 0``; bounded by A.

    Fitted by bounded least squares (scipy ``least_squares``, trust-region reflective) in the scaled compute
    ``u = x / x_ref`` (``x_ref`` the geometric mean of x), so that FLOPs of 1e20 do not overflow; ``B`` is
    reported in the unscaled form (``B = B_ref * x_ref**alpha``) and ``B_ref_``/``x_ref_`` are kept.
    """

    name = "saturating"
    formula = "acc = A - B * x^(-alpha)"
    _fitted_parameter_names = ("A_", "B_", "alpha_")

    def __init__(self, max_accuracy: float = 100.0, ci: float = 0.95, intervals: bool = True):
        self.max_accuracy = max_accuracy
        self.ci = ci
        self.intervals = intervals

    #: alpha grid of the profile search (log-spaced), refined by a bounded scalar minimisation.
    ALPHA_RANGE = (1e-4, 20.0)

    def fit(self, x, y) -> "SaturatingLaw":
        x, y = _xy(x, y, self.name, 4)
        top = float(self.max_accuracy)
        if np.max(y) >= top:
            raise ScalingError(f"saturating law: accuracies reach the bound {top:g}; is the column in percent?")
        x_ref = float(np.exp(np.mean(np.log(x))))
        lu = np.log(x / x_ref)
        # For a fixed alpha the law is linear in (A, B_ref): profile the squared error over log alpha alone, on a
        # log grid refined three times around its best point, then the vertex of the parabola through the last three.
        grid = np.linspace(np.log(self.ALPHA_RANGE[0]), np.log(self.ALPHA_RANGE[1]), 81)
        for step in range(4):
            if step:
                grid = np.linspace(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)], 41)
            sse = self._profile(np.exp(grid), lu, y, top)[0]
            i = int(np.argmin(sse))
            if not np.isfinite(sse[i]):
                raise ConvergenceError("saturating law", "no alpha gives a rising law (is accuracy flat or falling?)")
            best, best_sse = grid[i], sse[i]
        j = i
        if 0 < j < sse.size - 1 and np.all(np.isfinite(sse[j - 1:j + 2])):
            (s0, s1, s2), h = sse[j - 1:j + 2], grid[1] - grid[0]
            curv = s0 - 2 * s1 + s2
            if curv > 0:
                vertex = grid[j] + 0.5 * h * (s0 - s2) / curv
                v_sse = self._profile(np.exp(np.array([vertex])), lu, y, top)[0][0]
                if v_sse <= best_sse:
                    best = vertex
        a = float(np.exp(best))
        _, A, Bn = self._profile(np.array([a]), lu, y, top)
        A, Bn = float(A[0]), float(Bn[0])
        if not (np.isfinite(A) and np.isfinite(Bn)):
            raise ConvergenceError("saturating law", "no alpha gives a rising law (is accuracy flat or falling?)")
        self.A_, self.alpha_, self.B_ref_, self.x_ref_ = A, a, Bn, x_ref
        with np.errstate(over="ignore"):
            self.B_ = float(np.exp(np.log(Bn) + a * np.log(x_ref)))  # inf when it overflows (B_ref is exact)
        self.at_bound_ = bool(A >= top - 1e-9)
        # Wald intervals from the Jacobian of the residuals at the optimum (A fixed when at its bound).
        z = np.exp(-a * lu)
        cols = [-z, Bn * lu * z] if self.at_bound_ else [np.ones_like(z), -z, Bn * lu * z]
        names = ("B_ref", "alpha") if self.at_bound_ else ("A", "B_ref", "alpha")
        values = (Bn, a) if self.at_bound_ else (A, Bn, a)
        J = np.column_stack(cols)
        dof = x.size - len(names)
        pcov = None
        if dof > 0 and self.intervals:
            resid = A - Bn * z - y
            pcov = np.linalg.pinv(J.T @ J) * float(resid @ resid) / dof
        ci = _wald(names, values, pcov, x.size, self.ci)
        self.params_ci_ = {k: v for k, v in ci.items() if k != "B_ref"}
        if "A" in self.params_ci_:
            self.params_ci_["A"] = (self.params_ci_["A"][0], min(self.params_ci_["A"][1], top))
        return self._finish(x, y)

    @staticmethod
    def _profile(alphas: np.ndarray, lu: np.ndarray, y: np.ndarray, top: float):
        """Least-squares ``(sse, A, B_ref)`` for each alpha, with ``B_ref > 0`` and ``A <= top``."""
        z = np.exp(-np.outer(alphas, lu))  # (k, n)
        zm = z.mean(axis=1, keepdims=True)
        ym = y.mean()
        szz = ((z - zm) ** 2).sum(axis=1)
        szy = ((z - zm) * (y - ym)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            Bn = -szy / szz
            A = ym + Bn * zm[:, 0]
            over = A > top  # the bound binds: A = top, B_ref by least squares through the origin
            Bn = np.where(over, (z * (top - y)).sum(axis=1) / (z * z).sum(axis=1), Bn)
            A = np.where(over, top, A)
        bad = ~(Bn > 0) | ~np.isfinite(A)
        sse = (((A[:, None] - Bn[:, None] * z) - y) ** 2).sum(axis=1)
        sse = np.where(bad, np.inf, sse)
        return sse, np.where(bad, np.nan, A), np.where(bad, np.nan, Bn)

    def _predict(self, x):
        return self.A_ - self.B_ref_ * np.power(x / self.x_ref_, -self.alpha_)

    def _invert(self, y):
        gap = (self.A_ - y) / self.B_ref_
        return np.where(y < self.A_, self.x_ref_ * np.power(np.where(gap > 0, gap, 1.0), -1.0 / self.alpha_), np.inf)

    @property
    def asymptote(self) -> Optional[float]:
        return float(self.A_)

    def summary(self) -> dict:
        out = super().summary()
        out.update({"x_ref": self.x_ref_, "B_ref": self.B_ref_, "A_at_bound": self.at_bound_})
        return out


class LogLinearLaw(AccuracyLaw):
    """``acc = a + b * log10 x`` by OLS (statsmodels); unbounded."""

    name = "loglinear"
    formula = "acc = a + b * log10(x)"
    _fitted_parameter_names = ("a_", "b_")

    def __init__(self, ci: float = 0.95, intervals: bool = True):
        self.ci = ci
        self.intervals = intervals

    def fit(self, x, y) -> "LogLinearLaw":
        x, y = _xy(x, y, self.name, 3)
        self.a_, self.b_, self.params_ci_ = _ols(np.log10(x), y, ("a", "b"), self.ci if self.intervals else None)
        return self._finish(x, y)

    def _predict(self, x):
        return self.a_ + self.b_ * np.log10(x)

    def _invert(self, y):
        if self.b_ <= 0:
            return np.where(y <= self.a_, 0.0, np.inf)
        return np.power(10.0, (y - self.a_) / self.b_)


class ErrorLogLinearLaw(AccuracyLaw):
    """``log10(1 / error) = alpha + beta * log10 x`` with ``error = 1 - acc / 100``, by OLS; bounded by 100 %."""

    name = "error_loglinear"
    formula = "log10(1/error) = alpha + beta * log10(x), error = 1 - acc/100"
    _fitted_parameter_names = ("alpha_", "beta_")

    def __init__(self, max_accuracy: float = 100.0, ci: float = 0.95, intervals: bool = True):
        self.max_accuracy = max_accuracy
        self.ci = ci
        self.intervals = intervals

    def fit(self, x, y) -> "ErrorLogLinearLaw":
        x, y = _xy(x, y, self.name, 3)
        err = 1.0 - y / self.max_accuracy
        if np.any(err <= 0) or np.any(err > 1):
            raise ScalingError(f"error_loglinear law: accuracies must lie in [0, {self.max_accuracy:g}) %")
        self.alpha_, self.beta_, self.params_ci_ = _ols(np.log10(x), -np.log10(err), ("alpha", "beta"),
                                                        self.ci if self.intervals else None)
        return self._finish(x, y)

    def _predict(self, x):
        return self.max_accuracy * (1.0 - np.power(10.0, -(self.alpha_ + self.beta_ * np.log10(x))))

    def _invert(self, y):
        err = 1.0 - y / self.max_accuracy
        ok = (err > 0) & (self.beta_ > 0)
        safe = np.where(err > 0, err, 1.0)
        return np.where(ok, np.power(10.0, (-np.log10(safe) - self.alpha_) / (self.beta_ if self.beta_ else 1.0)),
                        np.inf)

    @property
    def asymptote(self) -> Optional[float]:
        return float(self.max_accuracy) if self.beta_ > 0 else None


def _ols(u: np.ndarray, v: np.ndarray, names: Tuple[str, str], ci: Optional[float]):
    import statsmodels.api as sm  # statsmodels deferred: loaded only by the fits that use it

    if ci is None:  # the point estimate only (bootstrap refits): plain least squares
        slope, intercept = np.polyfit(u, v, 1)
        return float(intercept), float(slope), {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sm.OLS(v, sm.add_constant(u, has_constant="add")).fit()
    lo, hi = np.asarray(res.conf_int(alpha=1 - ci)).T
    ints = {n: (float(lo[i]), float(hi[i])) for i, n in enumerate(names)} if res.df_resid > 0 else {}
    return float(res.params[0]), float(res.params[1]), ints


#: Candidate laws by name, in report order.
LAWS = {cls.name: cls for cls in (PowerLaw, SaturatingLaw, LogLinearLaw, ErrorLogLinearLaw)}


def make_law(name: str) -> AccuracyLaw:
    try:
        return LAWS[name]()
    except KeyError:
        raise ScalingError(f"unknown law '{name}'; valid: {', '.join(LAWS)}") from None


# ------------------------------------------------------------------------------------------ backtesting


def cut_points(x, fraction: float) -> float:
    """The FLOPs below which a cut fits: ``fraction`` of the way through the log10 range of ``x``."""
    lx = np.log10(np.asarray(x, dtype=float))
    return float(10 ** (lx.min() + fraction * (lx.max() - lx.min())))


def backtest(x, y, laws: Sequence[str] = tuple(LAWS), cuts: Sequence[float] = DEFAULT_CUTS) -> dict:
    """Extrapolation errors of each law at each cut, the residuals, and the chosen law.

    Returns:
        ``{"cuts", "cut_flops", "n_fit", "n_test", "errors": {law: [rmse or None per cut]}, "mean_error":
        {law: float or None}, "chosen", "residuals": {law: [...]}}``; a law that cannot be fitted at a cut has
        ``None`` there and is ranked by the cuts it could be scored on only if it has all of them.
    Raises:
        InsufficientDataError: no cut leaves >= 3 points to fit and >= 1 to score.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    errors: Dict[str, List[Optional[float]]] = {law: [] for law in laws}
    residuals: Dict[str, List[float]] = {law: [] for law in laws}
    kept_cuts, cut_flops, n_fit, n_test = [], [], [], []
    for frac in cuts:
        edge = cut_points(x, frac)
        train, test = x <= edge, x > edge
        if train.sum() < MIN_FIT_POINTS or test.sum() < MIN_TEST_POINTS or np.unique(x[train]).size < 2:
            continue
        kept_cuts.append(float(frac))
        cut_flops.append(edge)
        n_fit.append(int(train.sum()))
        n_test.append(int(test.sum()))
        for law in laws:
            try:
                fitted = make_law(law).set_params(intervals=False).fit(x[train], y[train])
            except ScalingError:
                errors[law].append(None)
                continue
            res = y[test] - fitted.predict(x[test])
            if not np.all(np.isfinite(res)):
                errors[law].append(None)
                continue
            errors[law].append(float(np.sqrt(np.mean(res ** 2))))
            residuals[law].extend(float(r) for r in res)
    if not kept_cuts:
        raise InsufficientDataError("backtest", MIN_FIT_POINTS + MIN_TEST_POINTS, int(x.size),
                                    "no compute cut leaves 3 points to fit and 1 above it")
    mean = {law: (float(np.mean(e)) if e and all(v is not None for v in e) else None) for law, e in errors.items()}
    ranked = sorted((v, law) for law, v in mean.items() if v is not None)
    return {"cuts": kept_cuts, "cut_flops": cut_flops, "n_fit": n_fit, "n_test": n_test, "errors": errors,
            "mean_error": mean, "chosen": ranked[0][1] if ranked else None, "residuals": residuals,
            "metric": "RMSE of accuracy (percentage points) on the points above the cut"}


def conformal_quantile(scores: Sequence[float], level: float = 0.9) -> float:
    """Split-conformal quantile of absolute scores: the ``ceil((n + 1) level)``-th smallest (``inf`` when
    ``n`` is too small for ``level``)."""
    s = np.sort(np.abs(np.asarray(scores, dtype=float)))
    n = s.size
    k = math.ceil((n + 1) * level)
    if n == 0 or k > n:
        return float("inf")
    return float(s[k - 1])


def conformal_flops_interval(law: AccuracyLaw, target: float, q: float) -> Tuple[Optional[float], Optional[float]]:
    """FLOPs where the band ``law ± q`` contains ``target``: ``(f^-1(t - q), f^-1(t + q))``; ``None`` ends are
    unbounded (0 below, infinity above)."""
    if not np.isfinite(q):
        return None, None
    lo = float(law.invert(target - q)) if target - q > 0 else 0.0
    hi = float(law.invert(target + q))
    return (lo if np.isfinite(lo) else None), (hi if np.isfinite(hi) else None)


def bootstrap_invert(law_name: str, x, y, targets: Sequence[float], n_boot: int, ci: float = 0.95,
                     random_state: int = 0) -> Tuple[List[List[Optional[float]]], List[float], int]:
    """Percentile bootstrap of each target's FLOPs under law ``law_name``: resample points, refit, invert.

    Returns:
        ``(intervals, p_unreachable, n_ok)``: per target ``[lo, hi]`` (``None`` = unbounded) and the share of
        resamples that never reach it.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(random_state)
    samples = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, x.size, x.size)
        if np.unique(x[idx]).size < 3:
            continue
        try:
            fitted = make_law(law_name).set_params(intervals=False).fit(x[idx], y[idx])
        except ScalingError:
            continue
        samples.append(fitted.invert(np.asarray(targets, dtype=float)))
    if not samples:
        return [[None, None] for _ in targets], [float("nan")] * len(targets), 0
    arr = np.asarray(samples, dtype=float)
    out, p_un = [], []
    for j in range(arr.shape[1]):
        col = arr[:, j]
        lo = np.percentile(col, 50 * (1 - ci), method="lower")
        hi = np.percentile(col, 50 * (1 + ci), method="higher")
        out.append([float(lo) if np.isfinite(lo) else None, float(hi) if np.isfinite(hi) else None])
        p_un.append(float(np.mean(~np.isfinite(col))))
    return out, p_un, len(samples)
