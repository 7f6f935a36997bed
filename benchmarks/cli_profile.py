"""``robustperf profile MODEL``: parameters (and their memory per storage dtype: fp32, bf16, fp16, fp8, int8), MACs
and FLOPs of one forward, counted by DeepSpeed.

MODEL is a CIFAR WideResNet (``wrn-28-10``, ``wrn-70-16-gelu``, ``wrn28_10``), a model family (``sdn_vgg16``,
``sdn_resnet56``, ``sdn_mobilenet``, ``preact_resnet18``, ...) or any timm model name (``resnet18``). For a
multi-exit model (the SDNs) it also prints the exits and the cumulative FLOPs up to each exit. FLOPs follow DeepSpeed's convention (2 x MACs for conv/linear, plus batch norm, activations and
pooling); WRN-28-10 at 3x32x32 is 36.5 M parameters and 10.5 GFLOPs. The weights are never initialised (the
count depends on shapes only), so even WRN-70-16 takes seconds. A
model whose parameters and activations would not fit in the memory available is refused before it is built
(``benchmarks/models/fits.py``), as are a depth or width outside the recipe bounds.
"""
from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict, Tuple

HELP = "parameters, MACs and FLOPs of one forward of a model (DeepSpeed flops profiler)"

_WRN = re.compile(r"^wrn-?(\d+)[-_](\d+)(?:-(\w+))?$", re.IGNORECASE)


def add_arguments(parser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="wrn-DEPTH-WIDTH[-ACTIVATION] (e.g. wrn-28-10, wrn-70-16-gelu) or a timm model name")
    parser.add_argument("--input", default="3x32x32", metavar="CxHxW", help="one sample's shape (default 3x32x32): at most 1024 channels "
                        "and 8192 pixels a side; a model and input too large for this machine's memory are refused")
    parser.add_argument("--num-classes", type=int, default=10, help="classifier outputs (default 10; 1 to 10^6)")
    parser.add_argument("--json", action="store_true",
                        help='print {"model", "params", "param_bytes", "forward_macs", "forward_flops"} as JSON')


#: the most channels ``--input`` takes (images have 1 to 4; a stack of 1024 is already no image)
MAX_CHANNELS = 1024
#: the most classes ``--num-classes`` takes (ImageNet-21k has 21,841)
MAX_CLASSES = 1_000_000


def parse_input(text: str) -> Tuple[int, ...]:
    """``CxHxW`` as integers: C from 1 to :data:`MAX_CHANNELS`, H and W from 1 to the recipe bound of
    ``data.image_size`` (8192; recipes/bounds.py)."""
    from recipes import section_fields
    from recipes.errors import UserError

    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and 0 < int(p) for p in parts):
        raise UserError(f"--input {text!r}: expected CxHxW with positive integers, e.g. 3x32x32")
    side = section_fields("data")["image_size"]["max"]
    channels, height, width = (int(p) for p in parts)
    if channels > MAX_CHANNELS or height > side or width > side:
        raise UserError(f"--input {text!r}: at most {MAX_CHANNELS} channels and {side} pixels a side (an "
                        f"{side}x{side} image is already {side * side * 4 / 2**20:,.0f} MB per channel in fp32)")
    return channels, height, width


def parse_classes(n: int) -> int:
    from recipes.errors import UserError

    if not 1 <= n <= MAX_CLASSES:
        raise UserError(f"--num-classes {n}: expected 1 to {MAX_CLASSES:,} (ImageNet-21k has 21,841)")
    return n


