"""Numeric precisions of inference, one plug-in each: ``register_precision(name)`` / ``get_precision(name)``.

A precision turns the trained fp32 model into a :class:`Prepared` model that takes fp32 images in [0, 1] on
its device and returns fp32 logits, or raises :class:`Unsupported` with the reason (the caller reports it;
nothing is skipped silently). Whether a device can run a precision is found by trying: each precision runs
one probe forward pass, so a missing kernel becomes a reason in the output instead of a crash mid-benchmark.

* ``fp32``: the model as trained (on CUDA, cuDNN may use TF32 for convolutions when
  ``torch.backends.cudnn.allow_tf32`` is on, PyTorch's default; the setting is recorded).
* ``bf16`` / ``fp16``: ``torch.autocast`` around the forward (weights stay fp32, eligible ops run in the
  reduced type), logits cast back to fp32: gradients exist, so AutoAttack runs on it.
* ``int8``: PyTorch's own post-training static quantization (``torch.ao.quantization`` FX graph mode,
  per-channel int8 weights, int8 activations, the ``x86`` engine (fbgemm + oneDNN) or ``fbgemm``/``qnnpack``
  where that is what the build has), calibrated on training images. Quantized kernels run on the CPU only, and
  the rounding has no gradient, so its robust accuracy is measured by transfer of the fp32 model's AutoAttack
  examples.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn

from ..models import outputs

__all__ = ["Prepared", "Unsupported", "register_precision", "get_precision", "list_precisions", "final_logits",
           "AutocastModel"]

#: Robust-accuracy methods a precision can have.
AUTOATTACK = "autoattack"
TRANSFER = "transfer"


class Unsupported(Exception):
    """This device (or this model) cannot run the precision; ``str(err)`` is the reason."""


@dataclass
class Prepared:
    """A model ready to run at one precision.

    Attributes:
        model: takes fp32 images in [0, 1] on ``device``, returns fp32 logits.
        device: where it runs.
        backend: how the precision is implemented, in words (goes to the output).
        robust_method: ``autoattack`` (gradients exist) or ``transfer`` (fp32 AutoAttack examples).
        details: extra facts for the output (engine, calibration size, output dtype, TF32 setting).
    """

    model: nn.Module
    device: torch.device
    backend: str
    robust_method: str
    details: Dict[str, object]


PrepareFn = Callable[[nn.Module, torch.device, torch.Tensor], Prepared]
_PRECISIONS: Dict[str, PrepareFn] = {}


def register_precision(name: str) -> Callable[[PrepareFn], PrepareFn]:
    """Register ``fn(model, device, calibration_images) -> Prepared`` under ``name``."""
    def wrap(fn: PrepareFn) -> PrepareFn:
        if name in _PRECISIONS:
            raise ValueError(f"precision {name!r} is already registered")
        _PRECISIONS[name] = fn
        return fn
    return wrap


def get_precision(name: str) -> PrepareFn:
    try:
        return _PRECISIONS[name]
    except KeyError:
        raise KeyError(f"unknown precision {name!r}; registered: {', '.join(list_precisions())}") from None


def list_precisions() -> List[str]:
    """Registered precision names, in registration order (fp32 first: the reference)."""
    return list(_PRECISIONS)


def final_logits(output):
    """The last logits of a model that may return one per exit (a list or tuple), else the output itself
    (:func:`benchmarks.models.outputs.final_logits`)."""
    if isinstance(output, torch.fx.Proxy):  # int8's FX trace: a single-output graph's symbolic output
        return output
    return outputs.final_logits(output)


class _Logits(nn.Module):
    """``final_logits(model(x))`` as fp32: one output whatever the model returns."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return final_logits(self.model(x)).float()


class AutocastModel(nn.Module):
    """The model under ``torch.autocast(device_type, dtype)``, logits returned as fp32."""

    def __init__(self, model: nn.Module, device_type: str, dtype: torch.dtype):
        super().__init__()
        self.model = model
        self.device_type = device_type
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            out = final_logits(self.model(x))
        return out.float()


def _probe(model: nn.Module, x: torch.Tensor, what: str):
    try:
        with torch.inference_mode():
            return model(x)
    except Exception as err:  # noqa: BLE001 - any failure of the probe is the reason this precision cannot run
        raise Unsupported(f"{what} failed on this device: {type(err).__name__}: {str(err).splitlines()[0][:300]}")


