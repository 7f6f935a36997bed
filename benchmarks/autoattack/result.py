"""What an AutoAttack evaluation returns: :class:`AutoAttackResult`, and the confidence interval of its accuracy.

Robust accuracy is the pointwise worst case over the attacks (a point counts as robust only if no attack
fooled the model on it). Its 95 % confidence interval is the Wilson score interval
(``statsmodels.stats.proportion.proportion_confint(method="wilson")``), which keeps its coverage near 0 % and
100 % accuracy where the normal approximation does not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch

__all__ = ["CI_METHOD", "AutoAttackResult", "PerturbationError", "wilson_interval"]

CI_METHOD = "wilson"


class PerturbationError(RuntimeError):
    """An attack returned a point outside the eps-ball: the reported robustness would be wrong."""


@dataclass
class AutoAttackResult:
    """Outcome of an AutoAttack evaluation. Accuracies are fractions in [0, 1].

    Attributes:
        n: points evaluated (the first n of the test set).
        clean_accuracy / robust_accuracy: on those n points; robust is the pointwise worst case.
        robust_count: points no attack fooled.
        ci: 95 % Wilson interval of the robust accuracy.
        per_attack: accuracy after the clean pass and after each attack, in order.
        max_perturbation: largest norm (the recipe's) of a successful adversarial example; 0 if none.
        warnings: pyautoattack's sanity warnings and the adapter's own.
        seconds / energy_j: wall time and energy of the attack, summed over sessions; energy None if unmeasured.
        version / attacks: what ran.  sessions: processes that worked on it (1 when never interrupted).
        fresh_work: this call attacked (False when it only read a finished state).
        robust_flags: per point, True when no attack fooled the model.
        trace: per-point survival data (:class:`benchmarks.measurement.trace.Trace`, config
            ``autoattack-<version>``): the cumulative attack time and model evaluations until the attack that
            first fooled the point, or over all attacks (censored).
        loss: mean cross-entropy of the final examples (the adversarial example where an attack fooled the model,
            the clean point elsewhere: the examples ``run_standard_evaluation`` returns); None when unknown (a
            state saved before the loss was kept).
        examples: with ``run(keep_examples=True)``, the adversarial example of each point that an attack fooled
            the model on and the clean point elsewhere (what ``run_standard_evaluation`` returns); else None.
    """

    n: int
    clean_accuracy: float
    robust_accuracy: float
    robust_count: int
    ci: Tuple[float, float]
    per_attack: Dict[str, float]
    max_perturbation: float
    warnings: List[str]
    seconds: float
    energy_j: Optional[float]
    version: str
    attacks: List[str]
    sessions: int
    fresh_work: bool
    robust_flags: torch.Tensor = field(repr=False)
    trace: Any = field(default=None, repr=False)
    examples: Optional[torch.Tensor] = field(default=None, repr=False)
    loss: Optional[float] = None


def wilson_interval(count: int, n: int, alpha: float = 0.05) -> Tuple[float, float]:
    """Two-sided ``1 - alpha`` Wilson score interval of ``count / n``, as fractions."""
    # statsmodels deferred: it takes ~2 s to import and only this interval needs it
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(count, n, alpha=alpha, method=CI_METHOD)
    return float(lo), float(hi)
