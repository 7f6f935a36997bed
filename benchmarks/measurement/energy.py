"""Energy of named windows of a run (train, eval, attack), measured by a backend picked at run time.

``EnergyMeter`` is a context manager around the run, like torchtitan's ``maybe_enable_profiling``: it opens a
backend (:mod:`.backends`: a meter of the catalog such as ``zeus`` (GPUs, CPU packages, DRAM) or nvidia-smi, a
TDP estimate when asked, else ``unavailable``), starts a background power sampler at ``measurement.sample_hz``
when the backend reads power (trapezoid integral), and accounts each ``with meter.window(name)`` block, its joules
split by device kind (``kinds_j``: ``gpu``, ``cpu``, ``dram``).
Windows of the same name add up; windows may nest (an attack inside an evaluation); the pseudo-window ``total``
covers the time at least one window was open, so nested windows are not counted twice. The meter returns
numbers (joules, seconds): it never writes files and never converts to money (:mod:`.cost` does).

A run that resumes passes the previous attempt's :meth:`EnergyMeter.totals` as ``restore=``.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from .backends import (ESTIMATE_TDP, UNAVAILABLE, BackendUnavailable, EnergyBackend, EnergyUnavailable,
                       auto_order, get_energy_backend)
from .nvidia import visible_gpu_count

#: Name of the pseudo-window covering the union of all windows (what ``energy.kwh`` reports).
TOTAL = "total"
AUTO = "auto"
NONE = "none"


class PowerSampler:
    """Background thread reading power every ``1/hz`` s and integrating it with the trapezoid rule.

    :meth:`sample` may also be called from other threads (window boundaries), so each window's integral runs
    exactly from its start to its end. ``cpu_seconds`` is the thread's own CPU time (``time.thread_time``).
    """

    def __init__(self, backend: EnergyBackend, hz: float, clock: Callable[[], float]):
        self.backend = backend
        self.period = 1.0 / hz
        self.clock = clock
        self.integral_j = 0.0
        self.samples = 0
        self.misses = 0
        self.cpu_seconds = 0.0
        self.native_id: Optional[int] = None
        self._last: Optional[tuple] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="robustperf-power-sampler", daemon=True)

    def start(self) -> "PowerSampler":
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> float:
        """Take one reading now; return the integral (J) up to now."""
        with self._lock:
            if self.backend.needs_polling:
                self.backend.poll()
            if not self.backend.has_power:
                return self.integral_j
            t = self.clock()
            try:
                p = self.backend.power_w()
            # A transient driver error must not kill the run; the integral bridges the gap (counted in misses).
            except Exception:  # noqa: BLE001
                self.misses += 1
                return self.integral_j
            if self._last is not None:
                t0, p0 = self._last
                self.integral_j += 0.5 * (p + p0) * (t - t0)
            self._last = (t, p)
            self.samples += 1
            return self.integral_j

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        cpu0 = time.thread_time()
        while not self._stop.wait(self.period):
            self.sample()
            self.cpu_seconds = time.thread_time() - cpu0
        self.cpu_seconds = time.thread_time() - cpu0


class Window:
    """Seconds and energy of a window: one entry (yielded by :meth:`EnergyMeter.window`) or a name's total."""

    def __init__(self, name: str, source: str):
        self.name = name
        self.source = source
        self.seconds = 0.0
        self.energy_j: Optional[float] = 0.0
        self.sampler_energy_j: Optional[float] = 0.0
        self.kinds_j: Optional[Dict[str, float]] = {}
        self.count = 0

    @property
    def mean_power_w(self) -> Optional[float]:
        """Mean power over the window's time, W (energy_j / seconds); None when unknown."""
        if self.energy_j is None or self.seconds <= 0:
            return None
        return self.energy_j / self.seconds

    def to_dict(self) -> Dict[str, Any]:
        return {"seconds": self.seconds, "energy_j": self.energy_j, "sampler_energy_j": self.sampler_energy_j,
                "mean_power_w": self.mean_power_w, "count": self.count, "source": self.source,
                "kinds_j": None if self.kinds_j is None else dict(self.kinds_j)}

    def add(self, other: Any) -> "Window":
        """Add another window (or its :meth:`to_dict`); energy unknown on either side stays unknown."""
        other = other.to_dict() if isinstance(other, Window) else other
        self.seconds += float(other.get("seconds") or 0.0)
        self.count += int(other.get("count") or 0)
        self.energy_j = _add(self.energy_j, other.get("energy_j"))
        self.sampler_energy_j = _add(self.sampler_energy_j, other.get("sampler_energy_j"))
        self.kinds_j = _add_kinds(self.kinds_j, _split(other))
        source = other.get("source")
        if source and source != self.source:
            self.source = "+".join(sorted(set(source.split("+")) | set(self.source.split("+"))))
        return self

    def __repr__(self) -> str:
        return (f"Window({self.name!r}, seconds={self.seconds:.3f}, energy_j={self.energy_j}, "
                f"source={self.source!r})")


