"""The compute-optimal robust model: a joint law of error (or loss) in parameters N and samples seen D.

``L(N, D) = E + A / N**a + B / D**b`` is fitted by the method of Hoffmann et al. 2022, "Training
Compute-Optimal Large Language Models" (arXiv:2203.15556, Chinchilla, approach 3, their appendix D.2): minimise the
Huber loss (delta 1e-3) of ``LSE(e, log A - a log N, log B - b log D) - log L`` (``e = log E``, LSE the log of a
sum of exponentials), by L-BFGS from every point of a grid of starts, keeping the best. Intervals come from a
bootstrap that resamples rows (each resample refitted from the full fit's optimum and a few grid starts).

The compute of a candidate (N, D) is ``C = k * N * D``, with ``k`` (FLOPs per parameter per sample seen) fitted on
the table's FLOPs column as the geometric mean of ``C / (N D)`` (least squares in log space): the suite's FLOPs
count the attack's forward and backward passes, so ``k`` exceeds the 6 of standard training for adversarial
training. Under a budget C the law's best allocation has a closed form (Hoffmann et al., eq. 4):
``N* = G (C/k)**(b/(a+b))``, ``D* = (C/k)**(a/(a+b)) / G``, ``G = (a A / (b B))**(1/(a+b))``.

Pure computation (numpy, scipy); the analysis section is :mod:`scaling.sections.allocation`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import minimize

from .errors import ConvergenceError, InsufficientDataError, ScalingError

#: Huber delta of Hoffmann et al. 2022 (on the log error)
HUBER_DELTA = 1e-3
#: parameter names in the fitted vector theta = (e, log A, log B, a, b)
NAMES = ("E", "A", "B", "a", "b")
#: exponents of the grid of starts (Hoffmann et al. use 0, 0.5, ..., 2; a 0 start sits on the bound)
GRID_EXPONENTS = (0.15, 0.4, 0.9)
#: offsets (natural log) of e, log A and log B around the data-driven centre of the grid
GRID_OFFSETS = (-1.5, 1.0)
CI = 0.95


def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> Tuple[np.ndarray, np.ndarray]:
    """Huber loss of residuals ``r`` and its derivative."""
    a = np.abs(r)
    quad = a <= delta
    return np.where(quad, 0.5 * r * r, delta * (a - 0.5 * delta)), np.clip(r, -delta, delta)


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float):
    """Huber objective and its gradient in ``theta``, scaled by ``1 / (rows * delta)`` (same optimum; keeps
    L-BFGS's tolerances meaningful for a tiny delta). LSE and its softmax weights are computed by hand (scipy's
    logsumexp is several times slower on three terms)."""
    e, la, lb, a, b = theta
    t1 = la - a * log_n
    t2 = lb - b * log_d
    m = np.maximum(np.maximum(t1, t2), e)
    w0, w1, w2 = np.exp(e - m), np.exp(t1 - m), np.exp(t2 - m)
    s = w0 + w1 + w2
    r = m + np.log(s) - log_l
    loss, dloss = huber(r, delta)
    scale = 1.0 / (r.size * delta)
    g = dloss / s * scale
    g1, g2 = g * w1, g * w2
    grad = np.array([(g * w0).sum(), g1.sum(), g2.sum(), -(g1 @ log_n), -(g2 @ log_d)])
    return float(loss.sum() * scale), grad


def predict(theta: Sequence[float], n, d) -> np.ndarray:
    """``E + A/N**a + B/D**b`` for ``theta = (e, log A, log B, a, b)``."""
    e, la, lb, a, b = theta
    return np.exp(e) + np.exp(la - a * np.log(n)) + np.exp(lb - b * np.log(d))


def _grid_starts(log_n, log_d, log_l) -> List[np.ndarray]:
    """Starts around the data's scale: e near the smallest loss, A/N**a and B/D**b near the typical loss."""
    e0 = float(np.min(log_l)) - 0.5
    centre = float(np.median(log_l))
    mn, md = float(np.median(log_n)), float(np.median(log_d))
    starts = []
    for a, b, oe, oa, ob in itertools.product(GRID_EXPONENTS, GRID_EXPONENTS, GRID_OFFSETS, GRID_OFFSETS,
                                              GRID_OFFSETS):
        starts.append(np.array([e0 + oe, centre + oa + a * mn, centre + ob + b * md, a, b]))
    return starts


