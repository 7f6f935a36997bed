"""Early-exit metrics: exit fractions, the early-exit capability (EEC) curve, efficacy, FLOPs, latency model.

Definitions of DeepSloth (Hong et al., ICLR 2021, section 3): with c_i the cumulative FLOPs up to and including
exit i (the heads of the earlier exits included) and c_K the whole multi-exit network, c^_i = c_i / c_K and
y_i = the fraction of samples that exited at exits 1..i, the EEC curve is the piecewise-linear curve through
(0, 0), (c^_1, y_1), ..., (c^_{K-1}, y_{K-1}), (1, 1), and efficacy is its area by the trapezoidal rule (as the
paper's ``np.trapz``). Everything exiting at exit 1 scores 1 - c^_1 / 2; nothing exiting early still scores
(1 - c^_{K-1}) / 2, not 0. The ``step`` variant, sum (c^_i - c^_{i-1}) y_{i-1}, is exactly 0 in that case
(and 1 - c^_1 when everything exits at exit 1).

Pure numpy: the analysis reads these too, without torch.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = ["EFFICACY_KINDS", "exit_fractions", "eec_curve", "efficacy", "mean_exit_flops", "edge_cloud_latency",
           "amplification", "summarize_exits"]

EFFICACY_KINDS = ("trapezoid", "step")


def exit_fractions(exit_index: Sequence[int], num_exits: int) -> np.ndarray:
    """Fraction of samples leaving at each exit (0-based indices), one value per exit, summing to 1."""
    idx = np.asarray(exit_index, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("no samples")
    if idx.min() < 0 or idx.max() >= num_exits:
        raise ValueError(f"exit indices must be in [0, {num_exits}), got {idx.min()}..{idx.max()}")
    return np.bincount(idx, minlength=num_exits).astype(np.float64) / idx.size


def _check(fractions: Sequence[float], cumulative_flops: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    f = np.asarray(fractions, dtype=np.float64)
    c = np.asarray(cumulative_flops, dtype=np.float64)
    if f.shape != c.shape or f.ndim != 1 or f.size < 1:
        raise ValueError(f"one fraction per exit and one cumulative FLOP count per exit: got {f.shape}, {c.shape}")
    if np.any(np.diff(c) < 0) or c[0] <= 0:
        raise ValueError("cumulative FLOPs must be positive and non-decreasing")
    return f, c


def eec_curve(fractions: Sequence[float], cumulative_flops: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """The EEC curve's points ``(x, y)``: x = (0, c^_1, ..., c^_{K-1}, 1), y = (0, y_1, ..., y_{K-1}, 1)."""
    f, c = _check(fractions, cumulative_flops)
    x = np.concatenate([[0.0], c / c[-1]])
    y = np.concatenate([[0.0], np.cumsum(f)])
    y[-1] = 1.0   # every sample exits by the end
    return x, np.minimum(y, 1.0)


def efficacy(fractions: Sequence[float], cumulative_flops: Sequence[float], kind: str = "trapezoid") -> float:
    """Area under the EEC curve: ``trapezoid`` (the paper's) or ``step`` (0 when nothing exits early)."""
    x, y = eec_curve(fractions, cumulative_flops)
    dx = np.diff(x)
    if kind == "trapezoid":
        return float(np.sum(dx * (y[1:] + y[:-1]) / 2.0))
    if kind == "step":
        return float(np.sum(dx * y[:-1]))
    raise ValueError(f"unknown efficacy kind {kind!r}; valid: {', '.join(EFFICACY_KINDS)}")


def mean_exit_flops(fractions: Sequence[float], cumulative_flops: Sequence[float]) -> float:
    """Mean inference FLOPs per sample when each sample stops at its exit: sum_i f_i c_i."""
    f, c = _check(fractions, cumulative_flops)
    return float(np.dot(f, c))


def edge_cloud_latency(p_send: float, rtt_ms: float, edge_ms: float = 0.0) -> float:
    """The paper's IoT partitioning model: a sample not exiting on the edge goes to the cloud and back.

    L = edge_ms + p_send x rtt_ms, with p_send the fraction of samples that do not exit at the edge's exits.
    """
    return float(edge_ms + p_send * rtt_ms)


def amplification(victim_extra: Optional[float], attacker_cost: Optional[float]) -> Optional[float]:
    """Victim's extra cost / attacker's crafting cost (compute amplification); None when either is unknown."""
    if victim_extra is None or attacker_cost is None or attacker_cost <= 0:
        return None
    return float(victim_extra) / float(attacker_cost)


def summarize_exits(exit_index: Sequence[int], correct: Sequence[bool], cumulative_flops: Sequence[float],
                    split_exit: int = 1, rtt_ms: float = 11.0) -> Dict[str, Any]:
    """The record's per-condition metrics from the exits and correctness of each sample.

    Returns:
        ``exit_fraction`` (list, sums to 1), ``efficacy`` (trapezoid), ``efficacy_step``, ``accuracy`` (percent),
        ``mean_flops`` (FLOPs per sample), ``p_send`` (fraction not exiting in the first ``split_exit`` exits),
        ``edge_cloud_latency_ms`` (p_send x rtt_ms), ``n``.
    """
    c = np.asarray(cumulative_flops, dtype=np.float64)
    f = exit_fractions(exit_index, c.size)
    p_send = float(1.0 - f[:split_exit].sum())
    correct = np.asarray(correct, dtype=bool).reshape(-1)
    return {"exit_fraction": [float(v) for v in f], "efficacy": efficacy(f, c), "efficacy_step": efficacy(f, c, "step"),
            "accuracy": 100.0 * float(correct.mean()), "mean_flops": mean_exit_flops(f, c), "p_send": p_send,
            "edge_cloud_latency_ms": edge_cloud_latency(p_send, rtt_ms), "n": int(correct.size)}