def _add(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a + b


def _split(win: Dict[str, Any]) -> Optional[Dict[str, float]]:
    """A window dict's per-kind joules; unknown (None) when its joules are unknown or unsplit (saved before the
    split existed); empty when it has no joules to split."""
    kinds = win.get("kinds_j")
    if kinds is None and win.get("energy_j") == 0:
        return {}
    return kinds


def _add_kinds(mine: Optional[Dict[str, float]], other: Optional[Dict[str, float]]) -> Optional[Dict[str, float]]:
    """Per-kind joules added kind by kind; an unknown split on either side makes the sum's split unknown."""
    if mine is None or other is None:
        return None
    out = dict(mine)
    for kind, joules in other.items():
        out[kind] = out.get(kind, 0.0) + float(joules)
    return out


class EnergyMeter:
    """Measure the energy of named windows of a run.

    Args:
        measurement_cfg: the recipe's ``measurement`` section (energy_source, sample_hz, tdp_watts).
        device_indices: logical CUDA devices to meter; None = every GPU visible to this process (CPU run when
            there is none); ``[]`` = a CPU run (the host's CPU packages and DRAM only).
        source: backend name overriding ``measurement_cfg.energy_source`` (tests register a fake one).
        restore: :meth:`totals` of a previous attempt of the same run, added to this one's windows.
        clock: monotonic seconds (tests may drive it).

    Raises:
        EnergyUnavailable: the forced backend cannot measure on this host.

    Example::

        with EnergyMeter(cfg.measurement) as meter:
            with meter.window("train"):
                train()
            with meter.window("eval"), meter.window("attack"):
                evaluate()
        meter.totals()
    """

    def __init__(self, measurement_cfg, device_indices: Optional[Sequence[int]] = None, *,
                 source: Optional[str] = None, restore: Optional[Dict[str, Any]] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = measurement_cfg
        self.requested = source or getattr(measurement_cfg, "energy_source", AUTO)
        self.device_indices = None if device_indices is None else list(device_indices)
        self.clock = clock
        self.backend: Optional[EnergyBackend] = None
        self.sampler: Optional[PowerSampler] = None
        self.tried: Dict[str, str] = {}
        self.windows: Dict[str, Window] = {}
        self._restore = restore
        self._open: Dict[str, tuple] = {}
        self._stopped = False

    # ------------------------------------------------------------------ backend choice

    @property
    def source(self) -> Optional[str]:
        """Name of the backend measuring (``energy.source``); None before :meth:`start`."""
        return self.backend.name if self.backend is not None else None

    def _devices(self) -> List[int]:
        if self.device_indices is not None:
            return self.device_indices
        return list(range(visible_gpu_count()))

    def _open_backend(self) -> EnergyBackend:
        devices = self._devices()
        if self.requested not in (AUTO, NONE):
            try:
                return get_energy_backend(self.requested)(devices, self.cfg, self.clock)
            except BackendUnavailable as err:
                raise EnergyUnavailable(f"measurement.energy_source is {self.requested!r} but it cannot measure "
                                        f"here: {err}") from None
        order = auto_order("gpu" if devices else "cpu") if self.requested == AUTO else ()
        if getattr(self.cfg, "tdp_watts", None) is not None:
            order = (*order, ESTIMATE_TDP)
        for name in order:
            try:
                return get_energy_backend(name)(devices, self.cfg, self.clock)
            except BackendUnavailable as err:
                self.tried[name] = str(err)
        return get_energy_backend(UNAVAILABLE)(devices, self.cfg, self.clock)

    # ------------------------------------------------------------------ lifetime

    def start(self) -> "EnergyMeter":
        if self.backend is not None:
            return self
        self.backend = self._open_backend()
        if self.backend.has_power or self.backend.needs_polling:
            hz = getattr(self.cfg, "sample_hz", 10.0)
            self.sampler = PowerSampler(self.backend, hz, self.clock).start()
        for name, saved in (self._restore or {}).get("windows", {}).items():
            self._get(name).add(saved)
        return self

    def stop(self) -> None:
        """Stop the sampler and release the backend; windows and totals stay readable."""
        if self.backend is None or self._stopped:
            return
        self._stopped = True
        if self.sampler is not None:
            self.sampler.stop()
        self.backend.close()

    def __enter__(self) -> "EnergyMeter":
        return self.start()

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False

    # ------------------------------------------------------------------ windows

    def _get(self, name: str) -> Window:
        if name not in self.windows:
            self.windows[name] = Window(name, self.backend.name)
        return self.windows[name]

    def _read(self) -> tuple:
        """(time, counter J or None, sampler integral J or None, J per device kind or None) now."""
        integral = self.sampler.sample() if self.sampler is not None else None
        t = self.clock()
        backend = self.backend
        kinds: Optional[Dict[str, float]] = dict(backend.kinds_j()) if backend.has_counter else {}
        if backend.power_kind is not None:
            kinds[backend.power_kind] = integral  # nvidia-smi, pre-Volta GPUs: the sampled power is the measurement
        if not backend.has_counter and not backend.has_power:
            kinds = None
        energy = None if kinds is None else sum(kinds.values())
        return t, energy, integral if backend.has_power else None, kinds

    def _measured(self, name: str, start: tuple, end: tuple) -> Window:
        (t0, e0, s0, k0), (t1, e1, s1, k1) = start, end
        entry = Window(name, self.backend.name)
        entry.seconds = t1 - t0
        entry.count = 1
        entry.energy_j = None if e0 is None else e1 - e0
        entry.sampler_energy_j = None if s0 is None else s1 - s0
        entry.kinds_j = None if k0 is None else {kind: k1[kind] - k0[kind] for kind in k1}
        return entry

    def _begin(self, name: str, reading: tuple) -> None:
        if name in self._open:
            raise RuntimeError(f"window {name!r} is already open; the same window cannot nest in itself")
        self._open[name] = reading

    def _end(self, name: str, reading: tuple) -> Window:
        entry = self._measured(name, self._open.pop(name), reading)
        self._get(name).add(entry)
        return entry

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator[Window]:
        """Measure the block as one entry of window ``name``.

        Yields:
            This entry's :class:`Window`, filled in (seconds, energy_j, ...) when the block ends; the name's
            running total is ``meter.windows[name]``.
        """
        if self.backend is None:
            raise RuntimeError("EnergyMeter.window() needs a started meter: use `with EnergyMeter(...)` first")
        if name == TOTAL:
            raise ValueError(f"{TOTAL!r} is reserved for the union of all windows")
        entry = Window(name, self.backend.name)
        reading = self._read()
        self._begin(name, reading)
        if not self._open.keys() - {name}:
            self._begin(TOTAL, reading)
        try:
            yield entry
        finally:
            reading = self._read()
            done = self._end(name, reading)
            if self._open.keys() == {TOTAL}:
                self._end(TOTAL, reading)
            entry.add(done)

    def totals(self) -> Dict[str, Any]:
        """Seconds and joules per window so far, open windows included up to now; JSON-serialisable.

        Returns:
            ``{"source", "devices", "tried", "sampler": {...}, "measured": {kind: [device, ...]}, "readings":
            {kind: how it was read}, "missing": {kind: why the meter could not read it}, "windows": {name:
            Window.to_dict()}}``; each window's ``kinds_j`` splits its ``energy_j`` by device kind.
        """
        reading = self._read() if self.backend is not None and self._open and not self._stopped else None
        windows = {name: Window(name, win.source).add(win) for name, win in self.windows.items()}
        for name, start in (self._open.items() if reading is not None else ()):
            so_far = windows.setdefault(name, Window(name, self.backend.name))
            so_far.add(self._measured(name, start, reading))
        sampler = None
        if self.sampler is not None:
            sampler = {"hz": 1.0 / self.sampler.period, "samples": self.sampler.samples,
                       "misses": self.sampler.misses, "cpu_seconds": self.sampler.cpu_seconds}
        backend = self.backend
        return {"source": self.source, "devices": backend.devices if backend else None,
                "tried": dict(self.tried), "sampler": sampler,
                "measured": {k: list(v) for k, v in (backend.measured if backend else {}).items()},
                "readings": dict(backend.readings if backend else {}),
                "missing": dict(backend.why_not if backend else {}),
                "windows": {name: win.to_dict() for name, win in windows.items()}}


def merge_totals(per_rank: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """One run's totals from the :meth:`EnergyMeter.totals` of its meters (one per node), each metering its own
    devices.

    Every numeric field of every window adds up over meters, nested ones (the joules per device kind,
    ``kinds_j``) too; a field unknown (None) on any meter that has it is unknown; ``seconds`` and ``count`` are
    the longest meter's, since the nodes run side by side, and ``mean_power_w`` is the summed energy over those
    seconds. Sources join with ``+``; ``devices`` add up; ``tried`` and ``sampler`` keep every meter's; the
    devices measured are listed together and the readings' sources are joined.
    """
    windows: Dict[str, Dict[str, Any]] = {}
    for totals in per_rank:
        for name, win in totals.get("windows", {}).items():
            win = {**win, "kinds_j": _split(win)}  # a window saved before the split: its split is unknown
            windows[name] = win if name not in windows else _merge_fields(windows[name], win, _SIDE_BY_SIDE)
    for win in windows.values():
        energy, seconds = win.get("energy_j"), win.get("seconds")
        win["mean_power_w"] = energy / seconds if energy is not None and seconds else None
    sources = sorted({t.get("source") for t in per_rank if t.get("source")})
    devices = [t.get("devices") for t in per_rank]
    measured: Dict[str, List[str]] = {}
    readings: Dict[str, List[str]] = {}
    for totals in per_rank:
        for kind, names in (totals.get("measured") or {}).items():
            measured.setdefault(kind, []).extend(names)
        for kind, how in (totals.get("readings") or {}).items():
            if how not in readings.setdefault(kind, []):
                readings[kind].append(how)
    return {"source": "+".join(sources) or None,
            "devices": None if any(d is None for d in devices) else sum(devices),
            "tried": {k: v for t in per_rank for k, v in (t.get("tried") or {}).items()},
            "sampler": [t.get("sampler") for t in per_rank], "windows": windows,
            "measured": measured, "readings": {k: " + ".join(v) for k, v in readings.items()},
            "missing": {k: v for t in per_rank for k, v in (t.get("missing") or {}).items()}}


def host_and_gpu_energy(window, meter) -> Dict[str, Any]:
    """The training window's energy: the GPUs' (counter, sampler, their ratio) beside the host's CPU packages and
    DRAM, with how each kind was read."""
    totals = meter.totals()  # the meter's devices and readings
    kinds = window.kinds_j or {}
    gpu, cpu, dram = kinds.get("gpu"), kinds.get("cpu"), kinds.get("dram")
    host = None if cpu is None else cpu + (dram or 0.0)
    energy = {"window_seconds": window.seconds, "total_j": window.energy_j, "gpu_j": gpu, "host_cpu_j": cpu,
              "host_dram_j": dram, "host_j": host, "sampler_j": window.sampler_energy_j, "source": meter.source,
              "includes": sorted(kinds, key=("gpu", "cpu", "dram").index) if kinds else [],
              "readings": totals.get("readings"), "measured": totals.get("measured"), "tried": dict(meter.tried)}
    for name, joules in (("gpu_w", gpu), ("host_w", host)):
        energy[name] = joules / window.seconds if joules is not None and window.seconds else None
    notes = []
    if gpu and window.sampler_energy_j:
        energy["counter_over_sampler"] = gpu / window.sampler_energy_j
    else:
        energy["counter_over_sampler"] = None
        notes.append(f"no GPU counter and sampler pair here (energy source {meter.source!r}); the ratio needs a GPU")
    if host is None:
        why = meter.tried.get("zeus") or totals["missing"].get("cpu")
        notes.append(f"host CPU and DRAM not metered: {why or 'no RAPL reading'}")
    if notes:
        energy["note"] = "; ".join(notes)
    return energy


#: window fields that are the longest meter's, not a sum (the meters run side by side)
_SIDE_BY_SIDE = ("seconds", "count")


def _merge_fields(into: Dict[str, Any], other: Dict[str, Any], longest: Sequence[str] = ()) -> Dict[str, Any]:
    """``into`` with ``other`` added field by field: numbers add (None stays None), ``longest`` fields take the
    larger, strings join their ``+``-separated parts, lists join, dicts merge the same way; a field only one side has is
    kept as it is."""
    for key, value in other.items():
        if key not in into:
            into[key] = value
            continue
        mine = into[key]
        if key in longest:
            into[key] = max(mine or 0, value or 0)
        elif isinstance(mine, bool) or isinstance(value, bool):
            into[key] = mine if mine == value else None
        elif isinstance(mine, (int, float)) and isinstance(value, (int, float)):
            into[key] = mine + value
        elif isinstance(mine, str) and isinstance(value, str):
            into[key] = "+".join(sorted(set(mine.split("+")) | set(value.split("+"))))
        elif isinstance(mine, dict) and isinstance(value, dict):
            into[key] = _merge_fields(dict(mine), value)
        elif isinstance(mine, list) and isinstance(value, list):
            into[key] = [*mine, *value]
        elif mine is None or value is None:
            into[key] = None  # unknown on one meter: unknown for the run
    return into
