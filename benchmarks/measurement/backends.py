"""Energy backends: each reads a cumulative energy counter and/or instantaneous power.

A backend is opened by a factory ``factory(devices, measurement_cfg, clock) -> EnergyBackend``, which raises
:class:`BackendUnavailable` (with the reason) when its meter cannot be read on this host. The hardware meters are
the ``meters`` plug-ins of :mod:`recipes.catalog` (the built-ins are declared in :mod:`.catalog`: ``zeus``, the
ML.ENERGY library reading GPUs, CPU packages and DRAM, in :mod:`.zeus_meter`; ``nvidia-smi``, polled power, in
:mod:`.nvidia`); the meter (:mod:`.energy`) opens one by name or, for ``energy_source: auto``, tries
:func:`auto_order` in turn, then the meter's own :data:`FALLBACKS` (a labelled TDP estimate when ``tdp_watts``
is set, else ``unavailable``). The name ends up in the record's ``energy.source``. A backend splits its joules
by device kind (``gpu``, ``cpu``, ``dram``: :meth:`EnergyBackend.kinds_j`). Tests replace the counters Zeus reads
at Zeus's own boundary (a powercap tree, a ``zeus.device`` GPU object) and add a fake power source to the
catalog for the window arithmetic.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from recipes import catalog
from recipes.errors import UserError

__all__ = ["ESTIMATE_TDP", "FALLBACKS", "NVIDIA_SMI", "UNAVAILABLE", "ZEUS", "BackendFactory",
           "BackendUnavailable", "EnergyBackend", "EnergyUnavailable", "TdpEstimate", "UnavailableBackend",
           "auto_order", "get_energy_backend", "list_energy_backends", "open_tdp_estimate", "open_unavailable",
           "register_energy_backend", "unregister_energy_backend"]

#: Names of the built-in backends, as written to ``energy.source``.
ZEUS = "zeus"
NVIDIA_SMI = "nvidia-smi"
ESTIMATE_TDP = "estimate-tdp"
UNAVAILABLE = "unavailable"


def auto_order(devices: str) -> Tuple[str, ...]:
    """The meters ``energy_source: auto`` tries for ``devices`` (``gpu`` or ``cpu``), first readable wins: the
    catalog's meters of those devices (an entry's ``devices`` may list several, ``gpu,cpu,dram``) by their
    ``auto`` rank; ``estimate-tdp`` follows only when ``tdp_watts`` is set."""
    ranked = [(e.auto, e.name) for e in catalog.entries("meters").values()
              if devices in e.devices.split(",") and e.auto is not None]
    return tuple(name for _, name in sorted(ranked))


class BackendUnavailable(Exception):
    """This backend cannot measure on this host; ``str(err)`` says why."""


class EnergyUnavailable(UserError):
    """The recipe forces an energy backend (``measurement.energy_source``) that cannot measure here."""


class EnergyBackend:
    """One open meter over a fixed set of devices.

    Attributes:
        name: the value written to ``energy.source``.
        devices: how many devices (GPUs, or CPU packages) the readings cover.
        has_counter: :meth:`energy_j` reads a cumulative counter (else energy comes from the power sampler).
        has_power: :meth:`power_w` reads instantaneous power for the background sampler.
        needs_polling: :meth:`poll` must run every sampler tick (counters that wrap around).
        kind: the device kind of a one-kind backend (``gpu``, ``cpu`` or ``dram``).
        measured: device kind -> the devices read (names); empty when the backend does not say.
        readings: device kind -> how that kind was read (source and version).
        why_not: device kind -> why this backend could not read it (e.g. RAPL root-only on a GPU run).
    """

    name: str = UNAVAILABLE
    devices: int = 0
    has_counter: bool = False
    has_power: bool = False
    needs_polling: bool = False
    kind: str = "gpu"
    measured: Dict[str, List[str]] = {}
    readings: Dict[str, str] = {}
    why_not: Dict[str, str] = {}

    def energy_j(self) -> float:
        """Joules used by the devices since the backend opened (monotone), summed over devices."""
        raise NotImplementedError

    def kinds_j(self) -> Dict[str, float]:
        """:meth:`energy_j` split by device kind (read only when ``has_counter``)."""
        return {self.kind: self.energy_j()}

    @property
    def power_kind(self) -> Optional[str]:
        """The device kind whose energy is the sampler's power integral (no counter for it), else None."""
        return None if self.has_counter or not self.has_power else self.kind

    def power_w(self) -> float:
        """Total instantaneous power of the devices, watts."""
        raise NotImplementedError

    def poll(self) -> None:
        """Called every sampler tick when ``needs_polling``."""

    def close(self) -> None:
        """Release the meter."""


