"""How a run is interrupted: the one preemption exception, the evaluation's signal guard and the one
test-interruption hook.

SLURM and LSF send SIGTERM / SIGUSR1 before the wall-time. Training checkpoints at the next step boundary and
raises :class:`benchmarks.training.Stopped`; the evaluation (and AutoAttack) saves its state and raises
:class:`EvaluationInterrupted`. Both are :class:`Preempted`, the one exception the run lifecycle
(``benchmarks.run``) handles: the record becomes ``preempted`` and the process exits 128 + the signal number, as a
shell reports a process ended by it, so the launcher requeues and the rerun resumes.

:class:`SignalGuard` turns the signals into :class:`EvaluationInterrupted` at once, so a long attack batch is
abandoned rather than finished past the wall-time; inside :meth:`SignalGuard.critical` (updating and writing a
state) a signal is only noted and raised when the section ends, so a state is never half-updated.

:class:`TestInterrupt` is the one hook the kill/resume tests use: ``POINT:N[:SIGNAL]`` sends SIGNAL (default
KILL) to this process the N-th time the code passes POINT. No torch here.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Callable, Iterator, Optional

__all__ = ["EvaluationInterrupted", "Preempted", "SIGNALS", "SignalGuard", "TestInterrupt", "TEST_INTERRUPT_ENV",
           "preempted_exit_code"]

#: The signals a scheduler sends before the wall-time.
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

#: The test hook's environment variable (kill/resume tests only), ``POINT:N[:SIGNAL]``. Training points
#: (``benchmarks.run``): ``step``, ``checkpoint``, ``epoch_eval``, ``checkpoint_write`` (inside a checkpoint
#: write, before its rename) and ``finish`` (after training, before the record completes). Evaluation points
#: (``benchmarks.autoattack``): an attack's name (``apgd-ce``, ``apgd-t``, ...) or ``clean``, with N
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


class EvaluationInterrupted(Preempted):
    """The evaluation was told to stop; its state is saved and a rerun continues it.

    ``exit_code`` is 128 + the signal number, as a shell reports a process ended by that signal.
    """

    def __init__(self, signum: int, state_path: Optional[str] = None):
        self.state_path = state_path
        where = f"; state saved in {state_path}" if state_path else ""
        super().__init__(signum, f"evaluation interrupted by {signal.Signals(signum).name}{where}; rerun to "
                                 "continue")


class SignalGuard:
    """Context manager installing the handlers (main thread only; elsewhere it does nothing)."""

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self._previous = {}
        self._depth = 0
        self.pending: Optional[int] = None

    def __enter__(self) -> "SignalGuard":
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        self.pending = signum
        if self._depth == 0:
            raise EvaluationInterrupted(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A section the signal must not cut in two; a signal received inside is raised at its end."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.pending is not None:
            raise EvaluationInterrupted(self.pending)
