"""Measurement: executed FLOPs (DeepSpeed), energy windows (the catalog's meters: Zeus for GPUs, CPU and DRAM; nvidia-smi), cost,
hardware, and the per-point survival data of the attacks.

Meters are context managers around the loop and return numbers; :mod:`.window` times a named window with or
without one; :mod:`.cost` turns them into the record's kWh, $ and CO2. Importing this package is cheap: torch,
DeepSpeed, Zeus and NVML load on first use.
"""
from robustperf_lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "auto_order": ".backends", "ESTIMATE_TDP": ".backends", "FALLBACKS": ".backends", "NVIDIA_SMI": ".backends",
    "ZEUS": ".backends", "UNAVAILABLE": ".backends", "BackendUnavailable": ".backends",
    "EnergyBackend": ".backends", "EnergyUnavailable": ".backends", "get_energy_backend": ".backends",
    "list_energy_backends": ".backends", "register_energy_backend": ".backends",
    "unregister_energy_backend": ".backends",
    "match_price": ".cost", "summarize": ".cost",
    "TOTAL": ".energy", "EnergyMeter": ".energy", "PowerSampler": ".energy", "Window": ".energy",
    "merge_totals": ".energy", "host_and_gpu_energy": ".energy",
    "count_forward_flops": ".flops", "exit_forward_flops": ".flops", "forward_flops_per_sample": ".flops",
    "train_flops": ".flops",
    "device_model": ".hardware", "hardware_info": ".hardware", "software_info": ".hardware",
    "PassCounter": ".passes", "Trace": ".trace",
    "Span": ".window", "add_energy": ".window", "measure": ".window",
})