_BOUNDS = [(-30.0, 30.0), (-200.0, 200.0), (-200.0, 200.0), (0.0, 5.0), (0.0, 5.0)]


def _fit_from(starts, log_n, log_d, log_l, delta) -> Optional[Tuple[float, np.ndarray]]:
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    # one BLAS thread: L-BFGS-B's tiny 5-parameter steps go through BLAS, and threads spinning on them cost
    # twenty times the work on a shared machine
    with threadpool_limits(limits=1):
        return _fit_each(starts, log_n, log_d, log_l, delta)


def _fit_each(starts, log_n, log_d, log_l, delta) -> Optional[Tuple[float, np.ndarray]]:
    best = None
    for start in starts:
        res = minimize(_objective, start, args=(log_n, log_d, log_l, delta), jac=True, method="L-BFGS-B",
                       bounds=_BOUNDS, options={"maxiter": 500})
        if np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and (best is None or res.fun < best[0]):
            best = (float(res.fun), res.x)
    return best


def _check(n, d, target, what: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d, target = (np.asarray(v, dtype=float).ravel() for v in (n, d, target))
    if not n.size == d.size == target.size:
        raise ValueError("N, D and the target differ in length")
    for values, name in ((n, "parameters N"), (d, "samples seen D"), (target, what)):
        if np.any(~np.isfinite(values)) or np.any(values <= 0):
            raise ScalingError(f"joint law: {name} must be positive and finite; {int(np.sum(~(values > 0)))} "
                               f"values are not (drop those rows first)")
    if n.size < 8:
        raise InsufficientDataError("joint law L(N, D)", 8, int(n.size))
    if np.unique(n).size < 2 or np.unique(d).size < 2:
        raise InsufficientDataError("joint law L(N, D)", 2, 1, "N and D must each take at least two values")
    return n, d, target


@dataclass
class JointLaw:
    """``L(N, D) = E + A/N**a + B/D**b`` fitted by Hoffmann et al. 2022's approach 3, with bootstrap intervals.

    Attributes (after :meth:`fit`): ``theta_`` (e, log A, log B, a, b), ``params_`` (E, A, B, a, b), ``boot_``
    (an array of bootstrap thetas, one row per converged resample), ``rows_`` (the bootstrap row indices, for
    statistics computed on the same resamples, such as ``k``), ``n_`` rows, ``loss_`` the Huber objective.
    """

    n_boot: int = 200
    seed: int = 0
    delta: float = HUBER_DELTA
    boot_starts: int = 1
    theta_: np.ndarray = field(default=None, repr=False)

    def fit(self, n, d, target, what: str = "error") -> "JointLaw":
        n, d, target = _check(n, d, target, what)
        log_n, log_d, log_l = np.log(n), np.log(d), np.log(target)
        starts = _grid_starts(log_n, log_d, log_l)
        best = _fit_from(starts, log_n, log_d, log_l, self.delta)
        if best is None:
            raise ConvergenceError("joint law L(N, D)", "no start of the grid converged")
        self.loss_, self.theta_ = best
        self.n_ = int(n.size)
        rng = np.random.default_rng(self.seed)
        # warm starts for the resamples: the optimum and the best few grid points on the full data
        scored = sorted(starts, key=lambda s: _objective(s, log_n, log_d, log_l, self.delta)[0])
        boot_starts = [self.theta_] + scored[:max(0, self.boot_starts - 1)]
        thetas, rows = [], []
        for _ in range(self.n_boot):
            idx = rng.integers(0, n.size, n.size)
            if np.unique(n[idx]).size < 2 or np.unique(d[idx]).size < 2:
                continue
            got = _fit_from(boot_starts, log_n[idx], log_d[idx], log_l[idx], self.delta)
            if got is not None:
                thetas.append(got[1])
                rows.append(idx)
        self.boot_ = np.array(thetas).reshape(-1, 5)
        self.rows_ = rows
        return self

    @property
    def params_(self) -> Dict[str, float]:
        return _params(self.theta_)

    def predict(self, n, d) -> np.ndarray:
        return predict(self.theta_, n, d)

    def params_ci(self, ci: float = CI) -> Dict[str, Tuple[float, float]]:
        if self.boot_.shape[0] == 0:
            return {k: (float("nan"), float("nan")) for k in NAMES}
        values = np.array([[_params(t)[k] for k in NAMES] for t in self.boot_])
        return {k: percentile_ci(values[:, i], ci) for i, k in enumerate(NAMES)}


def _params(theta) -> Dict[str, float]:
    e, la, lb, a, b = (float(v) for v in theta)
    return {"E": float(np.exp(e)), "A": float(np.exp(la)), "B": float(np.exp(lb)), "a": a, "b": b}


def percentile_ci(values, ci: float = CI) -> Tuple[float, float]:
    """Percentile interval of the finite ``values`` (NaN, NaN when none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [50 * (1 - ci), 50 * (1 + ci)])
    return float(lo), float(hi)


def flops_coefficient(flops, n, d) -> float:
    """``k`` with ``C = k N D``: the geometric mean of ``C / (N D)`` over the rows (least squares in log space)."""
    flops, n, d = (np.asarray(v, dtype=float) for v in (flops, n, d))
    return float(np.exp(np.mean(np.log(flops) - np.log(n) - np.log(d))))


def optimal_allocation(theta, budget: float, k: float) -> Tuple[float, float, float]:
    """(N*, D*, L(N*, D*)) minimising the law under ``k N D = budget`` (Hoffmann et al. 2022, eq. 4)."""
    e, la, lb, a, b = (float(v) for v in theta)
    if a <= 0 or b <= 0:  # a law flat in N or D has no finite optimum: all compute goes to the other axis
        return float("nan"), float("nan"), float("nan")
    s = budget / k
    log_g = (np.log(a) + la - np.log(b) - lb) / (a + b)
    log_n = log_g + np.log(s) * b / (a + b)
    log_d = np.log(s) - log_n
    n, d = float(np.exp(log_n)), float(np.exp(log_d))
    return n, d, float(predict(theta, n, d))


def allocate(law: JointLaw, flops, n, d, budgets: Sequence[float], ci: float = CI) -> Dict[str, object]:
    """``k`` (with its interval, from the law's bootstrap resamples) and, per budget, the best N, D and error."""
    flops, n, d = (np.asarray(v, dtype=float) for v in (flops, n, d))
    k = flops_coefficient(flops, n, d)
    ks = np.array([flops_coefficient(flops[i], n[i], d[i]) for i in law.rows_])
    out = []
    for budget in budgets:
        best = optimal_allocation(law.theta_, budget, k)
        boot = np.array([optimal_allocation(t, budget, kb) for t, kb in zip(law.boot_, ks)]).reshape(-1, 3)
        entry = {"flops": float(budget)}
        for j, key in enumerate(("params", "samples", "error")):
            entry[key] = best[j]
            entry[f"{key}_ci"] = list(percentile_ci(boot[:, j], ci))
        out.append(entry)
    log_ratio = np.log(flops) - np.log(n) - np.log(d)
    return {"k": k, "k_ci": list(percentile_ci(ks, ci)), "k_log_sd": float(np.std(log_ratio)), "budgets": out}


__all__ = ["HUBER_DELTA", "JointLaw", "allocate", "flops_coefficient", "huber", "optimal_allocation",
           "percentile_ci", "predict"]
