"""The resumable state of an AutoAttack evaluation: one small JSON file per run and checkpoint.

It extends the idea of pyautoattack's ``state.py`` (``EvaluationState``: the robust flags after each attack)
with progress *inside* an attack, at batch granularity, and writes it atomically (``results.atomic_write``).
Upstream's own state restore cannot be used: it writes non-atomically, forgets the perturbations found before
the restart and fails on resume (``y_adv`` is unbound in pyautoattack 0.2.0's ``run_standard_evaluation``).

Every attack re-seeds torch at the start of each ``perturb`` call, so a batch's result depends only on the seed
and the batch: replaying the remaining batches after a restart gives the uninterrupted answer exactly.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import torch

from recipes.files import open_regular
from results import atomic_write_bytes

STATE_FORMAT = 1


def flags_to_text(flags: torch.Tensor) -> str:
    """A bool vector as a compact '0'/'1' string (10 KB for the 10,000 RobustBench points)."""
    return bytes(flags.to(torch.uint8).add_(48).cpu().numpy()).decode("ascii")


def flags_from_text(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(text.encode("ascii")), dtype=torch.uint8).sub(48).bool()


@dataclass
class AttackProgress:
    """The attack under way: which points it attacks (robust when it started) and how many batches are done."""

    name: str
    start_flags: str
    batches_done: int = 0


@dataclass
class AutoAttackState:
    """Everything needed to continue an AutoAttack evaluation where it stopped.

    Attributes:
        fingerprint: what the evaluation depends on (model and data hashes, attacks, eps, norm, seed, n, batch
            size); a state with another fingerprint is stale and is discarded.
        clean_flags / robust_flags: '0'/'1' per point; robust flags are the pointwise worst case so far.
        done: finished attacks in order, each ``{"name", "accuracy"}`` (a fraction, as upstream logs it).
        current: the attack under way, or None.
        max_perturbation: largest norm of a successful adversarial example found so far.
        warnings: sanity warnings logged so far (pyautoattack's checks), in order, without duplicates.
        seconds / energy_j: wall time and energy of the attack window, summed over sessions (energy None when
            unmeasured in any session).
        sessions: how many processes have worked on it; finished: all attacks done.
        point_seconds / point_forwards / point_backwards / broken_by: per point, the attack time (amortised over
            its batch), the forward and backward passes through the model spent on it so far (counted by hooks,
            amortised over the batch), across the attacks, and the attack that first fooled it (None while
            robust): the survival data (``benchmarks.evaluation.survival``). A backward count is None where a
            state written before they were counted was resumed mid-way (unknown).
        point_loss: per point, the cross-entropy of its current final example (the clean input, replaced by the
            adversarial example of the attack that fools it), from the logits the loop computes anyway; None in a
            state written before it was kept (the loss is then unknown).
    """

    fingerprint: Dict[str, Any]
    clean_flags: Optional[str] = None
    robust_flags: Optional[str] = None
    done: List[Dict[str, Any]] = field(default_factory=list)
    current: Optional[AttackProgress] = None
    max_perturbation: float = 0.0
    warnings: List[str] = field(default_factory=list)
    seconds: float = 0.0
    energy_j: Optional[float] = 0.0
    sessions: int = 0
    finished: bool = False
    format: int = STATE_FORMAT
    point_seconds: Optional[List[float]] = None
    point_forwards: Optional[List[float]] = None
    point_backwards: Optional[List[Optional[float]]] = None
    broken_by: Optional[List[Optional[str]]] = None
    point_loss: Optional[List[float]] = None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")

    def save(self, path: str) -> None:
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str, fingerprint: Dict[str, Any]) -> Optional["AutoAttackState"]:
        """The state at ``path`` if it exists, is readable and matches ``fingerprint``; None otherwise."""
        if not os.path.exists(path):
            return None
        try:  # a FIFO or device is no saved state: start over (recipes/files.py)
            with open_regular(path, "AutoAttack state", error=lambda reason: ValueError(reason)) as fh:
                data = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return None  # atomic writes make this unlikely; a broken state only costs a restart
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or data.get("fingerprint") != fingerprint:
            return None
        current = data.pop("current", None)
        state = cls(**data)
        state.current = AttackProgress(**current) if current else None
        return state

    def add_warning(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
