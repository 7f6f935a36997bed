"""Peak resident memory of a block of this process, even late in a test session.

``ru_maxrss`` is a high-water mark over the process's whole life (and, on Linux, survives ``execve``, so a child
started from a large pytest process reports the parent's size): a block that allocates less than the earlier
peak shows no growth at all. On Linux the kernel's peak (``VmHWM``) is reset to the current size first
(``/proc/self/clear_refs``), so the figure is this block's own; elsewhere ``ru_maxrss`` is the fallback.
"""
from __future__ import annotations

import resource


def _vm_hwm_kb():
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> int:
    """Reset the peak to the current size where the kernel allows it; return the baseline in kB."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass
    hwm = _vm_hwm_kb()
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_kb() -> int:
    """Peak resident memory since :func:`reset_peak` (Linux) or since the process started (elsewhere), kB."""
    hwm = _vm_hwm_kb()
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
