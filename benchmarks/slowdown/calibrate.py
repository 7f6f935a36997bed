"""Exit-threshold calibration at a relative accuracy drop (RAD), on held-out validation data.

DeepSloth picks the confidence threshold that maximises efficacy while the early-exit accuracy stays within
RAD (5 % or 15 %) of the model's accuracy. Its code does it on the test set, against the final exit's accuracy,
with a loop that assumes monotonicity. Here: on a validation split carved from the training data, against the
best exit's validation accuracy, over the whole grid: the feasible threshold (accuracy >= (1 - RAD) x best) with
the highest efficacy, ties broken by higher accuracy. ``per_exit`` then improves one IC's threshold at a time
(coordinate ascent from the best global threshold, same objective and constraint). When no threshold is
feasible, the most accurate one is kept and ``feasible`` is False.

A calibration is *degenerate* when its thresholds make the network its first IC alone: the first IC's threshold
fires for any input (confidence 1/C, entropy log C: no input, attacked or not, can pass it), or at least
:data:`DEGENERATE_FIRST_EXIT` of the validation inputs leave at the first exit. That happens when the first IC is
already within the RAD of the best exit (a weak final exit, or data too easy for depth to matter); no attack can
then slow the network much, so a slowdown result measured on it says nothing of the attack or the defence.
``degenerate`` and ``first_exit_fraction`` go into the record, and the analysis keeps such runs out of its tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .exits import RULES, first_exits
from .metrics import efficacy, exit_fractions

__all__ = ["Calibration", "calibrate", "default_grid", "DEGENERATE_FIRST_EXIT"]

#: a calibration whose first exit takes at least this fraction of the validation inputs is degenerate
DEGENERATE_FIRST_EXIT = 0.99


@dataclass
class Calibration:
    rule: str
    rad: float
    taus: List[float]              # one per IC
    feasible: bool
    val_accuracy: float            # percent, early-exit accuracy on the validation data
    val_efficacy: float
    reference_accuracy: float      # percent, the best exit's validation accuracy
    reference_exit: int
    first_exit_fraction: float = 0.0  # validation inputs leaving at the first exit
    degenerate: Optional[str] = None  # why the thresholds reduce the network to its first IC, or None

    def as_dict(self) -> Dict[str, Any]:
        return {"rule": self.rule, "rad": self.rad, "taus": [_finite(t) for t in self.taus],
                "feasible": self.feasible, "val_accuracy": self.val_accuracy, "val_efficacy": self.val_efficacy,
                "reference_accuracy": self.reference_accuracy, "reference_exit": self.reference_exit,
                "first_exit_fraction": self.first_exit_fraction, "degenerate": self.degenerate is not None,
                "degenerate_reason": self.degenerate}


def _finite(t: float) -> Optional[float]:
    return float(t) if math.isfinite(t) else None   # null = this IC never exits


def default_grid(rule: str, num_classes: int, points: int = 200) -> List[float]:
    """Candidate thresholds: confidence in [1/C, 1], entropy in [0, log C], plus one that never fires."""
    if rule == "confidence":
        grid = list(np.linspace(1.0 / num_classes, 1.0, points)) + [math.inf]
    elif rule == "entropy":
        grid = list(np.linspace(0.0, math.log(num_classes), points)) + [-math.inf]
    else:
        raise ValueError(f"unknown exit rule {rule!r}; valid: {', '.join(RULES)}")
    return [float(t) for t in grid]


def _evaluate(scores, correct, cum_flops, rule, taus):
    idx = first_exits(scores, rule, taus)
    acc = 100.0 * float(correct.gather(0, idx.view(1, -1)).float().mean())
    eff = efficacy(exit_fractions(idx.numpy(), scores.shape[0]), cum_flops)
    return acc, eff


def _always_fires(rule: str, tau: float, num_classes: int) -> bool:
    """Whether an exit with threshold ``tau`` takes every input: max softmax >= 1/C and entropy <= log C always."""
    if rule == "confidence":
        return tau <= 1.0 / num_classes + 1e-12
    return tau >= math.log(num_classes) - 1e-12


def degenerate_reason(rule: str, taus: Sequence[float], first_fraction: float, num_classes: int) -> Optional[str]:
    """Why thresholds ``taus`` reduce the network to its first IC (see the module docstring), or None."""
    if taus and _always_fires(rule, taus[0], num_classes):
        bound = f"1/C = {1.0 / num_classes:.3g}" if rule == "confidence" else f"log C = {math.log(num_classes):.3g}"
        return f"the first exit's {rule} threshold {taus[0]:.3g} is {bound}: every input exits there"
    if first_fraction >= DEGENERATE_FIRST_EXIT:
        return (f"{100 * first_fraction:.1f} % of the validation inputs exit at the first exit (threshold "
                f"{taus[0]:.3g}): the first IC is within the RAD of the best exit")
    return None


def calibrate(scores: torch.Tensor, correct: torch.Tensor, cum_flops: Sequence[float], rule: str, rad: float, *,
              per_exit: bool = False, grid: Optional[Sequence[float]] = None, num_classes: int = 10,
              passes: int = 2) -> Calibration:
    """Thresholds maximising validation efficacy subject to accuracy >= (1 - rad) x the best exit's accuracy.

    Args:
        scores: ``(K, N)`` exit scores on the validation data (:func:`benchmarks.slowdown.exits.exit_score`).
        correct: ``(K, N)`` bool, each exit's prediction is right.
        cum_flops: cumulative FLOPs per exit.
        rule: ``confidence`` or ``entropy``.
        rad: relative accuracy drop allowed, a fraction (0.05 = RAD5%).
        per_exit: one threshold per IC (coordinate ascent) instead of one global threshold.
        grid: candidate thresholds; default :func:`default_grid`.
    """
    if not 0.0 <= rad < 1.0:
        raise ValueError(f"rad must be in [0, 1), got {rad}")
    k = scores.shape[0]
    grid = list(grid) if grid is not None else default_grid(rule, num_classes)
    exit_acc = 100.0 * correct.float().mean(dim=1)
    ref_exit = int(exit_acc.argmax())
    ref = float(exit_acc[ref_exit])
    target = (1.0 - rad) * ref

    def better(cand, best):
        (acc, eff), (bacc, beff) = cand, best
        ok, bok = acc >= target - 1e-9, bacc >= target - 1e-9
        if ok != bok:
            return ok
        if not ok:
            return acc > bacc
        return eff > beff + 1e-12 or (abs(eff - beff) <= 1e-12 and acc > bacc)

    best_taus, best = None, None
    for tau in grid:
        res = _evaluate(scores, correct, cum_flops, rule, tau)
        if best is None or better(res, best):
            best_taus, best = [tau] * (k - 1), res
    if per_exit:
        for _ in range(passes):
            changed = False
            for i in range(k - 1):
                for tau in grid:
                    if tau == best_taus[i]:
                        continue
                    cand_taus = list(best_taus)
                    cand_taus[i] = tau
                    res = _evaluate(scores, correct, cum_flops, rule, cand_taus)
                    if better(res, best):
                        best_taus, best, changed = cand_taus, res, True
            if not changed:
                break
    acc, eff = best
    taus = [float(t) for t in best_taus]
    first = float((first_exits(scores, rule, taus) == 0).float().mean())
    return Calibration(rule=rule, rad=float(rad), taus=taus, feasible=acc >= target - 1e-9, val_accuracy=acc,
                       val_efficacy=eff, reference_accuracy=ref, reference_exit=ref_exit, first_exit_fraction=first,
                       degenerate=degenerate_reason(rule, taus, first, num_classes))
