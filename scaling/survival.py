"""Accelerated-failure-time (AFT) models of how long an attack takes to make a model fail.

Meyers et al., "A Cost-Aware Approach to Adversarial Robustness in Neural Networks": each attacked point is a
subject whose *time-to-failure* is the attack effort (seconds, model evaluations, or the eps of a minimal-eps
FGM) at which its prediction first flips; a point that survives the whole budget is right-censored at it.
Three lifelines AFT families are fitted on the same design matrix and compared:

======== ================================= =============== ===================================
family   S(t | x)                          log-scale param  ancillary (log of)
======== ================================= =============== ===================================
weibull  exp(-(t / lambda(x))^rho)         ``lambda_``      ``rho_``   (shape rho)
lognormal 1 - Phi((ln t - mu(x)) / sigma)  ``mu_``          ``sigma_`` (sigma)
loglogistic 1 / (1 + (t / alpha(x))^beta)  ``alpha_``       ``beta_``  (shape beta)
======== ================================= =============== ===================================

with ``ln lambda(x) = b0 + b'x`` (lifelines' parameterisation: a positive coefficient lengthens survival).

Model comparison (all on a seeded train/test split, default 75/25):

* ``aic = -2 lnL + 2k`` and ``bic = -2 lnL + k ln n`` with k = every estimated coefficient (intercepts and the
  ancillary parameter included) and n = training rows. lifelines' own ``BIC_`` counts parameter *groups*
  (2 for (lambda, rho)), which makes BIC ~ AIC; we do not use it.
* Harrell's concordance of the predicted median survival time with the observed durations, train and test.
* Survival-probability calibration at a horizon t0 (Austin, Harrell & van Klaveren 2020, as lifelines'
  ``survival_probability_calibration`` without its plot): predicted P(T <= t0 | x) against the "observed"
  probability from a flexible Crowther-Royston-Clements spline model regressed on cloglog(predicted);
  ICI = mean, E50 = median, E90 = 90th percentile of the absolute difference. t0 defaults to the median
  observed duration. ``ici``/``e50``/``e90`` are held-out (test) values; ``*_train`` in-sample.
* Restricted mean survival time (RMST, the paper's Eq. 5) up to the last observed time t*, the integral of
  S(t | x) over [0, t*], averaged over the held-out rows, beside the untruncated mean E[T] and the
  Kaplan-Meier RMST of the same rows (model-free cross-check).

Nothing here imports torch; inputs are any table with a column mapping (:class:`SurvivalMapping`).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .errors import ConvergenceError, InsufficientDataError, ScalingError, TableError

#: family name -> (lifelines class name, log-scale parameter, ancillary parameter)
FAMILIES: Dict[str, Tuple[str, str, str]] = {
    "weibull": ("WeibullAFTFitter", "lambda_", "rho_"),
    "lognormal": ("LogNormalAFTFitter", "mu_", "sigma_"),
    "loglogistic": ("LogLogisticAFTFitter", "alpha_", "beta_"),
}
CRITERIA = ("bic", "aic", "concordance_test", "ici")
LEVELS = ("sample", "trial")
#: Design variables of our own records (what a user chooses), used as covariates by default when present.
DESIGN_COVARIATES: Tuple[str, ...] = (
    "config.training.lr", "config.data.batch_size", "config.training.epochs", "config.attack.eps",
    "config.training.loss", "config.model.depth", "config.model.width", "config.data.name",
    "cost.device_model", "config.seed",
)
#: The paper's outcome covariates (post-treatment: not causal), added on request (``outcomes: true``).
OUTCOME_COVARIATES: Tuple[str, ...] = (
    "accuracy.clean", "timing.train_seconds", "evaluation.inference.latency_ms",
)
#: Most rows used to fit the calibration spline (seeded subsample above it): the spline is a smoother.
CALIBRATION_MAX_ROWS = 5000
#: Points of the time grid used to integrate survival curves.
GRID_POINTS = 256

CHECKLIST = (
    "drop covariates that are constant or collinear with others (e.g. training time with epochs)",
    "raise the penalizer (survival.penalizer: 0.01 or 0.1; an L2 penalty on the coefficients)",
    "check that durations are positive and in one unit, and that some rows are events and some censored",
    "fit on fewer covariates first (survival.covariates: [...]), then add them back one at a time",
    "with few failures, use trial level (survival.level: trial) or a longer attack budget",
)


class SurvivalError(ScalingError):
    """A survival table or mapping the AFT models cannot use."""


@dataclass(frozen=True)
class SurvivalMapping:
    """Which columns are the survival data, and how to fit them.

    ``covariates=None`` takes the design covariates (:data:`DESIGN_COVARIATES`) present in the table and not
    constant; ``outcomes=True`` adds the paper's outcome covariates (:data:`OUTCOME_COVARIATES`).
    """

    duration: str = "seconds"
    """time-to-failure (or censoring) column; positive, one unit"""
    event: str = "event"
    """1/True when the point failed within the budget, 0/False when censored"""
    covariates: Optional[Tuple[str, ...]] = None
    """covariate columns; strings and booleans become dummies (first sorted level is the reference)"""
    outcomes: bool = False
    """add the outcome covariates (clean accuracy, training time, inference latency)"""
    level: str = "sample"
    """'sample': one subject per attacked point; 'trial': one per run (paper-faithful)"""
    run: str = "run_id"
    """column naming the run a row belongs to (trial level, TRASH)"""
    config: Optional[str] = None
    """keep only rows of this attack configuration (the 'config' column, e.g. 'pgd-40'); None: all"""
    t0: Optional[float] = None
    """calibration horizon, in the duration's unit; None: the median observed duration"""
    test_fraction: float = 0.25
    """held-out fraction of the seeded split"""
    seed: int = 0
    """seed of the split and the calibration subsample"""
    penalizer: float = 0.0
    """L2 penalty on the coefficients (lifelines' penalizer, l1_ratio 0)"""
    families: Tuple[str, ...] = tuple(FAMILIES)
    """AFT families to fit"""
    criterion: str = "bic"
    """how survival.best is chosen: bic, aic (smallest), concordance_test (largest), ici (smallest)"""
    by: Optional[str] = None
    """covariate whose levels (or quartiles) get their own survival curve; None: the first covariate"""

    KEYS = ("duration", "event", "covariates", "outcomes", "level", "run", "config", "t0", "test_fraction",
            "seed", "penalizer", "families", "criterion", "by")

    @classmethod
    def from_dict(cls, data: Any, source: str = "<mapping>") -> "SurvivalMapping":
        """Validate a ``survival:`` mapping section; errors name the file, key and value."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise SurvivalError(f"{source}: survival must be a mapping of {', '.join(cls.KEYS)}; got {data!r}")
        unknown = [k for k in data if k not in cls.KEYS]
        if unknown:
            raise SurvivalError(f"{source}: survival.{unknown[0]} is not a key; allowed: {', '.join(cls.KEYS)}")
        out: Dict[str, Any] = {}
        for key, value in data.items():
            where = f"{source}: survival.{key} = {value!r}"
            if key in ("duration", "event", "run") and not (isinstance(value, str) and value):
                raise SurvivalError(f"{where}: expected a column name")
            if key in ("config", "by") and value is not None and not isinstance(value, str):
                raise SurvivalError(f"{where}: expected a column name / value or null")
            if key in ("covariates", "families") and value is not None:
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise SurvivalError(f"{where}: expected a list of names")
                value = tuple(value)
                if key == "families":
                    bad = [v for v in value if v not in FAMILIES]
                    if bad or not value:
                        raise SurvivalError(f"{where}: families are {', '.join(FAMILIES)}")
            if key == "outcomes" and not isinstance(value, bool):
                raise SurvivalError(f"{where}: expected true or false")
            if key == "level" and value not in LEVELS:
                raise SurvivalError(f"{where}: expected one of {', '.join(LEVELS)}")
            if key == "criterion" and value not in CRITERIA:
                raise SurvivalError(f"{where}: expected one of {', '.join(CRITERIA)}")
            if key in ("t0", "test_fraction", "penalizer") and value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise SurvivalError(f"{where}: expected a number")
                value = float(value)
                if key == "t0" and value <= 0:
                    raise SurvivalError(f"{where}: the horizon must be > 0")
                if key == "test_fraction" and not 0.0 < value < 1.0:
                    raise SurvivalError(f"{where}: expected 0 < test_fraction < 1")
                if key == "penalizer" and value < 0:
                    raise SurvivalError(f"{where}: expected >= 0")
            if key == "seed" and (isinstance(value, bool) or not isinstance(value, int)):
                raise SurvivalError(f"{where}: expected an integer")
            out[key] = value
        return cls(**out)


# ---------------------------------------------------------------- data

@dataclass
class SurvivalData:
    """The design of one fit: ``frame`` has columns ``T``, ``E`` and the (dummy-coded) covariates."""

    frame: pd.DataFrame
    covariates: List[str]
    columns: Dict[str, str]
    """design column -> source column (a dummy names its source column and level)"""
    references: Dict[str, Any]
    """categorical source column -> its reference level"""
    runs: Optional[pd.Series]
    notes: List[str]


def _event(series: pd.Series, name: str) -> pd.Series:
    if series.dtype == bool:
        return series.astype(int)
    if series.dtype == object:
        text = series.astype(str).str.strip().str.lower()
        mapped = text.map({"true": 1, "false": 0, "1": 1, "0": 0, "1.0": 1, "0.0": 0})
        if mapped.isna().any():
            bad = series[mapped.isna()].iloc[0]
            raise SurvivalError(f"event column {name!r} holds {bad!r}; expected 1/0 or true/false")
        return mapped.astype(int)
    values = pd.to_numeric(series, errors="coerce")
    bad = values.notna() & ~values.isin([0, 1])
    if bad.any():
        raise SurvivalError(f"event column {name!r} holds {values[bad].iloc[0]!r}; expected 1 (failed) or 0 "
                            "(censored)")
    return values


def _require(table: pd.DataFrame, column: str, what: str) -> None:
    if column not in table.columns:
        raise TableError(f"the survival {what} column {column!r} is not in the table", column=column,
                         present=list(table.columns), hint=f"name it with survival.{what}")


def trial_level(table: pd.DataFrame, mapping: SurvivalMapping, covariates: Sequence[str]) -> pd.DataFrame:
    """One row per run, as the paper fitted: duration = the run's total attack time over its points, event =
    any point failed (lifelines casts the failure count to bool), ``failures`` = how many did."""
    _require(table, mapping.run, "run")
    grouped = table.groupby(mapping.run, sort=True)
    out = pd.DataFrame({
        mapping.duration: grouped[mapping.duration].sum(),
        "failures": grouped[mapping.event].sum(),
        "points": grouped.size(),
    })
    out[mapping.event] = (out["failures"] > 0).astype(int)
    for column in covariates:
        out[column] = grouped[column].first()
    return out.reset_index()


def prepare(table: pd.DataFrame, mapping: SurvivalMapping) -> SurvivalData:
    """Check the mapped columns and build the design: positive durations, 0/1 events, numeric covariates,
    dummies for categorical ones; drop (and note) unusable rows and constant covariates."""
    notes: List[str] = []
    _require(table, mapping.duration, "duration")
    _require(table, mapping.event, "event")
    if mapping.config is not None:
        _require(table, "config", "config")
        table = table[table["config"] == mapping.config]
        if table.empty:
            raise SurvivalError(f"no rows with config == {mapping.config!r}")
    if mapping.covariates is not None:
        covariates = list(mapping.covariates)
        for column in covariates:
            _require(table, column, "covariates")
    else:
        covariates = [c for c in DESIGN_COVARIATES if c in table.columns]
    if mapping.outcomes:
        covariates += [c for c in OUTCOME_COVARIATES if c in table.columns and c not in covariates]
    for bad in (mapping.duration, mapping.event):
        if bad in covariates:
            raise SurvivalError(f"{bad!r} is the {'duration' if bad == mapping.duration else 'event'} and cannot "
                                "also be a covariate")
    if mapping.level == "trial":
        table = trial_level(table, mapping, covariates)
    frame = pd.DataFrame({"T": pd.to_numeric(table[mapping.duration], errors="coerce"),
                          "E": _event(table[mapping.event], mapping.event)}, index=table.index)
    columns: Dict[str, str] = {}
    references: Dict[str, Any] = {}
    kept: List[str] = []
    for column in covariates:
        series = table[column]
        if series.dtype == bool or series.dtype == object or str(series.dtype) == "category":
            levels = sorted(series.dropna().astype(str).unique())
            if len(levels) < 2:
                notes.append(f"covariate {column} has one level ({levels[0] if levels else 'none'}): dropped")
                continue
            references[column] = levels[0]
            for level in levels[1:]:
                name = f"{column}[{level}]"
                frame[name] = (series.astype(str) == level).astype(float).where(series.notna())
                columns[name] = column
                kept.append(name)
        else:
            values = pd.to_numeric(series, errors="coerce")
            if values.nunique(dropna=True) < 2:
                notes.append(f"covariate {column} is constant: dropped")
                continue
            frame[column] = values.astype(float)
            columns[column] = column
            kept.append(column)
    usable = frame.notna().all(axis=1) & np.isfinite(frame["T"])
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} rows with a missing value in the duration, event or covariates: "
                     "dropped")
    positive = frame["T"] > 0
    if (usable & ~positive).any():
        notes.append(f"{int((usable & ~positive).sum())} rows with a non-positive duration (failed before any "
                     "attack effort, e.g. misclassified clean points): dropped, as an AFT model needs T > 0")
    frame = frame[usable & positive]
    runs = table.loc[frame.index, mapping.run] if (mapping.run in table.columns and mapping.level == "sample") \
        else (table.loc[frame.index, mapping.run] if mapping.run in table.columns else None)
    if len(frame) < max(10, 2 * (len(kept) + 2)):
        raise InsufficientDataError("AFT survival models", max(10, 2 * (len(kept) + 2)), len(frame),
                                    f"rows with a positive {mapping.duration} and every covariate")
    if int(frame["E"].sum()) == 0:
        raise SurvivalError(f"no failures in {len(frame)} rows (every point survived its budget): a survival "
                            "model needs events; attack longer or with a larger eps")
    return SurvivalData(frame.reset_index(drop=True), kept, columns, references,
                        None if runs is None else runs.reset_index(drop=True), notes)


def split(n: int, test_fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Seeded random train/test row indices (test = round(n * test_fraction), at least 1 and at most n-2)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = min(max(1, int(round(n * test_fraction))), n - 2)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


# ---------------------------------------------------------------- metrics

def n_coefficients(fitter) -> int:
    """Every estimated coefficient (intercepts and ancillary parameters included)."""
    return int(len(fitter.params_))


def information_criteria(log_likelihood: float, k: int, n: int) -> Dict[str, float]:
    """AIC and BIC with k estimated coefficients and n subjects (BIC >= AIC exactly when ln n >= 2)."""
    return {"aic": -2.0 * log_likelihood + 2.0 * k, "bic": -2.0 * log_likelihood + k * math.log(n)}


def concordance(durations, predicted, events) -> float:
    """Harrell's C of predicted survival times with observed durations (1 = perfectly ordered)."""
    from lifelines.utils import concordance_index

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
    """
    from lifelines import CRCSplineFitter

    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    predicted = np.clip(1.0 - survival_at(fitter, frame, [t0])[0], 1e-10, 1 - 1e-10)
    cll = np.log(-np.log(1.0 - predicted))
    data = pd.DataFrame({"cll": cll, "T": frame["T"].to_numpy(), "E": frame["E"].to_numpy()})
    out: Dict[str, Any] = {"n": int(len(frame)), "t0": float(t0)}
    try:
        crc = CRCSplineFitter(n_baseline_knots=3, penalizer=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crc.fit_right_censoring(data, "T", "E",
                                    regressors={"beta_": ["cll"], "gamma0_": "1", "gamma1_": "1", "gamma2_": "1"})
            observed = 1.0 - crc.predict_survival_function(data[["cll"]], times=[t0]).to_numpy()[0]
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


def rmst(fitter, X: pd.DataFrame, t_max: float, points: int = GRID_POINTS) -> np.ndarray:
    """Per-row restricted mean survival time: the integral of S(t | x) over [0, t_max] (trapezoids)."""
    grid = np.linspace(0.0, float(t_max), points)
    surv = survival_at(fitter, X, grid[1:])
    surv = np.vstack([np.ones((1, surv.shape[1])), surv])
    return np.trapezoid(surv, grid, axis=0) if hasattr(np, "trapezoid") else np.trapz(surv, grid, axis=0)


def km_rmst(durations, events, t_max: float) -> float:
    """Kaplan-Meier restricted mean survival time up to ``t_max`` (model-free)."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    km = KaplanMeierFitter().fit(np.asarray(durations, dtype=float), np.asarray(events))
    return float(restricted_mean_survival_time(km, t=float(t_max)))


