"""SIGTERM / SIGUSR1 during a run: remembered instead of dying, so training stops at the next step boundary."""
from __future__ import annotations

import signal
import sys
from typing import Any, Dict

__all__ = ["STOP_SIGNALS", "StopFlag"]

#: what SLURM and LSF send before the wall-time
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopFlag:
    """Remembers SIGTERM / SIGUSR1 instead of dying; training checks it at step boundaries (``signum``)."""

    def __init__(self):
        self.signum = 0
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> "StopFlag":
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if not self.signum:
            print(f"robustperf run: received signal {signum}; checkpointing at the next safe point",
                  file=sys.stderr, flush=True)
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
