"""Overthinking and internal confusion of a multi-exit network (Kaya et al., ICML 2019, "Shallow-Deep Networks").

From every exit's prediction on every sample (no early exit: each exit sees each sample), with exits 1..K and K
the final one:

* **wasteful overthinking**: the sample is already classified correctly by an internal classifier (exit < K), so
  the layers after its earliest correct exit are computation spent for nothing. ``first_correct_fraction[i]`` is
  the fraction of samples whose *earliest* correct exit is i (the SDN code's "unique correct" per output);
  ``wasteful`` their sum over the internal classifiers;
* **destructive overthinking**: an internal classifier is right but the final exit is wrong (a correct answer
  turned into a mistake by thinking on). ``destructive_per_exit[i]`` = fraction of samples right at exit i and
  wrong at the final exit; ``destructive`` = fraction right at some IC and wrong at the final exit;
  ``destructive_of_errors`` = that as a share of the final exit's mistakes (the SDN paper's "50 % of
  misclassifications");
* **internal confusion** (the SDN paper's confusion score): C(x) = sum_i ||softmax(F_i(x)) - softmax(F_K(x))||_1,
  the L1 disagreement of every exit with the final one (the SDN code's ``get_confusion_scores``, p = 1; the final
  exit's own term is 0). ``confusion_per_exit[i]`` is the mean L1 disagreement of exit i, ``confusion`` the mean
  C(x), split by whether the final exit is right (``confusion_correct`` / ``confusion_wrong``); with the clean
  validation statistics (mean, std of C on held-out data, as the SDN code normalises) ``confusion_normalized`` is
  the mean of (C(x) - mean) / std.

Pure numpy (the analysis may read it without torch).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = ["confusion_scores", "confusion_stats", "overthinking"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _l1_to_final(logits: Any) -> np.ndarray:
    """``(K, N)``: L1 distance of each exit's softmax to the final exit's, per sample."""
    p = _softmax(np.asarray(logits, dtype=np.float64))
    if p.ndim != 3 or p.shape[0] < 1:
        raise ValueError(f"expected (exits, samples, classes) logits, got shape {p.shape}")
    return np.abs(p - p[-1:]).sum(axis=-1)


def confusion_scores(logits: Any) -> np.ndarray:
    """The SDN confusion score C(x) of each sample from ``(K, N, C)`` logits, shape ``(N,)``."""
    return _l1_to_final(logits).sum(axis=0)


def confusion_stats(logits: Any) -> Tuple[float, float]:
    """Mean and standard deviation of C(x) over ``logits`` (clean held-out data: the normalisation)."""
    c = confusion_scores(logits)
    return float(c.mean()), float(c.std())


def _mean(values: np.ndarray) -> Optional[float]:
    return float(values.mean()) if values.size else None


def overthinking(logits: Any, labels: Sequence[int],
                 normalize: Optional[Tuple[float, float]] = None) -> Dict[str, Any]:
    """Wasteful and destructive overthinking and internal confusion (module docstring) of ``(K, N, C)`` logits.

    Args:
        logits: every exit's logits on every sample (numpy or torch on the CPU).
        labels: the true labels, ``(N,)``.
        normalize: ``(mean, std)`` of clean validation confusion scores (:func:`confusion_stats`), or None.

    Returns:
        the record's ``overthinking`` entry: fractions of all samples unless named otherwise.
    """
    arr = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if arr.ndim != 3 or arr.shape[1] != y.size or y.size == 0:
        raise ValueError(f"logits (exits, samples, classes) {arr.shape} and {y.size} labels do not match")
    k, n = arr.shape[0], y.size
    correct = arr.argmax(axis=-1) == y[None, :]                    # (K, N)
    any_correct = correct.any(axis=0)
    first = np.where(any_correct, correct.argmax(axis=0), k)       # k = never correct
    first_fraction = np.bincount(first, minlength=k + 1)[:k] / n
    final_wrong = ~correct[-1]
    ic_right_final_wrong = correct[:-1] & final_wrong[None, :]     # (K-1, N)
    destructive = ic_right_final_wrong.any(axis=0)
    dist = _l1_to_final(arr)
    conf = dist.sum(axis=0)
    out = {
        "exit_accuracy": [100.0 * float(v) for v in correct.mean(axis=1)],
        "first_correct_fraction": [float(v) for v in first_fraction],
        "never_correct": float((~any_correct).mean()),
        "wasteful": float(first_fraction[:-1].sum()),
        "destructive_per_exit": [float(v) for v in ic_right_final_wrong.mean(axis=1)] + [0.0],
        "destructive": float(destructive.mean()),
        "destructive_of_errors": float(destructive[final_wrong].mean()) if final_wrong.any() else None,
        "confusion_per_exit": [float(v) for v in dist.mean(axis=1)],
        "confusion": float(conf.mean()),
        "confusion_correct": _mean(conf[~final_wrong]),
        "confusion_wrong": _mean(conf[final_wrong]),
        "confusion_normalized": None,
        "n": int(n),
    }
    if normalize is not None:
        mean, std = float(normalize[0]), float(normalize[1])
        out["confusion_normalized"] = float(((conf - mean) / std).mean()) if std > 0 else None
    return out