def expectation(fitter, X: pd.DataFrame) -> np.ndarray:
    """Untruncated E[T | x] (lifelines' predict_expectation; NaN/inf where it does not exist)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(fitter.predict_expectation(X), dtype=float).reshape(-1)


# ---------------------------------------------------------------- fitting

def make_fitter(family: str, penalizer: float = 0.0):
    import lifelines

    if family not in FAMILIES:
        raise SurvivalError(f"unknown AFT family {family!r}; expected one of {', '.join(FAMILIES)}")
    return getattr(lifelines, FAMILIES[family][0])(penalizer=penalizer)


def fit_family(family: str, train: pd.DataFrame, penalizer: float = 0.0):
    """Fit one AFT family on a design frame (``T``, ``E``, covariates); ConvergenceError says what to try."""
    from lifelines.exceptions import ConvergenceError as LifelinesConvergenceError

    from lifelines.exceptions import ApproximationWarning, ConvergenceWarning

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
            "level": self.mapping.level, "duration": self.mapping.duration, "event": self.mapping.event,
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


# ---------------------------------------------------------------- TRASH

J_PER_KWH = 3.6e6
DEVICE_TABLE_PREFIX = "config.measurement.device_table."
#: Run columns TRASH reads (besides the device table).
TRASH_COLUMNS = ("timing.train_seconds", "flops.train_samples", "training.epochs_completed", "config.training.epochs",
                 "cost.device_model", "energy.train_kwh", "energy.attack_kwh", "timing.attack_seconds",
                 "config.data.name")


def match_device(device_model: Any, models: Sequence[str]) -> Optional[str]:
    """The device-table key naming ``device_model`` as a whole token, case-insensitively, longest first
    (``"NVIDIA L4"`` -> ``L4``, ``"Tesla V100-SXM2-16GB"`` -> ``V100``); None when none does."""
    import re

    if not isinstance(device_model, str) or not device_model:
        return None
    for key in sorted(models, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![0-9])", device_model, re.IGNORECASE):
            return key
    return None


def _device_entry(run: pd.Series, device_model: Any) -> Dict[str, Optional[float]]:
    models = sorted({c[len(DEVICE_TABLE_PREFIX):].rsplit(".", 1)[0] for c in run.index
                     if c.startswith(DEVICE_TABLE_PREFIX)})
    key = match_device(device_model, models)
    if key is None:
        return {}
    out = {}
    for field_name in ("usd_per_hour", "watts"):
        value = run.get(f"{DEVICE_TABLE_PREFIX}{key}.{field_name}")
        out[field_name] = float(value) if value is not None and pd.notna(value) else None
    out["device"] = key
    return out


def _num(run: pd.Series, column: str) -> float:
    value = run.get(column) if column in run.index else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if math.isfinite(value) else float("nan")


def trash_table(fit: SurvivalFit, runs: pd.DataFrame, *, run_column: str = "run_id",
                train_seconds: str = "timing.train_seconds", train_samples: str = "flops.train_samples",
                epochs: Sequence[str] = ("training.epochs_completed", "config.training.epochs"),
                device: str = "cost.device_model", family: Optional[str] = None) -> pd.DataFrame:
    """TRASH per run (Meyers et al., Eq. 9): training time per training sample / expected time-to-failure per
    attacked sample; > 1 flags the model as broken (cheaper to break a point than to train on one).

    * Training time per training sample: ``timing.train_seconds`` over the distinct training samples
      (``flops.train_samples`` / epochs), epochs included, as the paper; ``trash_per_epoch`` divides by the
      samples processed instead (one epoch's worth).
    * Expected time-to-failure: the chosen AFT model's (default ``survival.best``) restricted mean survival
      time to t* (Eq. 5), averaged over the run's held-out points; ``trash_empirical`` uses the mean observed
      duration of all the run's points instead (a lower bound: censored points count at their budget).
    * In $ and energy: from the run's device in ``measurement.device_table`` ($/h x hours, W x s -> J), and
      from the measured energy where the record has it (``energy.train_kwh``, ``energy.attack_kwh`` over
      ``timing.attack_seconds``: measured mean attack power x expected seconds). On one device the $ ratio
      equals TRASH; the measured energy ratio differs by the power drawn while training vs attacking.

    The survival durations must be in seconds. Returns one row per run with a held-out point.
    """
    if fit.data.runs is None:
        raise SurvivalError(f"TRASH needs the run column {fit.mapping.run!r} in the survival table")
    for column in (run_column, train_seconds, train_samples):
        if column not in runs.columns:
            raise TableError(f"TRASH needs the run column {column!r}", column=column, present=list(runs.columns))
    model = fit.models[family or fit.best]
    frame = fit.data.frame
    test_runs = fit.data.runs.iloc[fit.test].to_numpy()
    predicted = rmst(model.fitter, frame.iloc[fit.test], fit.t_max)
    per_run = pd.DataFrame({"run": test_runs, "rmst": predicted}).groupby("run")["rmst"].mean()
    empirical = pd.DataFrame({"run": fit.data.runs.to_numpy(), "T": frame["T"].to_numpy()}).groupby("run")["T"].mean()
    rows = []
    for _, run in runs.drop_duplicates(run_column).iterrows():
        rid = run[run_column]
        if rid not in per_run.index:
            continue
        n_epochs = next((v for v in (_num(run, c) for c in epochs) if v == v and v > 0), 1.0)
        processed = _num(run, train_samples)
        t_train = _num(run, train_seconds)
        per_sample = t_train / (processed / n_epochs) if processed > 0 else float("nan")
        attack = float(per_run[rid])
        row: Dict[str, Any] = {
            "run_id": rid, "train_seconds_per_sample": per_sample, "attack_seconds_per_sample": attack,
            "empirical_seconds_per_sample": float(empirical.get(rid, float("nan"))), "model": model.family,
            "expected_time": "RMST to t_max (held-out points)", "trash": per_sample / attack,
            "trash_per_epoch": per_sample / n_epochs / attack,
        }
        row["trash_empirical"] = per_sample / row["empirical_seconds_per_sample"]
        row["broken"] = bool(row["trash"] > 1.0)
        entry = _device_entry(run, run.get(device) if device in run.index else None)
        row["device"] = entry.get("device") or (run.get(device) if device in run.index else None)
        if entry.get("usd_per_hour") is not None:
            row["train_usd_per_sample"] = per_sample / 3600.0 * entry["usd_per_hour"]
            row["attack_usd_per_sample"] = attack / 3600.0 * entry["usd_per_hour"]
            row["trash_usd"] = row["train_usd_per_sample"] / row["attack_usd_per_sample"]
        train_kwh, attack_kwh, attack_s = (_num(run, c) for c in ("energy.train_kwh", "energy.attack_kwh",
                                                                   "timing.attack_seconds"))
        if train_kwh > 0 and attack_kwh > 0 and attack_s > 0 and processed > 0:
            row["train_j_per_sample"] = train_kwh * J_PER_KWH / (processed / n_epochs)
            row["attack_j_per_sample"] = attack_kwh * J_PER_KWH / attack_s * attack
            row["energy_source"] = "measured"
        elif entry.get("watts") is not None:
            row["train_j_per_sample"] = per_sample * entry["watts"]
            row["attack_j_per_sample"] = attack * entry["watts"]
            row["energy_source"] = "device table (W x s)"
        if "train_j_per_sample" in row:
            row["trash_energy"] = row["train_j_per_sample"] / row["attack_j_per_sample"]
        rows.append(row)
    return pd.DataFrame(rows)


def mapping_fields() -> List[Tuple[str, str, Any]]:
    """(key, doc, default) of every mapping key, for the README."""
    docs = {}
    import ast
    import inspect

    source = inspect.getsource(SurvivalMapping)
    tree = ast.parse(source)
    body = tree.body[0].body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and i + 1 < len(body) and isinstance(body[i + 1], ast.Expr):
            docs[node.target.id] = str(body[i + 1].value.value)
    return [(f.name, docs.get(f.name, ""), f.default) for f in dataclasses.fields(SurvivalMapping)]


# ---------------------------------------------------------------- collecting the per-point tables

def collect_survival(results_dir: str, runs: Optional[pd.DataFrame] = None,
                     columns: Optional[Sequence[str]] = None) -> Tuple[pd.DataFrame, List[str]]:
    """Every run's ``survival.parquet`` (pointed to by its record's ``survival.file``) in one table, each row
    joined with its run's record columns (``config.*``, ``accuracy.*``, ``timing.*``, ...) by ``run_id``.

    Args:
        results_dir: the results directory (read when ``runs`` is None).
        runs: its collected run table (``scaling.table.collect``), if already read.
        columns: the run columns to join (those present); None joins every record column. A fit needs only
            its covariates, and 10,000 points x 200 record columns per run add up.

    Returns ``(table, problems)``: problems name runs whose pointer is set but whose file is missing or
    unreadable (they are left out, never silently).
    """
    import os

    from results.schema import SURVIVAL, SURVIVAL_FILE_KEY

    from .table import PATH_COLUMN, collect

    if runs is None:
        runs, _ = collect(results_dir)
    pointer = f"{SURVIVAL}.{SURVIVAL_FILE_KEY}"
    parts: List[pd.DataFrame] = []
    problems: List[str] = []
    if pointer not in runs.columns:
        return pd.DataFrame(), problems
    for _, run in runs.iterrows():
        name = run.get(pointer)
        if not isinstance(name, str) or not name:
            continue
        path = os.path.join(os.path.dirname(str(run[PATH_COLUMN])), name)
        try:
            part = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            problems.append(f"{path}: survival table unreadable: {err}")
            continue
        if "run_id" not in part.columns or (part["run_id"] != run["run_id"]).any():
            problems.append(f"{path}: survival table is not the run {run['run_id']}'s (run_id column differs)")
            continue
        parts.append(part)
    if not parts:
        return pd.DataFrame(), problems
    table = pd.concat(parts, ignore_index=True)
    keep = [c for c in runs.columns if c != "run_id" and not c.startswith(f"{SURVIVAL}.") and c not in table.columns
            and (columns is None or c in columns)]
    joined = table.merge(runs.drop_duplicates("run_id")[["run_id", *keep]], on="run_id", how="left",
                         validate="many_to_one")
    return joined, problems
