"""How training ends other than by finishing: divergence, a stop signal, a checkpoint it cannot resume from."""
from __future__ import annotations

from recipes.errors import UserError

from ..interruption import Preempted

__all__ = ["Diverged", "ResumeError", "Stopped"]


class ResumeError(UserError):
    """A checkpoint that this run cannot continue from (another world size or batch size)."""


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class Stopped(Preempted):
    """Training stopped at a safe point after a checkpoint (SIGTERM / SIGUSR1); the run resumes later."""

    def __init__(self, signum: int):
        super().__init__(signum, f"stopped by signal {signum} after a checkpoint")
