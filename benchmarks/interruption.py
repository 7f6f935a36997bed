"""How a run is interrupted: the one preemption exception and the one test-interruption hook.

SLURM and LSF send SIGTERM / SIGUSR1 before the wall-time. Training checkpoints at the next step boundary and
raises :class:`benchmarks.training.Stopped`; the evaluation saves its state and raises
:class:`benchmarks.evaluation.EvaluationInterrupted`. Both are :class:`Preempted`, the one exception the run
lifecycle (``benchmarks.run``) handles: the record becomes ``preempted`` and the process exits 128 + the signal
number, as a shell reports a process ended by it, so the launcher requeues and the rerun resumes.

:class:`TestInterrupt` is the one hook the kill/resume tests use: ``POINT:N[:SIGNAL]`` sends SIGNAL (default
KILL) to this process the N-th time the code passes POINT. No torch here.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from typing import Callable, Optional

__all__ = ["Preempted", "TestInterrupt", "TEST_INTERRUPT_ENV", "preempted_exit_code"]

#: The test hook's environment variable (kill/resume tests only), ``POINT:N[:SIGNAL]``. Training points
#: (``benchmarks.run``): ``step``, ``checkpoint``, ``epoch_eval``, ``checkpoint_write`` (inside a checkpoint
#: write, before its rename) and ``finish`` (after training, before the record completes). Evaluation points
#: (``benchmarks.evaluation.autoattack``): an attack's name (``apgd-ce``, ``apgd-t``, ...) or ``clean``, with N
#: counting that attack's committed batches; the state is saved before the signal.
TEST_INTERRUPT_ENV = "ROBUSTPERF_TEST_INTERRUPT"


def preempted_exit_code(signum: int) -> int:
    """Exit code of a run that saved its state and stopped on ``signum``: 128 + signum (143, 138)."""
    return 128 + int(signum or signal.SIGTERM)


class Preempted(Exception):
    """Told to stop (SIGTERM / SIGUSR1) and stopped at a safe point with its state saved; a rerun resumes."""

    def __init__(self, signum: int, message: Optional[str] = None):
        self.signum = int(signum or signal.SIGTERM)
        self.exit_code = preempted_exit_code(self.signum)
        super().__init__(message or f"stopped by signal {self.signum} after saving its state")


class TestInterrupt:
    """``POINT:N[:SIGNAL]``: send SIGNAL (default KILL) to this process the N-th time :meth:`__call__` sees POINT.

    Args:
        spec: the hook's text (usually an environment variable's value); None or empty = never fires.
        env_name: the variable's name, for the error message of a malformed spec.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, spec: Optional[str], env_name: str = "hook"):
        self.point: Optional[str] = None
        self.count, self.sig, self.seen = 0, signal.SIGKILL, 0
        if spec:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or not parts[1].isdigit():
                raise ValueError(f"{env_name}={spec!r}: expected POINT:N[:SIGNAL]")
            self.point, self.count = parts[0], int(parts[1])
            if len(parts) > 2:
                self.sig = getattr(signal, "SIG" + parts[2].upper().removeprefix("SIG"))

    @classmethod
    def from_env(cls, name: str = TEST_INTERRUPT_ENV) -> "TestInterrupt":
        return cls(os.environ.get(name), name)

    def __call__(self, point: str, before: Optional[Callable[[], None]] = None) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.count:
            if before is not None:
                before()
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), self.sig)
            if self.sig != signal.SIGKILL:
                time.sleep(0.01)  # let the handler run before the next instruction
