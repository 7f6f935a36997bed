"""Turn SIGTERM / SIGUSR1 (a scheduler's "wall-time is near" signals) into an exception at a safe point.

The handler raises :class:`EvaluationInterrupted` at once, so a long attack batch is abandoned rather than
finished past the wall-time; the caller then saves the last committed state. Inside :meth:`SignalGuard.critical`
(updating and writing the state) the signal is only noted and raised when the section ends, so a state is never
half-updated.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Optional

from ..interruption import Preempted

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


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
