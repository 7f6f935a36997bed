"""Olympic scoring of a result's runs, as MLPerf Training scores a benchmark (MLPerf Training rules, "Results":
of N runs that differ only in their seed, the fastest and the slowest are dropped and the others averaged) and as
the planning document asks, for time and for energy, money, CO2, FLOPs, epochs and accuracy alike.

* The runs are ordered by time to target; a run that missed the target counts as the slowest (MLPerf: "infinite
  time"), so the benchmark's ``max_missed`` misses are dropped with the slowest.
* A result has no score when it has fewer (or more) runs than the benchmark's ``repeats``, more misses than
  ``max_missed``, or a missed run among the runs left after dropping; :attr:`Score.reason` says which.
* Each scored figure is the mean over the scored runs, with its spread (min, max) over the same runs beside it.
  A figure that a scored run did not measure (``None``) has no mean.
* ``confirmed`` holds when the result is scored and every scored run's confirmation on the test set passed.

Pure functions over plain per-run figures (the keys of a record's ``to_target`` group, :data:`FIGURES`); the
benchmark's rules come in as a :class:`Rules`, read once (:meth:`Rules.of`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from recipes.benchmark import SCORING_DROPS

#: summary column of each scored figure -> the per-run figure it averages (a ``to_target`` key, or the
#: confirmation's accuracy), in the summary's column order
FIGURES: Mapping[str, str] = {
    "epochs_to_target": "epoch", "time_to_target_s": "seconds", "kwh_to_target": "kwh", "usd_to_target": "usd",
    "co2_kg_to_target": "co2_kg", "train_flops_to_target": "train_flops", "robust_accuracy": "robust_accuracy",
    "clean_accuracy": "clean_accuracy"}
#: the scored figures' columns, in order
SCORED: Tuple[str, ...] = tuple(FIGURES)


@dataclass(frozen=True)
class Rules:
    """A benchmark's scoring rules: ``repeats`` runs per result; ``drop`` the fastest and/or the slowest (by time to
    target); at most ``max_missed`` runs may miss the target.

    Raises:
        ValueError: a drop that is not ``fastest`` or ``slowest`` (or twice the same), or rules that drop every run.
    """

    repeats: int
    drop: Tuple[str, ...] = SCORING_DROPS
    max_missed: int = 0

    def __post_init__(self) -> None:
        if any(d not in SCORING_DROPS for d in self.drop) or len(set(self.drop)) != len(self.drop):
            raise ValueError(f"drop {self.drop!r}: expected distinct values of {SCORING_DROPS}")
        if self.repeats < 1 or self.repeats <= len(self.drop) or not 0 <= self.max_missed < self.repeats:
            raise ValueError(f"rules {self!r} leave no run to score")

    @classmethod
    def of(cls, benchmark: Any) -> "Rules":
        """The rules of a :class:`recipes.benchmark.Benchmark` (its ``repeats`` and ``scoring`` section)."""
        return cls(repeats=benchmark.repeats, drop=tuple(benchmark.drop), max_missed=benchmark.max_missed)


@dataclass(frozen=True)
class Score:
    """The score of a result's runs (:func:`score`)."""

    #: indices (into the runs given) of the runs averaged; empty when the result has no score
    scored: Tuple[int, ...] = ()
    #: indices of the runs dropped as the fastest or the slowest; empty when the result has no score
    dropped: Tuple[int, ...] = ()
    #: scored figure's column -> mean over the scored runs (None: no score, or a scored run lacks the figure)
    means: Dict[str, Optional[float]] = field(default_factory=dict)
    #: scored figure's column -> (min, max) over the scored runs, for the figures that have a mean
    spread: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    #: scored, and every scored run's confirmation passed
    confirmed: bool = False
    #: why the result has no score (None when it has one)
    reason: Optional[str] = None

    def row(self) -> Dict[str, Any]:
        """The summary row's scored part: ``scored_runs``, each figure with ``<figure>_min`` and ``<figure>_max``,
        and ``confirmed`` (None for what the result lacks)."""
        out: Dict[str, Any] = {"scored_runs": len(self.scored) if self.reason is None else None}
        for column in SCORED:
            lo, hi = self.spread.get(column, (None, None))
            out.update({column: self.means.get(column), f"{column}_min": lo, f"{column}_max": hi})
        out["confirmed"] = self.confirmed
        return out


def _time(run: Mapping[str, Any]) -> float:
    """A run's time to target; a missed run (or one that does not say) is infinitely slow, as in MLPerf."""
    seconds = run.get("seconds")
    return math.inf if run.get("reached") is not True or seconds is None else float(seconds)


def _order_key(run: Mapping[str, Any]) -> tuple:
    # ties in time are broken by the other figures, so that the order (and the score) never depends on the order
    # the runs were given in; runs equal in every figure are interchangeable
    rest = tuple((run.get(k) is None, run.get(k) or 0.0) for k in FIGURES.values())
    return (run.get("reached") is not True, _time(run), rest, run.get("confirmed") is True)


def order(runs: Sequence[Mapping[str, Any]]) -> List[int]:
    """Indices of ``runs`` from the fastest to the slowest by time to target, the missed runs last."""
    return sorted(range(len(runs)), key=lambda i: _order_key(runs[i]))


def mean(values: Sequence[float]) -> float:
    """The mean of ``values``, exactly rounded (fsum) and kept within their min and max (a rounded mean of equal
    values can otherwise land one ulp outside them)."""
    return min(max(math.fsum(values) / len(values), min(values)), max(values))


def score(runs: Sequence[Mapping[str, Any]], rules: Rules) -> Score:
    """Olympic score of a result's ``runs`` under ``rules``.

    Args:
        runs: per-run figures: ``reached`` (bool), ``seconds``, ``epoch``, ``kwh``, ``usd``, ``co2_kg``,
            ``train_flops``, ``robust_accuracy``, ``clean_accuracy`` (numbers, None where not measured) and
            ``confirmed`` (the run's confirmation passed).
        rules: the benchmark's rules (:meth:`Rules.of`).

    Returns:
        the :class:`Score`; with no score, its ``reason`` says why and every figure is None.
    """
    n = len(runs)
    if n != rules.repeats:
        return Score(reason=f"{n} run{'s' if n != 1 else ''}: the benchmark's rules ask for exactly "
                            f"{rules.repeats} (one per seed)")
    missed = sum(run.get("reached") is not True for run in runs)
    if missed > rules.max_missed:
        return Score(reason=f"{missed} of {n} runs missed the target: the benchmark's rules allow "
                            f"{rules.max_missed}")
    ranked = order(runs)
    lo = 1 if "fastest" in rules.drop else 0
    hi = n - 1 if "slowest" in rules.drop else n
    kept = ranked[lo:hi]
    if any(runs[i].get("reached") is not True for i in kept):
        return Score(reason="a run that missed the target is among the scored runs (only a dropped slowest run "
                            "may miss it)")
    means: Dict[str, Optional[float]] = {}
    spread: Dict[str, Tuple[float, float]] = {}
    for column, key in FIGURES.items():
        values = [runs[i].get(key) for i in kept]
        if all(v is not None for v in values):
            means[column] = mean(values)
            spread[column] = (min(values), max(values))
        else:
            means[column] = None
    return Score(scored=tuple(sorted(kept)), dropped=tuple(sorted(ranked[:lo] + ranked[hi:])), means=means,
                 spread=spread, confirmed=all(runs[i].get("confirmed") is True for i in kept))
