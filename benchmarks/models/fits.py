"""Whether a model (and one forward of it) fits in this machine's memory, estimated before anything is allocated.

``robustperf profile wrn-1000-1024`` or a run of ``model.width: 1024`` asked the allocator for terabytes and
ended in its traceback (``DefaultCPUAllocator: can't allocate memory``) after minutes; an input of
3x100000x100000 did the same in the forward. Here the model is built on PyTorch's ``meta`` device (shapes only,
no storage: instant for any size), its parameters are counted, and one forward of ``meta`` tensors gives every
module's output shape. The estimate is

    parameters x 4 bytes x (4 when training: weights, gradients, optimizer state, a copy)
    + the input + 3 x the largest activation (the forward keeps about that much alive)

against the memory available now (``psutil.virtual_memory().available``, or the free memory of the CUDA device).
An estimate above it is a :class:`ModelTooLargeError` (exit 2) naming the figures; it is labelled an estimate,
and errs on the side of letting a borderline model through (the allocator then decides).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from recipes.errors import UserError

__all__ = ["ModelTooLargeError", "Footprint", "footprint", "check_fits", "available_bytes"]

#: bytes per parameter and per activation element (fp32)
BYTES = 4
#: copies of the parameters training keeps (weights, gradients, momentum or Adam's two moments, EMA / a copy)
TRAINING_COPIES = 4
#: activations alive at once during a forward, in units of the largest one
LIVE_ACTIVATIONS = 3


class ModelTooLargeError(UserError):
    """The model, or one forward of it, needs more memory than the machine has available (estimated)."""


@dataclass(frozen=True)
class Footprint:
    """Parameters and the largest activation (elements) of a model, from a ``meta`` build and forward."""

    params: int
    largest_activation: int
    input_elements: int

    def bytes(self, training: bool = False) -> int:
        copies = TRAINING_COPIES if training else 1
        return BYTES * (self.params * copies + self.input_elements + LIVE_ACTIVATIONS * self.largest_activation)


def footprint(build, input_shape: Optional[Sequence[int]] = None, batch: int = 1) -> Footprint:
    """The :class:`Footprint` of the model ``build()`` makes (called under ``torch.device("meta")``).

    Args:
        build: makes the model; must not move it to a device.
        input_shape: one sample's (C, H, W); None: no forward (parameters only).
        batch: samples per forward.
    """
    with torch.device("meta"):
        model = build()
    params = sum(p.numel() for p in model.parameters())
    if input_shape is None:
        return Footprint(params, 0, 0)
    largest = [0]

    def record(_module, _inputs, output):
        for out in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(out, torch.Tensor):
                largest[0] = max(largest[0], out.numel())

    hooks = [m.register_forward_hook(record) for m in model.modules()]
    x = torch.zeros((batch, *input_shape), device="meta")
    try:
        with torch.no_grad():
            model.eval()(x)
    except Exception:  # noqa: BLE001 - an op without a meta kernel: judge the parameters and the input alone
        pass
    finally:
        for hook in hooks:
            hook.remove()
    return Footprint(params, max(largest[0], x.numel()), x.numel())


def available_bytes(device: Any = "cpu") -> int:
    """Memory a new allocation can use now: free memory of a CUDA device, else the machine's available RAM."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_fits(what: str, fp: Footprint, *, training: bool = False, device: Any = "cpu") -> None:
    """Refuse ``fp`` when its estimated memory exceeds what ``device`` has available.

    Raises:
        ModelTooLargeError: naming ``what``, the parameter count, the estimate and what is available.
    """
    need, have = fp.bytes(training), available_bytes(device)
    if need > have:
        activation = f", its largest activation {fp.largest_activation:,} values" if fp.largest_activation else ""
        use = "training" if training else "one forward"
        copies = f" x {TRAINING_COPIES}" if training else ""
        raise ModelTooLargeError(
            f"{what} has {fp.params:,} parameters{activation}: {use} needs about {_gb(need)} (estimated: fp32 "
            f"parameters{copies} and activations), but {torch.device(device)} has {_gb(have)} available; choose "
            "a smaller model or input")
