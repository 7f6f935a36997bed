"""Fitting the AFT families on one design and comparing them (:func:`fit_survival`)."""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ..errors import ConvergenceError, SurvivalError
from .data import SurvivalData, prepare, split
from .durations import DESCRIPTIONS, UNITS
from .mapping import FAMILIES, SurvivalMapping
from .metrics import calibration, concordance, expectation, information_criteria, km_rmst, n_coefficients, rmst

CHECKLIST = (
    "drop covariates that are constant or collinear with others (e.g. training time with epochs)",
    "raise the penalizer (survival.penalizer: 0.01 or 0.1; an L2 penalty on the coefficients)",
    "check that durations are positive and in one unit, and that some rows are events and some censored",
    "fit on fewer covariates first (survival.covariates: [...]), then add them back one at a time",
    "with few failures, use trial level (survival.level: trial) or a longer attack budget",
)


def make_fitter(family: str, penalizer: float = 0.0):
    """An unfitted lifelines AFT fitter of ``family`` (a key of :data:`FAMILIES`)."""
    import lifelines  # lifelines deferred: loaded by a survival fit only

    if family not in FAMILIES:
        raise SurvivalError(f"unknown AFT family {family!r}; expected one of {', '.join(FAMILIES)}")
    return getattr(lifelines, FAMILIES[family][0])(penalizer=penalizer)