def model_config(name: str) -> Dict[str, Any]:
    """The recipe ``model`` section MODEL stands for."""
    from recipes.errors import UserError
    from recipes import section_fields

    match = _WRN.match(name)
    if match is None:
        return {"arch": name}
    depth, width, activation = int(match.group(1)), int(match.group(2)), (match.group(3) or "relu").lower()
    specs = section_fields("model")
    choices = specs["activation"]["choices"]
    if activation not in choices:
        raise UserError(f"{name}: unknown activation {activation!r}; valid: {', '.join(choices)}")
    if depth < 10 or (depth - 4) % 6:
        raise UserError(f"{name}: WideResNet depth must be 6n+4 (10, 16, 22, 28, 34, 40, 70, ...), got {depth}")
    for key, value in (("depth", depth), ("width", width)):  # the recipe's own bounds (recipes/bounds.py)
        lo, hi = specs[key]["min"], specs[key]["max"]
        if not lo <= value <= hi:
            raise UserError(f"{name}: WideResNet {key} must be from {lo} to {hi} (as model.{key} in a recipe), "
                            f"got {value}")
    return {"arch": "wrn", "depth": depth, "width": width, "activation": activation}


#: bytes per parameter of each storage dtype (fp8: e4m3 / e5m2; int8 without its scales)
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}


def param_bytes(model) -> Dict[str, int]:
    """The parameters' memory in bytes if stored in each dtype of :data:`DTYPE_BYTES` (parameters only: no
    buffers, gradients or optimizer state)."""
    n = sum(p.numel() for p in model.parameters())
    return {dtype: n * size for dtype, size in DTYPE_BYTES.items()}


def profile(name: str, input_shape: Tuple[int, ...], num_classes: int = 10) -> Dict[str, Any]:
    """``{"model", "params", "forward_macs", "forward_flops", "input"}`` of MODEL ``name``."""
    import torch

    from recipes import ModelConfig

    from .measurement import forward_flops_per_sample
    from .models import create_model

    from .models.fits import check_fits, footprint

    cfg = ModelConfig(**model_config(name))
    # Built on the meta device and given uninitialised CPU storage: initialising WRN-70-16 takes longer than
    # counting it. The forward itself runs on the CPU for real, since DeepSpeed's counter double-counts
    # linear layers whose meta kernels call matmul from Python. A model or input too large for this machine's
    # memory is refused first, from a meta build and forward (models/fits.py).
    def build():
        return create_model(cfg, num_classes, input_shape[0], image_size=input_shape[-1])

    check_fits(f"{name} at {'x'.join(map(str, input_shape))}", footprint(build, input_shape))
    with torch.device("meta"):
        model = build()
    model = model.to_empty(device="cpu").eval()
    counts = forward_flops_per_sample(model, input_shape)
    out = {"model": name, **counts, "input": "x".join(map(str, input_shape)), "param_bytes": param_bytes(model)}
    if hasattr(model, "exits"):   # a multi-exit model: exits and the cumulative FLOPs up to each
        from .measurement import exit_forward_flops

        out.update(ics=model.num_ics, exits=model.num_exits,
                   exit_cumulative_flops=exit_forward_flops(model, input_shape)["exit_cumulative_flops"])
    return out


def main(args) -> int:
    result = profile(args.model, parse_input(args.input), parse_classes(args.num_classes))
    keys = ("model", "params", "param_bytes", "forward_macs", "forward_flops", "ics", "exits",
            "exit_cumulative_flops")
    if args.json:
        print(json.dumps({k: result[k] for k in keys if k in result}))
    else:
        print(f"{result['model']} at {result['input']}: {result['params']:,} params, "
              f"{result['forward_macs'] / 1e9:.2f} GMACs, {result['forward_flops'] / 1e9:.2f} GFLOPs per forward "
              f"(DeepSpeed flops profiler)", file=sys.stdout)
        print("parameter memory: " + ", ".join(f"{dtype} {size / 2**20:,.2f} MiB"
                                                for dtype, size in result["param_bytes"].items()))
        if "exits" in result:
            full = result["exit_cumulative_flops"][-1]
            print(f"{result['ics']} internal classifiers + the final classifier = {result['exits']} exits; "
                  "cumulative FLOPs up to each exit (backbone + every IC head on the way):")
            for i, c in enumerate(result["exit_cumulative_flops"], 1):
                print(f"  exit {i:2d}: {c / 1e6:10.2f} MFLOPs  ({c / full:6.1%})")
    return 0
