"""Peak FLOP/s of data-centre GPUs, for model FLOP utilisation (MFU = achieved FLOP/s / peak).

Keyed by the device name NVML (and ``torch.cuda.get_device_name``) reports, lower-cased without the
``NVIDIA``/``Tesla`` prefix; a key matches a name that starts with it followed by a non-alphanumeric character
or the end (so ``a10`` never matches ``A100``, nor ``l4`` ``L40S``); the longest key wins. Values are the
vendors' datasheet peaks in TFLOP/s, dense (without structured sparsity), per precision: ``fp32`` (CUDA cores),
``tf32``/``bf16``/``fp16`` (tensor cores). A device not in the table, or a precision it lacks, gives None and
the caller says "peak unknown" - never a guess.
"""
from __future__ import annotations

import re
from typing import Dict, Optional

SOURCE = "vendor datasheet peak, dense (no sparsity), TFLOP/s"

#: name prefix -> precision -> TFLOP/s
PEAK_TFLOPS: Dict[str, Dict[str, float]] = {
    "h200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},            # H200 SXM
    "h200 nvl": {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5},
    "gh200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "h100 80gb hbm3": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},  # H100 SXM5
    "h100 pcie": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0},
    "a100-sxm4": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
    "a100-pcie": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
    "a100 80gb pcie": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0},
    "l40s": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05},
    "l4": {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0},
    "a10": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0},
    "v100-sxm2": {"fp32": 15.7, "fp16": 125.0},
    "v100-pcie": {"fp32": 14.0, "fp16": 112.0},
}


def normalise(name: str) -> str:
    text = str(name).strip().lower()
    for prefix in ("nvidia ", "tesla "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def device_key(name: Optional[str]) -> Optional[str]:
    """The table key matching a device name, None for an unknown device."""
    if not name:
        return None
    text = normalise(name)
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if re.match(re.escape(key) + r"(?![a-z0-9])", text):
            return key
    return None


def peak_flops(name: Optional[str], precision: str) -> Optional[float]:
    """Peak FLOP/s (not TFLOP/s) of device ``name`` at ``precision``; None when unknown."""
    key = device_key(name)
    value = PEAK_TFLOPS.get(key, {}).get(precision) if key else None
    return None if value is None else value * 1e12