def fit_family(family: str, train: pd.DataFrame, penalizer: float = 0.0):
    """Fit one AFT family on a design frame (``T``, ``E``, covariates); ConvergenceError says what to try."""
    # lifelines deferred: loaded by a survival fit only
    from lifelines.exceptions import ApproximationWarning, ConvergenceWarning
    from lifelines.exceptions import ConvergenceError as LifelinesConvergenceError

    fitter = make_fitter(family, penalizer)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitter.fit(train, duration_col="T", event_col="E")
    except (LifelinesConvergenceError, np.linalg.LinAlgError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConvergenceError(f"{family} AFT model", reason, CHECKLIST) from None
    fitter.fit_warnings_ = []
    for warning in caught:
        text = " ".join(str(warning.message).split())
        # lifelines finishes with a pseudo-inverse when the Hessian is singular (collinear covariates): the
        # coefficients are then not identified, so this is a failed fit, not a warning.
        if issubclass(warning.category, ApproximationWarning) and "Hessian was not invertible" in text:
            raise ConvergenceError(f"{family} AFT model", "the Hessian is not invertible (collinear or "
                                   "redundant covariates?); the coefficients are not identified", CHECKLIST)
        if issubclass(warning.category, ConvergenceWarning):
            fitter.fit_warnings_.append(text.split(" See ")[0])
    if not np.all(np.isfinite(fitter.params_.to_numpy())):
        raise ConvergenceError(f"{family} AFT model", "non-finite coefficients", CHECKLIST)
    return fitter


@dataclass
class FittedModel:
    family: str
    fitter: Any
    metrics: Dict[str, Any]
    calibration_train: Dict[str, Any]
    calibration_test: Dict[str, Any]


@dataclass
class SurvivalFit:
    """All fitted families on one design, with the split, horizon and notes."""

    data: SurvivalData
    train: np.ndarray
    test: np.ndarray
    t0: float
    t_max: float
    models: Dict[str, FittedModel]
    best: str
    mapping: SurvivalMapping

    def summary(self) -> Dict[str, Any]:
        """The ``survival`` part of report.json (JSON-safe)."""
        return {
            "level": self.mapping.level, "duration": self.mapping.duration,
            "duration_unit": UNITS.get(self.mapping.duration, f"the table's {self.mapping.duration}"),
            "duration_source": DESCRIPTIONS.get(self.mapping.duration, "the mapping's survival.duration column"),
            "event": self.mapping.event,
            "n": int(len(self.data.frame)), "n_train": int(len(self.train)), "n_test": int(len(self.test)),
            "events": int(self.data.frame["E"].sum()), "covariates": list(self.data.covariates),
            "reference_levels": {k: v for k, v in self.data.references.items()},
            "t0": self.t0, "t0_source": "survival.t0" if self.mapping.t0 is not None else "median observed duration",
            "t_max": self.t_max, "test_fraction": self.mapping.test_fraction, "seed": self.mapping.seed,
            "penalizer": self.mapping.penalizer, "criterion": self.mapping.criterion, "best": self.best,
            "models": {name: _json_safe(m.metrics) for name, m in self.models.items()},
            "notes": list(self.data.notes),
        }

    def predict_rmst(self, rows: Optional[np.ndarray] = None, family: Optional[str] = None) -> np.ndarray:
        """RMST to t* of the chosen (default best) model for design rows (default the test split)."""
        rows = self.test if rows is None else rows
        model = self.models[family or self.best]
        return rmst(model.fitter, self.data.frame.iloc[rows], self.t_max)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def fit_survival(table: pd.DataFrame, mapping: Optional[SurvivalMapping] = None, *,
                 calibrate: bool = True) -> SurvivalFit:
    """Fit every family of ``mapping.families`` on the mapped table and compare them (see the module doc)."""
    mapping = mapping or SurvivalMapping()
    data = prepare(table, mapping)
    mapping = dataclasses.replace(mapping, duration=data.duration)  # the default resolved: the column fitted
    frame = data.frame
    train_idx, test_idx = split(len(frame), mapping.test_fraction, mapping.seed)
    train, test = frame.iloc[train_idx], frame.iloc[test_idx]
    if int(train["E"].sum()) == 0:
        raise SurvivalError("the training split has no failures; use more rows or a larger test_fraction seed")
    t0 = float(mapping.t0) if mapping.t0 is not None else float(np.median(frame["T"]))
    t_max = float(frame["T"].max())
    models: Dict[str, FittedModel] = {}
    for family in mapping.families:
        fitter = fit_family(family, train, mapping.penalizer)
        k, n = n_coefficients(fitter), len(train)
        metrics: Dict[str, Any] = {"log_likelihood": float(fitter.log_likelihood_), "k": k, "n": n,
                                   **information_criteria(float(fitter.log_likelihood_), k, n)}
        metrics["concordance_train"] = concordance(train["T"], _median(fitter, train), train["E"])
        metrics["concordance_test"] = concordance(test["T"], _median(fitter, test), test["E"])
        cal_train = calibration(fitter, train, t0, seed=mapping.seed) if calibrate else {}
        cal_test = calibration(fitter, test, t0, seed=mapping.seed) if calibrate else {}
        for key in ("ici", "e50", "e90"):
            metrics[key] = cal_test.get(key)
            metrics[f"{key}_train"] = cal_train.get(key)
        if fitter.fit_warnings_:
            metrics["warnings"] = list(dict.fromkeys(fitter.fit_warnings_))
        errors = [c["error"] for c in (cal_train, cal_test) if c.get("error")]
        if errors:
            metrics["calibration_error"] = errors[0]
        scale, ancillary = FAMILIES[family][1], FAMILIES[family][2]
        params, ci = fitter.params_, fitter.confidence_intervals_
        metrics["coefficients"] = {cov: float(params[(scale, cov)]) for cov in params.loc[scale].index}
        metrics["coefficients_ci"] = {cov: [float(ci.loc[(scale, cov)].iloc[0]), float(ci.loc[(scale, cov)].iloc[1])]
                                      for cov in params.loc[scale].index}
        metrics["ancillary"] = {"name": ancillary, "log_value": float(params[(ancillary, "Intercept")]),
                                "value": float(math.exp(params[(ancillary, "Intercept")]))}
        metrics["rmst_test"] = float(np.mean(rmst(fitter, test, t_max)))
        expected = expectation(fitter, test)
        metrics["expectation_test"] = float(np.mean(expected)) if np.all(np.isfinite(expected)) else None
        metrics["km_rmst_test"] = km_rmst(test["T"], test["E"], t_max)
        models[family] = FittedModel(family, fitter, metrics, cal_train, cal_test)
    best = choose_best({name: m.metrics for name, m in models.items()}, mapping.criterion)
    return SurvivalFit(data, train_idx, test_idx, t0, t_max, models, best, mapping)


def _median(fitter, X: pd.DataFrame) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(fitter.predict_median(X), dtype=float).reshape(-1)


def choose_best(metrics: Dict[str, Dict[str, Any]], criterion: str = "bic") -> str:
    """The family with the smallest BIC/AIC/ICI or the largest held-out concordance (None values lose)."""
    sign = -1.0 if criterion == "concordance_test" else 1.0

    def key(name: str) -> float:
        value = metrics[name].get(criterion)
        return math.inf if value is None else sign * float(value)

    return min(metrics, key=key)
