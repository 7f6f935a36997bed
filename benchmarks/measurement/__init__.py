"""Measurement: executed FLOPs (DeepSpeed), energy windows (NVML, nvidia-smi, RAPL), cost, hardware.

Meters are context managers around the loop and return numbers; :mod:`.cost` turns them into the record's
kWh, $ and CO2. Importing this package is cheap: torch, DeepSpeed and NVML load on first use.
"""
from .backends import (AUTO_ORDER, ESTIMATE_TDP, NVIDIA_SMI, NVML, RAPL, UNAVAILABLE, BackendUnavailable,
                       EnergyBackend, EnergyUnavailable, get_energy_backend, list_energy_backends,
                       register_energy_backend, unregister_energy_backend)
from .cost import match_price, summarize
from .energy import TOTAL, EnergyMeter, PowerSampler, Window, merge_totals
from .flops import count_forward_flops, exit_forward_flops, forward_flops_per_sample, train_flops
from .hardware import device_model, hardware_info, software_info

__all__ = [
    "AUTO_ORDER", "ESTIMATE_TDP", "NVIDIA_SMI", "NVML", "RAPL", "UNAVAILABLE", "BackendUnavailable",
    "EnergyBackend", "EnergyUnavailable", "get_energy_backend", "list_energy_backends", "register_energy_backend",
    "unregister_energy_backend", "match_price", "summarize", "TOTAL", "EnergyMeter", "PowerSampler", "Window", "merge_totals",
    "count_forward_flops", "exit_forward_flops", "forward_flops_per_sample", "train_flops", "device_model", "hardware_info",
    "software_info",
]
