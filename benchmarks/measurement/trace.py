"""Per-point survival data of one attack configuration: when each point first failed, or the budget it survived.

Each point is a subject (Meyers et al., "A Cost-Aware Approach to Adversarial Robustness in Neural Networks"):
the attacker's effort until the model misclassifies it is a time-to-failure, right-censored at the whole budget
when the attack never fools it. The evaluation's attacks fill a :class:`Trace` each
(:mod:`benchmarks.evaluation.survival`: PGD, minimal-eps FGM; :mod:`benchmarks.autoattack`: AutoAttack) and
the evaluation writes them to ``survival.parquet``.

The effort is kept in two clocks: ``seconds`` (wall time, amortised over the batch: it depends on the machine
and on what else runs on it) and the passes through the model (``forward_passes``, ``backward_passes``: counts
that do not; the survival analysis turns them into FLOPs with the run's measured forward FLOPs per sample).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["Trace"]


@dataclass
class Trace:
    """Per-point first-failure data of one attack configuration (lists, JSON-serialisable for resume state).

    ``event[i]``: point i failed within the budget; otherwise the other fields hold the budget it survived.
    ``backward_passes[i]``: backward passes to the input until then (NaN: not counted, e.g. a state written
    before they were).
    """

    config: str
    event: List[bool] = field(default_factory=list)
    attack: List[Optional[str]] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)
    iterations: List[int] = field(default_factory=list)
    forward_passes: List[float] = field(default_factory=list)
    backward_passes: List[float] = field(default_factory=list)
    eps: List[float] = field(default_factory=list)
    clean_correct: List[bool] = field(default_factory=list)

    def add(self, clean_ok: bool, event: bool, attack: Optional[str], seconds: float, iterations: int,
            forward_passes: float, eps: float, backward_passes: float = math.nan) -> None:
        """Append one point. A point misclassified without attack (``clean_ok`` false) fails at zero effort and
        is attributed to ``clean``."""
        self.clean_correct.append(bool(clean_ok))
        self.event.append(bool(event) or not clean_ok)
        self.attack.append(attack if clean_ok else "clean")
        self.seconds.append(float(seconds))
        self.iterations.append(int(iterations))
        self.forward_passes.append(float(forward_passes))
        self.backward_passes.append(float(backward_passes))
        self.eps.append(float(eps))

    def extend(self, other: "Trace") -> None:
        for name in ("event", "attack", "seconds", "iterations", "forward_passes", "backward_passes", "eps",
                     "clean_correct"):
            getattr(self, name).extend(getattr(other, name))

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Trace":
        data = dict(data)
        if "backward_passes" not in data:  # saved before backward passes were counted: unknown
            data["backward_passes"] = [math.nan] * len(data.get("event") or [])
        return cls(**data)

    def __len__(self) -> int:
        return len(self.event)
