"""CPU energy from Intel RAPL through the Linux powercap interface (``/sys/class/powercap/intel-rapl:*``).

Package zones (``intel-rapl:N``, named ``package-N``) and their ``dram`` sub-zones are summed; ``core`` and
``uncore`` sub-zones are parts of the package and ``psys`` covers the whole platform, so both are left out to
avoid double counting. ``energy_uj`` wraps at ``max_energy_range_uj`` (minutes at full load), so the sampler
polls it every tick. Since Linux 5.10 ``energy_uj`` is root-only on most distributions; then RAPL is
unavailable (Khan et al., "RAPL in Action", TOMPECS 2018, for accuracy).
"""
from __future__ import annotations

import glob
import os
import threading
from typing import List, Tuple

from .backends import RAPL, BackendUnavailable, EnergyBackend

POWERCAP = "/sys/class/powercap"
_UJ_PER_J = 1e6


def counter_delta(previous: int, current: int, max_range: int) -> int:
    """Microjoules between two readings of a counter that wraps to 0 after ``max_range``."""
    if current >= previous:
        return current - previous
    return current + (max_range - previous) + 1


def _read_int(path: str) -> int:
    with open(path, encoding="ascii") as fh:
        return int(fh.read().strip())


def rapl_zones(root: str = POWERCAP) -> List[Tuple[str, str]]:
    """``(zone folder, name)`` of the package zones and their dram sub-zones under ``root``."""
    zones = []
    for pkg in sorted(glob.glob(os.path.join(root, "intel-rapl:[0-9]*"))):
        if os.path.basename(pkg).count(":") != 1:
            continue
        try:
            with open(os.path.join(pkg, "name"), encoding="ascii") as fh:
                name = fh.read().strip()
        except OSError:
            continue
        if not name.startswith("package"):
            continue
        zones.append((pkg, name))
        for sub in sorted(glob.glob(os.path.join(pkg, os.path.basename(pkg) + ":[0-9]*"))):
            try:
                with open(os.path.join(sub, "name"), encoding="ascii") as fh:
                    sub_name = fh.read().strip()
            except OSError:
                continue
            if sub_name == "dram":
                zones.append((sub, f"{name}/dram"))
    return zones


class RaplBackend(EnergyBackend):
    name = RAPL
    has_counter = True
    needs_polling = True

    def __init__(self, root: str = POWERCAP):
        zones = rapl_zones(root)
        if not zones:
            raise BackendUnavailable(f"no RAPL package zone under {root}")
        self._paths = []
        self._last = []
        self._max = []
        for folder, _ in zones:
            energy = os.path.join(folder, "energy_uj")
            try:
                self._last.append(_read_int(energy))
                self._max.append(_read_int(os.path.join(folder, "max_energy_range_uj")))
            except PermissionError:
                raise BackendUnavailable(f"{energy} is not readable (root-only since Linux 5.10)") from None
            except (OSError, ValueError) as err:
                raise BackendUnavailable(f"{energy}: {err}") from None
            self._paths.append(energy)
        self.devices = sum(1 for _, name in zones if "/" not in name)
        self.zones = [name for _, name in zones]
        self._uj = 0
        self._lock = threading.Lock()

    def poll(self) -> None:
        with self._lock:
            for i, path in enumerate(self._paths):
                now = _read_int(path)
                self._uj += counter_delta(self._last[i], now, self._max[i])
                self._last[i] = now

    def energy_j(self) -> float:
        self.poll()
        return self._uj / _UJ_PER_J


def open_rapl(devices, cfg, clock) -> RaplBackend:
    """The ``rapl`` meter (:data:`benchmarks.measurement.catalog.RAPL`): every package and DRAM zone."""
    return RaplBackend()