def _sample(calibration: torch.Tensor, device: torch.device) -> torch.Tensor:
    return calibration[:1].to(device)


def _tf32() -> Dict[str, object]:
    return {"cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "matmul_precision": torch.get_float32_matmul_precision()}


@register_precision("fp32")
def _fp32(model: nn.Module, device: torch.device, calibration: torch.Tensor) -> Prepared:
    wrapped = _Logits(model).to(device).eval()
    _probe(wrapped, _sample(calibration, device), "an fp32 forward")
    details = _tf32() if device.type == "cuda" else {}
    return Prepared(wrapped, device, "eager fp32", AUTOATTACK, details)


def _autocast(dtype: torch.dtype, name: str) -> PrepareFn:
    def prepare(model: nn.Module, device: torch.device, calibration: torch.Tensor) -> Prepared:
        if not torch.amp.is_autocast_available(device.type):
            raise Unsupported(f"torch.autocast is not available for device type {device.type!r}")
        if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise Unsupported(f"{torch.cuda.get_device_name(device)} does not support bfloat16 "
                              "(torch.cuda.is_bf16_supported() is False)")
        wrapped = AutocastModel(model, device.type, dtype).to(device).eval()
        x = _sample(calibration, device)
        with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=dtype):
            try:
                raw = final_logits(model.to(device)(x))
            except Exception as err:  # noqa: BLE001
                raise Unsupported(f"a {name} autocast forward failed on this device: {type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:300]}") from None
        return Prepared(wrapped, device, f"torch.autocast({device.type}, {name})", AUTOATTACK,
                        {"logits_dtype": str(raw.dtype).replace("torch.", "")})
    return prepare


register_precision("bf16")(_autocast(torch.bfloat16, "bfloat16"))
register_precision("fp16")(_autocast(torch.float16, "float16"))

#: Quantized engines in order of preference (x86 = fbgemm + oneDNN, PyTorch's default on x86 since 2.0).
INT8_ENGINES = ("x86", "fbgemm", "onednn", "qnnpack")


def quantized_engine() -> Optional[str]:
    """The int8 engine this PyTorch build offers first among :data:`INT8_ENGINES`, None when none."""
    engines = set(torch.backends.quantized.supported_engines)
    return next((e for e in INT8_ENGINES if e in engines), None)


@register_precision("int8")
def _int8(model: nn.Module, device: torch.device, calibration: torch.Tensor) -> Prepared:
    if device.type != "cpu":
        raise Unsupported(f"PyTorch's int8 kernels (torch.ao.quantization: x86/fbgemm/oneDNN/qnnpack) run on the CPU "
                          f"only; there is no {device.type} int8 inference path in torch {torch.__version__}")
    engine = quantized_engine()
    if engine is None:
        engines = torch.backends.quantized.supported_engines
        raise Unsupported(f"this PyTorch build has no quantized engine (torch.backends.quantized.supported_engines = "
                          f"{engines})")
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao (not installed here); it still works in this torch.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        torch.backends.quantized.engine = engine
        float_model = _Logits(copy.deepcopy(model)).cpu().eval()
        example = calibration[:1].cpu()
        try:
            observed = prepare_fx(float_model, get_default_qconfig_mapping(engine), (example,))
        except Exception as err:  # noqa: BLE001 - e.g. data-dependent control flow FX cannot trace
            raise Unsupported(f"torch.ao.quantization FX could not trace the model: {type(err).__name__}: "
                              f"{str(err).splitlines()[0][:300]}") from None
        with torch.inference_mode():
            for start in range(0, calibration.shape[0], 256):
                observed(calibration[start:start + 256].cpu())
        quantized = convert_fx(observed).eval()
    _probe(quantized, example, "an int8 forward")
    backend = (f"torch.ao.quantization FX post-training static (int8 activations, per-channel int8 weights), "
               f"{engine} engine")
    return Prepared(quantized, device, backend, TRANSFER,
                    {"engine": engine, "calibration_images": int(calibration.shape[0])})


@contextlib.contextmanager
def threads(n: Optional[int]):
    """Run the block with ``torch.set_num_threads(n)`` (None: unchanged), restoring the previous count."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
