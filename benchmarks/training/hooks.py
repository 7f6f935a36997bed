"""The points where measurement, tracking, logging and tests plug into the training loop."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Dict, Optional, Tuple

import torch.nn as nn

__all__ = ["TrainHooks"]


class TrainHooks:
    """Points where measurement, tracking, logging and tests plug into the loop. The defaults do nothing.

    The run (:class:`benchmarks.run.hooks.RunHooks`) passes a subclass wired to the energy meter, the FLOPs
    counter, the tracker and the run's files.
    """

    def window(self, name: str) -> ContextManager:
        """Context around the ``train`` part and the ``eval`` part of each epoch (energy windows)."""
        return contextlib.nullcontext()

    def count_flops(self, model: nn.Module, step: Callable[[], Any]) -> Optional[int]:
        """Runs the first step of each step shape; must call ``step()`` once. Returns the forward FLOPs that
        ``model`` executed in it, or None when FLOPs are not counted."""
        step()
        return None

    def checkpoint(self, trainer, which: str, state: Dict[str, Any]) -> None:
        """Persist ``state`` (called on rank 0 only); ``which`` is ``last``, ``best`` or ``target``."""

    def epoch_end(self, trainer, metrics: Dict[str, Any]) -> None:
        """After the checkpoint of each epoch (rank 0 only): metrics files, tracker, log line."""

    def point(self, name: str) -> None:
        """Named places in the loop (``step``, ``epoch_eval``, ``checkpoint``); tests hook kills here."""

    def energy(self) -> Optional[Tuple[Optional[float], Optional[str]]]:
        """``(device joules so far, the meter's source)`` of the run's windows, or None when nothing meters."""
        return None

    def epoch_energy(self, history) -> Dict[str, Any]:
        """The just-finished epoch's training energy for its metrics row (``history``: the earlier rows); empty
        when nothing meters."""
        return {}

    def stop_requested(self) -> int:
        """A pending stop signal number, 0 when none."""
        return 0

    def state(self) -> Dict[str, Any]:
        """Hook-owned state saved in checkpoints (e.g. energy totals)."""
        return {}
