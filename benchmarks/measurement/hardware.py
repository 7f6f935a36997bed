"""What ran the run: the record's ``hardware`` and ``software`` groups.

Versions come from installed package metadata (``importlib.metadata``), so nothing heavy is imported; GPU
names from NVML, limited to the GPUs this process may use (``CUDA_VISIBLE_DEVICES``).
"""
from __future__ import annotations

import importlib.metadata
import platform
import socket
from typing import Any, Dict, Optional, Sequence

from results.holder import cpu_model  # noqa: F401 - a machine fact, shared with submissions (torch-free)

from .nvidia import gpu_names

#: record key -> distribution name
SOFTWARE = {"torch": "torch", "timm": "timm", "deepspeed": "deepspeed", "pyautoattack": "pyautoattack"}


def hardware_info(device_indices: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """``{"cpu", "gpus", "count", "host"}``: CPU model, GPU model names, number of GPUs, host name.

    Args:
        device_indices: logical CUDA devices of the run; None = all visible; ``[]`` = a CPU run.
    """
    gpus = [] if device_indices is not None and not list(device_indices) else gpu_names(device_indices)
    return {"cpu": cpu_model(), "gpus": gpus, "count": len(gpus), "host": socket.gethostname()}


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def software_info() -> Dict[str, Optional[str]]:
    """``{"python", "torch", "timm", "deepspeed", "pyautoattack"}`` versions; None for a missing package."""
    info: Dict[str, Optional[str]] = {"python": platform.python_version()}
    info.update({key: _version(dist) for key, dist in SOFTWARE.items()})
    return info


def device_model(hardware: Dict[str, Any]) -> str:
    """The device model to price a run by: its first GPU's name, or ``"cpu"`` for a CPU run."""
    return hardware["gpus"][0] if hardware.get("gpus") else "cpu"
