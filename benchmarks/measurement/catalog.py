"""The built-in energy meters (``measurement.energy_source``), declared once: name, code, devices, auto order.

Torch-free (see :mod:`recipes.catalog`); registered under the ``robustperf.meters`` entry-point group in the
project's ``setup.cfg``. ``energy_source: auto`` tries the meters of the run's devices by ``auto`` rank, first
readable wins (``zeus`` first, on GPU and CPU runs); the labelled TDP estimate (``measurement.tdp_watts``) and
``unavailable`` are the meter's own fallbacks, not plug-ins.
"""
from recipes.catalog import MeterEntry

_M = "benchmarks.measurement"

ZEUS = MeterEntry(
    name="zeus", impl=f"{_M}.zeus_meter:open_zeus", doc="ML.ENERGY's Zeus: the run's GPUs (NVML or AMD SMI "
    "total-energy counters) and the host's CPU packages and DRAM (RAPL), split by device kind",
    devices="gpu,cpu", auto=0)
# nvidia-smi stays beside Zeus: it reads power through the driver's CLI where the NVML Python bindings Zeus
# needs cannot load (a container without them, a mismatched library), which Zeus does not cover.
NVIDIA_SMI = MeterEntry(
    name="nvidia-smi", impl=f"{_M}.nvidia:open_nvidia_smi", doc="NVIDIA GPUs: power polled from the "
    "nvidia-smi CLI (where Zeus cannot load NVML)", devices="gpu", auto=1)
