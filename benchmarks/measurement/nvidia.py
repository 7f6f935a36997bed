"""NVIDIA GPUs without Zeus: their names and count (the record's hardware group), and ``nvidia-smi`` power sampling.

The GPUs' energy counters are read by the ``zeus`` meter (:mod:`.zeus_meter`); what stays here is what Zeus does
not do: the ``nvidia-smi`` CLI meter (power polled through the driver's tool, for hosts where the NVML Python
bindings cannot load), and the GPU names and count for the ``hardware`` group, read without opening a meter.

Only the GPUs this process uses are read: logical CUDA devices are mapped to physical ones through torch's
device UUIDs when torch has CUDA up, else through ``CUDA_VISIBLE_DEVICES`` (indices or UUID prefixes), so a
shared node's other GPUs are never counted.

``pynvml`` is imported where it is used, inside the ``try`` that turns a missing library or driver into "no GPU"
(and so ``benchmarks.measurement`` stays cheap to import).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from typing import Dict, List, Optional, Sequence

from .backends import NVIDIA_SMI, BackendUnavailable, EnergyBackend


def parse_cuda_visible_devices(value: Optional[str]) -> Optional[List[str]]:
    """Entries of ``CUDA_VISIBLE_DEVICES`` as CUDA reads them; None when unset (all devices visible).

    CUDA stops at the first invalid entry, so ``"0,-1,1"`` exposes device 0 only and ``"-1"`` or ``""`` none.
    """
    if value is None:
        return None
    entries: List[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            break
        if entry.lstrip("-").isdigit():
            if int(entry) < 0:
                break
        elif not entry.upper().startswith(("GPU-", "MIG-")):
            break
        entries.append(entry)
    return entries


def _torch_uuids(indices: Sequence[int]) -> Optional[List[str]]:
    """``GPU-...`` UUIDs of logical CUDA devices, when torch is already imported with CUDA available."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    uuids = []
    for i in indices:
        uuid = getattr(torch.cuda.get_device_properties(i), "uuid", None)
        if uuid is None:
            return None
        text = str(uuid)
        uuids.append(text if text.upper().startswith(("GPU-", "MIG-")) else "GPU-" + text)
    return uuids


def physical_devices(indices: Optional[Sequence[int]], count: int) -> List[str]:
    """Physical device selectors (NVML index as text, or a UUID / prefix) of logical CUDA ``indices``.

    Args:
        indices: logical CUDA device indices; None = every visible device.
        count: devices NVML sees on the host.
    """
    visible = parse_cuda_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    if visible is None:
        visible = [str(i) for i in range(count)]
    if indices is None:
        indices = range(len(visible))
    uuids = _torch_uuids(indices)
    if uuids is not None:
        return uuids
    out = []
    for i in indices:
        if not 0 <= i < len(visible):
            raise BackendUnavailable(f"CUDA device {i} is not visible (CUDA_VISIBLE_DEVICES exposes {len(visible)})")
        out.append(visible[i])
    return out


def visible_gpu_count() -> int:
    """GPUs this process may use: NVML's count filtered by ``CUDA_VISIBLE_DEVICES``; 0 without NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver / no library: no GPU to meter
        return 0
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    visible = parse_cuda_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    return count if visible is None else min(count, len(visible))


def gpu_names(indices: Optional[Sequence[int]] = None) -> List[str]:
    """Model names of the visible (or the given logical) GPUs; empty without NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVIDIA driver here
        return []
    try:
        handles = _handles(pynvml, physical_devices(indices, pynvml.nvmlDeviceGetCount()))
        return [_text(pynvml.nvmlDeviceGetName(h)) for h in handles]
    except BackendUnavailable:
        return []
    finally:
        pynvml.nvmlShutdown()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _handles(pynvml, selectors: Sequence[str]):
    handles = []
    all_handles = None
    for sel in selectors:
        if sel.isdigit():
            handles.append(pynvml.nvmlDeviceGetHandleByIndex(int(sel)))
            continue
        if sel.upper().startswith("MIG-"):
            raise BackendUnavailable(f"{sel}: NVML reports no energy for MIG instances")
        if all_handles is None:
            all_handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        match = [h for h in all_handles if _text(pynvml.nvmlDeviceGetUUID(h)).upper().startswith(sel.upper())]
        if len(match) != 1:
            raise BackendUnavailable(f"CUDA_VISIBLE_DEVICES entry {sel!r} matches {len(match)} GPUs")
        handles.append(match[0])
    return handles


def parse_power_line(line: str) -> Optional[tuple]:
    """``"GPU-uuid, 312.45"`` -> ``("GPU-uuid", 312.45)``; None for lines without a reading (``[N/A]``)."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 2:
        return None
    try:
        return parts[0], float(parts[1])
    except ValueError:
        return None


class NvidiaSmiBackend(EnergyBackend):
    """Streams ``nvidia-smi --query-gpu=uuid,power.draw -lms PERIOD``; energy is the sampler's integral."""

    name = NVIDIA_SMI
    has_power = True

    def __init__(self, indices: Optional[Sequence[int]], sample_hz: float, executable: str = "nvidia-smi"):
        exe = shutil.which(executable)
        if exe is None:
            raise BackendUnavailable("nvidia-smi not found on PATH")
        count = len(subprocess.run([exe, "-L"], capture_output=True, text=True, check=False).stdout.splitlines())
        selectors = physical_devices(indices, count)
        if not selectors:
            raise BackendUnavailable("no visible GPU")
        self.devices = len(selectors)
        period_ms = max(1, int(1000 / sample_hz))
        self._latest: Dict[str, float] = {}
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [exe, "--query-gpu=uuid,power.draw", "--format=csv,noheader,nounits", "-lms", str(period_ms),
             "-i", ",".join(selectors)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, name="nvidia-smi-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # Blocks on the pipe between readings: no CPU while waiting.
        for line in self._proc.stdout:
            parsed = parse_power_line(line)
            if parsed is not None:
                with self._lock:
                    self._latest[parsed[0]] = parsed[1]

    def power_w(self) -> float:
        with self._lock:
            if len(self._latest) < self.devices:
                raise BackendUnavailable("nvidia-smi has not reported every GPU yet")
            return sum(self._latest.values())

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def open_nvidia_smi(devices, cfg, clock) -> NvidiaSmiBackend:
    """The ``nvidia-smi`` meter (:data:`benchmarks.measurement.catalog.NVIDIA_SMI`), polled at ``sample_hz``."""
    return NvidiaSmiBackend(devices, getattr(cfg, "sample_hz", 10.0))
