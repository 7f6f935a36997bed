"""The ``zeus`` meter: ML.ENERGY's Zeus reads the GPUs (NVML or AMD SMI), CPU packages and DRAM (RAPL) it finds.

Zeus (``zeus`` on PyPI, https://ml.energy/zeus) finds the devices through its device layer,
:func:`zeus.device.get_gpus` and :func:`zeus.device.get_cpus` (the same objects :class:`zeus.monitor.ZeusMonitor`
measures with), and reads their cumulative energy counters: a GPU's total-energy counter (mJ), each RAPL package
zone ``intel-rapl:N`` and its ``dram`` sub-zone (Zeus tracks the counters' wrap-around), under
``/sys/class/powercap`` or, in a container, ``/zeus_sys/class/powercap``. The suite's meter
(:class:`benchmarks.measurement.EnergyMeter`) turns those counters into its windows: windows nest, the ``total``
window is their union, open windows are read at every checkpoint and a resumed run adds its earlier sessions'
joules (``restore=``). ``ZeusMonitor.begin_window``/``end_window`` pop a window when it ends and cannot read an
open one, so the meter reads the counters ZeusMonitor itself reads instead of nesting Zeus windows.

On a GPU run the host's CPU packages and DRAM are read too: every reading is split by device kind (``gpu``,
``cpu``, ``dram``), the record reports each beside the sum (PUE applies to the sum) and ``energy.includes`` says
which kinds the headline kWh holds. On a GPU run the background sampler integrates Zeus's instantaneous GPU
power reading: the GPUs' energy where they have no total-energy counter (before Volta), else the cross-check of
their counter (``energy.sampler_j``). Where Zeus finds nothing readable (no GPU
library, RAPL absent or root-only) the meter is unavailable and ``energy_source: auto`` moves on.
"""
from __future__ import annotations

import importlib.metadata
from typing import Dict, List, Optional, Sequence

from .backends import ZEUS, BackendUnavailable, EnergyBackend

GPU, CPU, DRAM = "gpu", "cpu", "dram"
_MJ_PER_J = 1000.0
_MW_PER_W = 1000.0


def zeus_version() -> str:
    try:
        return importlib.metadata.version("zeus")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _gpu_library(gpus) -> str:
    name = type(gpus).__name__.lower()
    return "amdsmi" if "amd" in name else "zeusd" if "zeusd" in name else "nvml"


def _cpu_library(cpus) -> str:
    first = cpus.cpus[0] if len(cpus) else None
    if first is not None and "zeusd" in type(first).__name__.lower():
        return "rapl via zeusd"
    root = getattr(cpus, "rapl_dir", None)
    return f"rapl ({root})" if root else "rapl"


def _open_gpus(indices: Sequence[int]):
    """Zeus's GPUs and the logical indices to read; raises BackendUnavailable when one cannot be read."""
    from zeus.device.gpu import get_gpus
    from zeus.device.gpu.common import ZeusGPUInitError

    try:
        gpus = get_gpus()
    except (ZeusGPUInitError, ImportError) as err:
        raise BackendUnavailable(f"Zeus finds no GPU library: {err}") from None
    missing = [i for i in indices if not 0 <= i < len(gpus)]
    if missing:
        raise BackendUnavailable(f"Zeus sees {len(gpus)} GPU(s); CUDA device(s) {missing} are not among them")
    return gpus


def _open_cpus():
    """Zeus's RAPL CPUs, or None with the reason when RAPL is absent or unreadable."""
    from zeus.device.cpu import get_cpus
    from zeus.device.exception import ZeusBaseCPUError

    try:
        cpus = get_cpus()
        if not len(cpus):
            return None, "Zeus finds no RAPL package zone"
        for i in range(len(cpus)):
            cpus.get_total_energy_consumption(i)
        return cpus, None
    except (ZeusBaseCPUError, OSError, ValueError) as err:
        return None, f"RAPL not readable through Zeus: {err}"