class UnavailableBackend(EnergyBackend):
    """No readable meter: energy stays null (unknown), never 0."""

    name = UNAVAILABLE


class TdpEstimate(EnergyBackend):
    """``tdp_watts x devices x seconds``: an estimate, labelled ``estimate-tdp``, only when the recipe asks."""

    name = ESTIMATE_TDP
    has_counter = True

    def __init__(self, tdp_watts: float, devices: int, clock: Callable[[], float], kind: str = "gpu"):
        self.watts = float(tdp_watts) * devices
        self.devices = devices
        self.kind = kind
        self._clock = clock
        self._t0 = clock()

    def energy_j(self) -> float:
        return self.watts * (self._clock() - self._t0)


def open_tdp_estimate(devices, cfg, clock) -> TdpEstimate:
    """The ``estimate-tdp`` fallback: ``measurement.tdp_watts`` per device (unavailable when it is not set)."""
    tdp = getattr(cfg, "tdp_watts", None)
    if tdp is None:
        raise BackendUnavailable("measurement.tdp_watts is not set")
    kind = "gpu" if devices else "cpu"
    return TdpEstimate(tdp, max(1, len(devices)) if devices is not None else 1, clock, kind)


def open_unavailable(devices, cfg, clock) -> UnavailableBackend:
    """The ``unavailable`` fallback: energy stays null."""
    return UnavailableBackend()


BackendFactory = Callable[[Optional[Sequence[int]], object, Callable[[], float]], EnergyBackend]

#: The meter's own fallbacks, not plug-ins (no ``energy_source`` names them): always available.
FALLBACKS: Dict[str, BackendFactory] = {ESTIMATE_TDP: open_tdp_estimate, UNAVAILABLE: open_unavailable}


def register_energy_backend(name: str, factory: Optional[BackendFactory] = None, *, devices: str = "gpu",
                            auto: Optional[int] = None):
    """Register ``factory`` in-process as the meter ``name`` of the catalog (usable as a decorator); a later
    registration replaces an earlier one. ``devices`` and ``auto`` are the :class:`recipes.catalog.MeterEntry`
    facts (by default the meter runs only when named). A package adds a meter through the ``robustperf.meters``
    entry points instead."""
    def add(fn: BackendFactory) -> BackendFactory:
        catalog.register(catalog.MeterEntry(name=name, impl=fn, devices=devices, auto=auto), replace=True)
        return fn

    return add(factory) if factory is not None else add


def unregister_energy_backend(name: str) -> None:
    """Remove a meter registered in-process."""
    catalog.unregister("meters", name)


def list_energy_backends() -> List[str]:
    """Every backend name: the catalog's meters and the fallbacks."""
    return sorted(set(FALLBACKS) | set(catalog.names("meters")))


def get_energy_backend(name: str) -> BackendFactory:
    """The factory of backend ``name``: a fallback or a meter of the catalog.

    Raises:
        EnergyUnavailable: no backend of that name.
    """
    factory = FALLBACKS.get(name)
    if factory is None and name in catalog.names("meters"):
        factory = catalog.load("meters", name)
    if factory is None:
        raise EnergyUnavailable(f"unknown energy backend {name!r}; registered: {', '.join(list_energy_backends())}")
    return factory
