"""The built-in energy meters (``measurement.energy_source``), declared once: name, code, devices, auto order.

Torch-free (see :mod:`recipes.catalog`); registered under the ``robustperf.meters`` entry-point group in the
project's ``setup.cfg``. ``energy_source: auto`` tries the meters of the run's devices by ``auto`` rank, first
readable wins; the labelled TDP estimate (``measurement.tdp_watts``) and ``unavailable`` are the meter's own
fallbacks, not plug-ins.
"""
from recipes.catalog import MeterEntry

_M = "benchmarks.measurement"

NVML = MeterEntry(
    name="nvml", impl=f"{_M}.nvidia:open_nvml", doc="NVIDIA GPUs: NVML's total-energy counter (Volta and later), "
    "else its power readings", devices="gpu", auto=0)
NVIDIA_SMI = MeterEntry(
    name="nvidia-smi", impl=f"{_M}.nvidia:open_nvidia_smi", doc="NVIDIA GPUs: power polled from nvidia-smi",
    devices="gpu", auto=1)
RAPL = MeterEntry(
    name="rapl", impl=f"{_M}.rapl:open_rapl", doc="CPU packages and DRAM: Intel/AMD RAPL counters in "
    "/sys/class/powercap", devices="cpu", auto=0)
