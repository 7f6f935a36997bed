"""The hardware Zeus reads, replaced at the boundary Zeus itself exposes (no stand-in for the suite's code).

* CPU packages and DRAM: a powercap tree on disk (``intel-rapl/intel-rapl:N/{name,energy_uj,max_energy_range_uj}``
  with a ``dram`` sub-zone), laid out as Linux lays out ``/sys/class/powercap``, and Zeus's RAPL reader pointed at
  it through its root, ``zeus.device.cpu.rapl.RAPL_DIR``. Zeus's own code finds the zones, reads the counters and
  tracks their wrap-around; the tests move the counters by writing the files.
* GPUs: a ``zeus.device.gpu.common.GPUs`` object handed out by Zeus's device getter (``zeus.device.gpu.get_gpus``
  returns the object in ``zeus.device.gpu._gpus``), whose total-energy counters (mJ) the tests move.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

import zeus.device.cpu as zeus_cpu
import zeus.device.cpu.rapl as zeus_rapl
import zeus.device.gpu as zeus_gpu
from zeus.device.gpu.common import GPUs

MAX_RANGE_UJ = 262143328850


class Powercap:
    """A fake ``/sys/class/powercap`` tree: ``packages`` package zones, each with a ``dram`` sub-zone if asked."""

    def __init__(self, root: str, packages: int = 2, dram: bool = True, psys: bool = False):
        self.dir = os.path.join(root, "intel-rapl")
        self.zones: Dict[str, str] = {}
        for p in range(packages):
            pkg = os.path.join(self.dir, f"intel-rapl:{p}")
            self._zone(pkg, f"package-{p}", f"package-{p}")
            self._zone(os.path.join(pkg, f"intel-rapl:{p}:0"), "core", f"core-{p}")  # part of the package
            if dram:
                self._zone(os.path.join(pkg, f"intel-rapl:{p}:1"), "dram", f"dram-{p}")
        if psys:  # the whole platform (laptops, some servers): it holds the packages
            self._zone(os.path.join(self.dir, f"intel-rapl:{packages}"), "psys", "psys")

    def _zone(self, folder: str, name: str, key: str) -> None:
        os.makedirs(folder, exist_ok=True)
        for file, text in (("name", name), ("energy_uj", "1000000"), ("max_energy_range_uj", str(MAX_RANGE_UJ))):
            with open(os.path.join(folder, file), "w") as fh:
                fh.write(text + "\n")
        self.zones[key] = os.path.join(folder, "energy_uj")

    def add(self, key: str, joules: float) -> None:
        """Move zone ``key``'s counter (``package-0``, ``dram-1``, ``core-0``) on by ``joules``."""
        path = self.zones[key]
        with open(path) as fh:
            now = int(fh.read())
        with open(path, "w") as fh:
            fh.write(f"{now + round(joules * 1e6)}\n")


class FakeGPU:
    """One GPU as Zeus's ``GPU`` interface shows it: a total-energy counter in mJ, power in mW, a name."""

    def __init__(self, name: str, counter: bool = True, power_w: float = 0.0):
        self.name, self.counter, self.mj, self.power_w = name, counter, 5_000_000, power_w

    def get_name(self) -> str:
        return self.name

    def supports_get_total_energy_consumption(self) -> bool:
        return self.counter

    def get_total_energy_consumption(self) -> int:
        if not self.counter:
            raise RuntimeError("no total-energy counter on this GPU")
        return self.mj

    def get_instant_power_usage(self) -> int:
        return round(self.power_w * 1000)


class FakeGPUs(GPUs):
    def __init__(self, gpus: List[FakeGPU]):
        self._gpus = gpus

    def __del__(self) -> None:
        pass

    @property
    def gpus(self):
        return self._gpus


def install(monkeypatch, powercap: Optional[Powercap] = None, gpus: Optional[List[FakeGPU]] = None) -> None:
    """Point Zeus at ``powercap`` (None: no RAPL) and ``gpus`` (None: no GPU library) for one test."""
    reset()
    monkeypatch.setattr(zeus_rapl, "RAPL_DIR", powercap.dir if powercap else "/nonexistent/powercap/intel-rapl")
    monkeypatch.setattr(zeus_rapl, "CONTAINER_RAPL_DIR", "/nonexistent/zeus_sys/intel-rapl")
    zeus_rapl.rapl_is_available.cache_clear()
    monkeypatch.setattr(zeus_gpu, "_gpus", FakeGPUs(gpus) if gpus is not None else None)
    if gpus is None:
        monkeypatch.setattr(zeus_gpu, "nvml_is_available", lambda: False)
        monkeypatch.setattr(zeus_gpu, "amdsmi_is_available", lambda: False)


def reset() -> None:
    """Forget Zeus's CPU singleton, stopping the wrap-around watchers it started on the fake files."""
    cpus = zeus_cpu._cpus
    for cpu in getattr(cpus, "cpus", []) if cpus is not None else []:
        for zone in (getattr(cpu, "rapl_file", None), getattr(cpu, "dram", None)):
            tracker = getattr(zone, "_wraparound_tracker", None)
            if tracker is not None:
                tracker._stop()
    zeus_cpu._cpus = None
    zeus_rapl.rapl_is_available.cache_clear()
