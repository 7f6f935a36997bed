"""The fake power source of the measurement tests: the one stand-in, because CI has no GPU meter.

Power per device follows ``watts(t)``; its energy counter is the exact integral, so the meter's window
bookkeeping and the sampler's trapezoid rule can be checked against closed forms. It is registered in-process as
the meter ``fake`` of the catalog (:func:`recipes.catalog.register`), as a plug-in package's meter would be.
"""
from __future__ import annotations

import math

from benchmarks.measurement import EnergyBackend
from recipes import catalog

NAME = "fake"


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class LinearPower(EnergyBackend):
    """``devices x (base + slope * (t - t0))`` watts; energy = its exact integral from opening."""

    name = NAME
    has_counter = True
    has_power = True

    def __init__(self, clock, devices: int = 1, base: float = 300.0, slope: float = 0.0):
        self.clock, self.devices, self.base, self.slope = clock, devices, base, slope
        self.t0 = clock()

    def power_w(self) -> float:
        return self.devices * (self.base + self.slope * (self.clock() - self.t0))

    def energy_j(self) -> float:
        dt = self.clock() - self.t0
        return self.devices * (self.base * dt + 0.5 * self.slope * dt * dt)


class SinePower(LinearPower):
    """``base + amp * sin(2 pi t / period)`` watts: curved, so the trapezoid rule is only approximate."""

    def __init__(self, clock, base=200.0, amp=100.0, period=0.4):
        super().__init__(clock, 1, base)
        self.amp, self.period = amp, period

    def power_w(self) -> float:
        return self.base + self.amp * math.sin(2 * math.pi * (self.clock() - self.t0) / self.period)

    def energy_j(self) -> float:
        dt = self.clock() - self.t0
        w = 2 * math.pi / self.period
        return self.base * dt + self.amp * (1 - math.cos(w * dt)) / w


def install(make):
    """Register ``make(devices, cfg, clock)`` as the ``fake`` meter; returns the remover."""
    catalog.register(catalog.MeterEntry(name=NAME, impl=make, doc="the tests' fake power source"), replace=True)
    return lambda: catalog.unregister("meters", NAME)
