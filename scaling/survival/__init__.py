"""Accelerated-failure-time (AFT) models of how long an attack takes to make a model fail.

Meyers et al., "A Cost-Aware Approach to Adversarial Robustness in Neural Networks": each attacked point is a
subject whose *time-to-failure* is the attack effort (by default the FLOPs of the forward and backward passes
the attack spent on it, ``attack_flops``; or the passes, the wall-clock seconds, or the eps of a minimal-eps FGM)
at which its prediction first flips; a point that survives the whole budget is right-censored at it. Seconds
depend on the machine and its load; the passes and FLOPs do not (:mod:`.durations`).
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

Nothing here imports torch; inputs are any table with a column mapping (:class:`SurvivalMapping`). The package's
modules: ``mapping`` (the settings), ``fields`` (the record fields it reads from our runs), ``durations`` (which
duration: FLOPs, passes or seconds), ``data`` (the design; durations < 0 or missing and events other than 0/1
are refused), ``metrics``, ``fit`` (the families compared), ``trash`` (TRASH per run, in FLOPs, or in seconds,
$ and energy). The per-point
tables of a results directory are collected by :func:`scaling.table.collect_survival`.
"""
from ..errors import SurvivalError
from .data import SurvivalData, prepare, split, trial_level
from .durations import (ATTACK_FLOPS, ATTACK_PASSES, BACKWARD_PER_FORWARD, DURATIONS, has_duration,
                        resolve_duration, with_attack_cost)
from .fields import DESIGN_COVARIATES, DEVICE_TABLE_PREFIX, OUTCOME_COVARIATES, TRASH_COLUMNS
from .fit import CHECKLIST, FittedModel, SurvivalFit, choose_best, fit_family, fit_survival, make_fitter
from .mapping import CRITERIA, FAMILIES, LEVELS, SurvivalMapping, mapping_fields
from .metrics import (CALIBRATION_MAX_ROWS, GRID_POINTS, calibration, concordance, expectation, information_criteria,
                      km_rmst, n_coefficients, rmst, survival_at)
from .trash import energy_provenance, match_device, trash_table, trash_unit

__all__ = [
    "SurvivalError", "SurvivalData", "prepare", "split", "trial_level", "DESIGN_COVARIATES", "DEVICE_TABLE_PREFIX",
    "OUTCOME_COVARIATES", "TRASH_COLUMNS", "CHECKLIST", "FittedModel", "SurvivalFit", "choose_best", "fit_family",
    "fit_survival", "make_fitter", "CRITERIA", "FAMILIES", "LEVELS", "SurvivalMapping", "mapping_fields",
    "CALIBRATION_MAX_ROWS", "GRID_POINTS", "calibration", "concordance", "expectation", "information_criteria",
    "km_rmst", "n_coefficients", "rmst", "survival_at", "match_device", "trash_table", "trash_unit",
    "energy_provenance", "ATTACK_FLOPS", "ATTACK_PASSES", "BACKWARD_PER_FORWARD", "DURATIONS", "has_duration",
    "resolve_duration", "with_attack_cost",
]
