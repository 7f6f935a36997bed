"""Time by layer type of a few training steps, from the torch profiler (``measurement.layer_profile``).

The planning document's "time breakdown by layer type (conv/BN)" of robust versus standard training: over
``measurement.layer_profile_steps`` steps of epoch ``measurement.layer_profile`` (1-based), every operator the
profiler records (the attack's forwards and backwards, the training forward and backward, the optimizer step) is
put in one of :data:`CATEGORIES` by its name: ``convolution`` (``aten::conv*``, ``ConvolutionBackward``),
``normalisation`` (batch, layer and group norm and their backwards), ``activation`` (ReLU, GELU, SiLU, sigmoid,
tanh and their backwards), ``linear`` (linear layers and matrix products: ``addmm``, ``mm``, ``bmm``,
``matmul``) and ``other`` (the rest: optimizer, losses, the attack's sign and clipping, Python between
operators). An operator in a category counts whole, with everything it calls; an operator in none passes its own
(self) time to ``other`` and its callees are looked at in turn; so the categories sum exactly to the profiled
steps' total, which the record gives beside the steps' wall time (the profiler's own overhead is the
difference). The clock is the host's (``cpu``) on the CPU and the device's kernels (``device``) on a GPU, where
the host only launches them.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Iterable, Optional

__all__ = ["CATEGORIES", "category_of", "split_by_type", "LayerProfiler"]

CATEGORIES = ("convolution", "normalisation", "activation", "linear", "other")
STEP_RANGE = "robustperf::layer_profile_step"
_RULES = (
    ("convolution", ("conv",)),
    ("normalisation", ("batch_norm", "batchnorm", "layer_norm", "layernorm", "group_norm", "groupnorm",
                       "instance_norm")),
    ("activation", ("relu", "gelu", "silu", "sigmoid", "tanh", "hardswish", "elu", "mish")),
    ("linear", ("linear", "addmm", "aten::mm", "mmbackward", "bmm", "matmul")),
)


def category_of(name: str) -> Optional[str]:
    """The layer type of a profiler event name, or None (not a layer's operator)."""
    low = name.lower()
    for category, needles in _RULES:
        if any(n in low for n in needles):
            return category
    return None


def split_by_type(roots: Iterable[Any], clock: str = "cpu") -> Dict[str, float]:
    """Seconds per category of the profiler events under ``roots`` (see the module docstring); ``clock`` ``cpu``
    reads host times, ``device`` the kernels' times. Iterative, so a deep call tree cannot overflow the stack."""
    total = "cpu_time_total" if clock == "cpu" else "device_time_total"
    own = "self_cpu_time_total" if clock == "cpu" else "self_device_time_total"
    out = dict.fromkeys(CATEGORIES, 0.0)
    stack = list(roots)
    while stack:
        event = stack.pop()
        category = category_of(event.name)
        if category is not None:
            out[category] += getattr(event, total) / 1e6
        else:
            out["other"] += getattr(event, own) / 1e6
            stack.extend(event.cpu_children)
    return out


class LayerProfiler:
    """Profiles ``steps`` training steps from the start of the (1-based) ``epoch``'s training window.

    :meth:`enter` (the epoch's ``train`` window opens), :meth:`step_done` (after each step) and :meth:`leave`
    (the window closes) drive it; :attr:`result` holds the record's ``timing.layer_profile`` once done.
    """

    def __init__(self, epoch: int, steps: int, device):
        self.epoch, self.steps, self.device = int(epoch), int(steps), device
        self.result: Optional[Dict[str, Any]] = None
        self._prof = self._range = None
        self._count, self._t0 = 0, 0.0

    def enter(self, epoch: int) -> None:
        if self.result is not None or self._prof is not None or epoch != self.epoch:
            return
        import torch
        from torch.profiler import ProfilerActivity, profile, record_function

        activities = [ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
            torch.cuda.synchronize(self.device)
        self._prof = profile(activities=activities)
        self._prof.__enter__()
        self._count, self._t0 = 0, time.perf_counter()
        self._range = record_function(STEP_RANGE)
        self._range.__enter__()

    def step_done(self) -> None:
        if self._prof is None:
            return
        self._count += 1
        if self._count >= self.steps:
            self.leave()

    def leave(self) -> None:
        """Stop profiling (if it runs) and summarise what was profiled."""
        if self._prof is None:
            return
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._range.__exit__(None, None, None)
        wall = time.perf_counter() - self._t0
        prof, self._prof = self._prof, None
        prof.__exit__(None, None, None)
        if not self._count:
            return
        clock = "device" if self.device.type == "cuda" else "cpu"
        roots = [e for e in prof.events() if e.name == STEP_RANGE and e.cpu_parent is None]
        if clock == "device":  # kernels launched from any thread (the autograd engine's) count
            roots = [e for e in prof.events() if e.cpu_parent is None]
        seconds = split_by_type(roots, clock)
        profiled = sum(seconds.values())
        self.result = {"epoch": self.epoch, "steps": self._count, "clock": clock, "wall_seconds": wall,
                       "profiled_seconds": profiled, "seconds": seconds,
                       "share": {k: (v / profiled if profiled else None) for k, v in seconds.items()},
                       "source": "torch.profiler"}
