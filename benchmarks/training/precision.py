"""``training.precision``: the autocast context of the forward passes and the fp16 gradient scaler."""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Optional

import torch

__all__ = ["autocast_factory", "grad_scaler"]


def autocast_factory(precision: str, device: torch.device) -> Callable[[], ContextManager]:
    """``torch.autocast`` in bf16 / fp16 for ``precision`` ``bf16`` / ``fp16`` (CPU autocast too), else a no-op."""
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return lambda: torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext


def grad_scaler(precision: str, device: torch.device) -> Optional[torch.amp.GradScaler]:
    """The gradient scaler fp16 needs (its gradients underflow without loss scaling, Micikevicius et al. 2018);
    None for fp32 and bf16."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None
