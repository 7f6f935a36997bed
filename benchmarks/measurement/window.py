"""Time (and, with an energy meter, energy) of a named window, with or without a meter.

The evaluation, AutoAttack, the inference scenarios and the slowdown study time their phases with
:func:`measure`: with a meter (:class:`benchmarks.measurement.EnergyMeter`, whose ``window(name)`` yields a Window
carrying ``seconds`` and ``energy_j`` once closed) both are measured; without one only wall time is, and energy
is None.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

__all__ = ["Span", "add_energy", "measure"]


@dataclass
class Span:
    """What :func:`measure` measured: wall seconds and joules (None: unmeasured)."""

    seconds: float = 0.0
    energy_j: Optional[float] = None


@contextlib.contextmanager
def measure(meter: Any, name: str) -> Iterator[Span]:
    """Measure the body; the Span is filled in when the body ends (normally or by an exception)."""
    span = Span()
    window = None
    start = time.perf_counter()
    try:
        if meter is None:
            yield span
        else:
            with meter.window(name) as window:
                yield span
    finally:
        span.seconds = time.perf_counter() - start
        if window is not None:
            seconds = getattr(window, "seconds", None)
            span.seconds = float(seconds) if seconds is not None else span.seconds
            energy = getattr(window, "energy_j", None)
            span.energy_j = float(energy) if energy is not None else None


def add_energy(total: Optional[float], more: Optional[float]) -> Optional[float]:
    """Sum energies where None (unmeasured) is contagious: a partly unmeasured total is unknown."""
    return None if total is None or more is None else total + more
