"""What the AutoAttack adapter watches while the attacks run: the sanity warnings pyautoattack logs and the
test-interruption hook (``ROBUSTPERF_TEST_INTERRUPT``); the passes each batch spends are counted by
:class:`benchmarks.measurement.passes.PassCounter`."""
from __future__ import annotations

import logging
import os
from typing import Callable, Optional

import torch

from ..interruption import TEST_INTERRUPT_ENV, TestInterrupt

__all__ = ["WarningCollector", "fire", "interrupt_hook", "sync"]


def sync(device) -> None:
    """Wait for the device's queued work (CUDA), so wall times measure it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class WarningCollector(logging.Handler):
    """Collects pyautoattack's sanity warnings (logged at WARNING on the "auto-attack" logger)."""

    def __init__(self, sink: Callable[[str], None]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink(record.getMessage())


def interrupt_hook() -> Optional[TestInterrupt]:
    """The kill/resume tests' hook from the environment, or None when it is not set."""
    hook = TestInterrupt(os.environ.get(TEST_INTERRUPT_ENV), TEST_INTERRUPT_ENV)
    return hook if hook.point else None


def fire(hook: Optional[TestInterrupt], attack: str, batches: int, save: Optional[Callable[[], None]]) -> None:
    """Fire ``hook`` when ``attack`` (or ``clean``) has committed its ``hook.count``-th batch; ``save`` runs first."""
    # the hook counts the batches of ``attack`` itself; ``batches`` is the attack's own count (1, 2, ...)
    if hook is not None and hook.point == attack and batches == hook.count:
        hook.seen = hook.count - 1
        hook(attack, before=save)