class ZeusBackend(EnergyBackend):
    """Cumulative joules per device kind of the run's GPUs and the host's CPU packages and DRAM, read by Zeus.

    Attributes:
        measured: device kind -> the devices read (GPU names with their index, RAPL zone names).
        readings: device kind -> how it was read (``"zeus 0.16.0: nvml"``, ``"zeus 0.16.0: rapl (...)"``).
        why_not: the reason a kind is missing (e.g. RAPL root-only), for the record's ``tried``.
    """

    name = ZEUS
    has_counter = True

    def __init__(self, gpu_indices: Sequence[int]):
        version = zeus_version()
        self.gpu_indices: List[int] = list(gpu_indices)
        self.measured: Dict[str, List[str]] = {}
        self.readings: Dict[str, str] = {}
        self.why_not: Dict[str, str] = {}
        self._gpus = _open_gpus(self.gpu_indices) if self.gpu_indices else None
        self._cpus, why = _open_cpus()
        if why:
            self.why_not[CPU] = why
        if self._gpus is None and self._cpus is None:
            raise BackendUnavailable(why)
        self._gpu_counter = True
        if self._gpus is not None:
            gpus = self._gpus
            self._gpu_counter = all(gpus.supports_get_total_energy_consumption(i) for i in self.gpu_indices)
            # The sampler integrates Zeus's GPU power readings: the GPUs' energy where they have no counter
            # (before Volta), else the cross-check of the counter (energy.sampler_j, make gpu-check).
            self.has_power = True
            self.measured[GPU] = [f"{i}: {gpus.get_name(i)}" for i in self.gpu_indices]
            how = "total-energy counter" if self._gpu_counter else "instantaneous power, integrated"
            self.readings[GPU] = f"zeus {version}: {_gpu_library(gpus)} {how}"
        if self._cpus is not None:
            cpus = self._cpus
            names = [getattr(getattr(c, "rapl_file", None), "name", None) or f"cpu{i}" for i, c in
                     enumerate(cpus.cpus)]
            # Zeus takes every top-level RAPL zone for a CPU package; a ``psys`` zone (the whole platform, which
            # holds the packages) would count them twice, so only package zones are read.
            self._cpu_indices = [i for i, name in enumerate(names) if not name.startswith("psys")]
            names = [names[i] for i in self._cpu_indices]
            self.measured[CPU] = names
            self.readings[CPU] = f"zeus {version}: {_cpu_library(cpus)}"
            drams = [i for i in self._cpu_indices if cpus.supports_get_dram_energy_consumption(i)]
            if drams:
                self.measured[DRAM] = [f"{names[self._cpu_indices.index(i)]}/dram" for i in drams]
                self.readings[DRAM] = self.readings[CPU]
            else:
                self.why_not[DRAM] = "RAPL exposes no dram sub-zone here"
        self.devices = len(self.gpu_indices) if self._gpus is not None else len(self._cpu_indices)
        self._zero = self._counters()

    @property
    def kinds(self) -> List[str]:
        return [k for k in (GPU, CPU, DRAM) if k in self.measured]

    @property
    def power_kind(self) -> Optional[str]:
        return GPU if self._gpus is not None and not self._gpu_counter else None

    def _counters(self) -> Dict[str, float]:
        out: Dict[str, float] = {}
        if self._gpus is not None and self._gpu_counter:
            out[GPU] = sum(self._gpus.get_total_energy_consumption(i) for i in self.gpu_indices) / _MJ_PER_J
        if self._cpus is not None:
            cpu = dram = 0.0
            for i in self._cpu_indices:
                reading = self._cpus.get_total_energy_consumption(i)
                cpu += reading.cpu_mj
                dram += reading.dram_mj or 0.0
            out[CPU] = cpu / _MJ_PER_J
            if DRAM in self.measured:
                out[DRAM] = dram / _MJ_PER_J
        return out

    def kinds_j(self) -> Dict[str, float]:
        now = self._counters()
        return {kind: now[kind] - self._zero[kind] for kind in now}

    def energy_j(self) -> float:
        return sum(self.kinds_j().values())

    def power_w(self) -> float:
        return sum(self._gpus.get_instant_power_usage(i) for i in self.gpu_indices) / _MW_PER_W


def open_zeus(devices, cfg, clock) -> ZeusBackend:
    """The ``zeus`` meter (:data:`benchmarks.measurement.catalog.ZEUS`): the run's GPUs (``devices``, logical
    CUDA indices; none on a CPU run) and every CPU package and DRAM zone of the host."""
    return ZeusBackend(devices or [])
