"""Which recipe factors drive robust accuracy: gradient boosting, and a quantile-regression frontier.

Gradient boosting reproduces the reference study's factor analysis (arXiv:2312.13131, section 4): a
scikit-learn ``GradientBoostingRegressor`` (50 trees, depth 5) predicting AutoAttack accuracy from the recipe
factors, a seeded 70:30 split, holdout R² and MAE, 5-fold cross-validated R², impurity and permutation
importances.

Categorical factors (text, booleans, and numbers with missing values such as ``ema_decay`` = null for "no EMA")
are **ordinal-coded**: each level gets an integer in sorted order, missing values their own level. Trees split
on thresholds, so the codes only need to be consistent, and each factor keeps one column, hence one importance.

The quantile frontier is a second, bin-free estimate of the envelope: statsmodels ``QuantReg`` of accuracy on
``log10 FLOPs`` at q = 0.9.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .errors import ConvergenceError, InsufficientDataError, NotFittedError

MISSING_LEVEL = "<none>"


def encode_features(frame: pd.DataFrame) -> Tuple[np.ndarray, Dict[str, List[str]]]:
    """Numeric design matrix of the factors, one column each.

    Numeric columns without missing values are kept; every other column is ordinal-coded (levels sorted as
    text, missing values the level ``"<none>"``).

    Returns:
        ``(X, levels)``: the float matrix and, for each coded column, its levels in code order.
    """
    columns = []
    levels: Dict[str, List[str]] = {}
    for name in frame.columns:
        col = frame[name]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and not col.isna().any():
            columns.append(col.to_numpy(dtype=float))
            continue
        text = col.map(lambda v: MISSING_LEVEL if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        cats = sorted(text.unique())
        levels[str(name)] = cats
        columns.append(text.map({c: i for i, c in enumerate(cats)}).to_numpy(dtype=float))
    X = np.column_stack(columns) if columns else np.empty((len(frame), 0))
    return X, levels


class GradientBoostingAnalysis(BaseEstimator):
    """Gradient-boosted trees of accuracy on recipe factors, with holdout, CV and importances.

    Args:
        n_estimators, max_depth: of the ``GradientBoostingRegressor`` (50 and 5 in the reference study).
        test_size: holdout fraction (0.3).
        cv: folds of the cross-validated R² (5).
        n_repeats: permutations per factor for permutation importance (on the holdout).
        random_state: seeds the split, the trees, the folds and the permutations.
    Attributes:
        features_: factor names; levels_: ordinal levels of coded factors; model_: the fitted regressor;
        r2_test_, mae_test_: on the holdout; cv_r2_mean_, cv_r2_sd_, cv_r2_: cross-validated R²;
        importances_: impurity importances by factor (sum 1); permutation_importances_: mean and sd by factor;
        y_test_, y_pred_: holdout truth and prediction; n_train_, n_test_.
    """

    def __init__(self, n_estimators: int = 50, max_depth: int = 5, test_size: float = 0.3, cv: int = 5,
                 n_repeats: int = 5, random_state: int = 0):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.test_size = test_size
        self.cv = cv
        self.n_repeats = n_repeats
        self.random_state = random_state

    def _regressor(self):
        from sklearn.ensemble import GradientBoostingRegressor  # sklearn's estimators deferred: loaded by a fit

        return GradientBoostingRegressor(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                         random_state=self.random_state)

    def fit(self, features: pd.DataFrame, y) -> "GradientBoostingAnalysis":
        """Fit on a frame of factor columns and the accuracies.

        Raises:
            InsufficientDataError: fewer than ``max(2 * cv, 10)`` rows, or no factor columns.
        """
        # sklearn's estimators and metrics deferred: loaded by a fit only
        from sklearn.inspection import permutation_importance
        from sklearn.metrics import mean_absolute_error, r2_score
        from sklearn.model_selection import KFold, cross_val_score, train_test_split

        y = np.asarray(y, dtype=float)
        needed = max(2 * int(self.cv), 10)
        if features.shape[1] == 0:
            raise InsufficientDataError("gradient boosting", 1, 0, "no factor columns; pass --feature COL")
        if len(y) < needed:
            raise InsufficientDataError("gradient boosting", needed, len(y), f"{self.cv}-fold CV and a holdout")
        X, self.levels_ = encode_features(features)
        self.features_ = [str(c) for c in features.columns]
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=self.test_size, random_state=self.random_state)
        self.n_train_, self.n_test_ = int(len(y_tr)), int(len(y_te))
        self.model_ = self._regressor().fit(X_tr, y_tr)
        self.y_test_ = y_te
        self.y_pred_ = self.model_.predict(X_te)
        self.r2_test_ = float(r2_score(y_te, self.y_pred_))
        self.mae_test_ = float(mean_absolute_error(y_te, self.y_pred_))
        folds = KFold(n_splits=int(self.cv), shuffle=True, random_state=self.random_state)
        self.cv_r2_ = cross_val_score(self._regressor(), X, y, cv=folds, scoring="r2")
        self.cv_r2_mean_ = float(np.mean(self.cv_r2_))
        self.cv_r2_sd_ = float(np.std(self.cv_r2_, ddof=1))
        self.importances_ = {f: float(v) for f, v in zip(self.features_, self.model_.feature_importances_)}
        perm = permutation_importance(self.model_, X_te, y_te, n_repeats=int(self.n_repeats),
                                      random_state=self.random_state, scoring="r2")
        self.permutation_importances_ = {f: {"mean": float(m), "sd": float(s)}
                                         for f, m, s in zip(self.features_, perm.importances_mean,
                                                            perm.importances_std)}
        return self

    def summary(self) -> dict:
        if not hasattr(self, "model_"):
            raise NotFittedError("GradientBoostingAnalysis is not fitted yet; call fit(features, y) first")
        return {
            "r2_test": self.r2_test_, "mae_test": self.mae_test_, "cv_r2_mean": self.cv_r2_mean_,
            "cv_r2_sd": self.cv_r2_sd_, "cv_r2": [float(v) for v in self.cv_r2_],
            "importances": self.importances_, "permutation_importances": self.permutation_importances_,
            "features": self.features_, "encoding": "ordinal", "levels": self.levels_,
            "n_train": self.n_train_, "n_test": self.n_test_,
            "params": {"n_estimators": self.n_estimators, "max_depth": self.max_depth,
                       "test_size": self.test_size, "cv": self.cv, "n_repeats": self.n_repeats,
                       "random_state": self.random_state},
        }


class QuantileFrontier(BaseEstimator):
    """Upper-quantile line ``accuracy = a + b * log10(FLOPs)`` (statsmodels ``QuantReg``).

    Args:
        q: the quantile (0.9).
        ci: confidence level of the coefficient intervals.
    Attributes:
        intercept_, slope_ (per decade of FLOPs), intercept_ci_, slope_ci_, n_, share_below_ (fraction of
        runs at or below the line).
    """

    _fitted_parameter_names = ("intercept_", "slope_")

    def __init__(self, q: float = 0.9, ci: float = 0.95):
        self.q = q
        self.ci = ci

    def fit(self, x, y) -> "QuantileFrontier":
        # statsmodels deferred: loaded only by the fits that use it
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import ConvergenceWarning, IterationLimitWarning

        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.size < 3:
            raise InsufficientDataError("quantile regression", 3, int(x.size))
        if np.unique(x).size < 2:
            raise InsufficientDataError("quantile regression", 2, 1, "all FLOPs are equal")
        design = sm.add_constant(np.log10(x), has_constant="add")
        with warnings.catch_warnings():
            warnings.simplefilter("error", IterationLimitWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                res = sm.QuantReg(y, design).fit(q=self.q, max_iter=5000)
            except (IterationLimitWarning, ConvergenceWarning) as err:
                raise ConvergenceError("quantile regression", str(err), (
                    "are there enough runs spread over the FLOP range?",
                    "are accuracies in percent and FLOPs positive?",
                    "drop collapsed runs (--collapse) that pile up at 0 %",
                )) from None
        lo, hi = np.asarray(res.conf_int(alpha=1 - self.ci)).T
        self.results_ = res
        self.intercept_, self.slope_ = float(res.params[0]), float(res.params[1])
        self.intercept_ci_ = (float(lo[0]), float(hi[0]))
        self.slope_ci_ = (float(lo[1]), float(hi[1]))
        self.n_ = int(x.size)
        self.share_below_ = float(np.mean(y <= self.predict(x) + 1e-9))
        return self

    def predict(self, x) -> np.ndarray:
        if not hasattr(self, "slope_"):
            raise NotFittedError("QuantileFrontier is not fitted yet; call fit(x, y) first")
        return self.intercept_ + self.slope_ * np.log10(np.asarray(x, dtype=float))

    def summary(self) -> dict:
        self.predict(1.0)
        return {"q": self.q, "intercept": self.intercept_, "slope_per_decade": self.slope_,
                "intercept_ci": list(self.intercept_ci_), "slope_ci": list(self.slope_ci_), "n": self.n_,
                "share_below": self.share_below_, "model": "acc = intercept + slope * log10(flops)"}


def olympic_mean(values: Sequence[float]) -> float:
    """MLPerf's olympic mean: drop the best and the worst, average the rest (NaN with fewer than 3 values)."""
    v = np.sort(np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float))
    if v.size < 3:
        return float("nan")
    return float(np.mean(v[1:-1]))


def repeats_table(table: pd.DataFrame, group: Sequence[str], value: pd.Series, min_n: int = 2) -> pd.DataFrame:
    """Per configuration with at least ``min_n`` runs: n, mean, sd and olympic mean of ``value``.

    Args:
        table: the results table; ``group`` columns identify a configuration (missing values are a level).
        value: the per-run values (accuracy), aligned with ``table``.
    """
    if not group:
        return pd.DataFrame(columns=["n", "mean", "sd", "olympic_mean"])
    frame = table[list(group)].copy()
    # Lists or dicts in cells (unhashable) are compared by their text.
    for col in frame.columns:
        if frame[col].map(lambda v: isinstance(v, (list, dict))).any():
            frame[col] = frame[col].map(str)
    frame["_value"] = np.asarray(value, dtype=float)
    grouped = frame.groupby(list(group), dropna=False, sort=True)["_value"]
    out = grouped.agg(n="count", mean="mean", sd="std", olympic_mean=olympic_mean).reset_index()
    return out[out["n"] >= min_n].reset_index(drop=True)
