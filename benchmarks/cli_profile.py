"""``robustperf profile MODEL``: parameters, MACs and FLOPs of one forward, counted by DeepSpeed.

MODEL is a CIFAR WideResNet (``wrn-28-10``, ``wrn-70-16-gelu``, ``wrn28_10``), a model family (``sdn_vgg16``,
``sdn_resnet56``, ``sdn_mobilenet``, ``preact_resnet18``, ...) or any timm model name (``resnet18``). For a
multi-exit model (the SDNs) it also prints the exits and the cumulative FLOPs up to each exit. FLOPs follow DeepSpeed's convention (2 x MACs for conv/linear, plus batch norm, activations and
pooling); WRN-28-10 at 3x32x32 is 36.5 M parameters and 10.5 GFLOPs. The weights are never initialised (the
count depends on shapes only), so even WRN-70-16 takes seconds.
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
    parser.add_argument("--input", default="3x32x32", metavar="CxHxW", help="one sample's shape (default 3x32x32)")
    parser.add_argument("--num-classes", type=int, default=10, help="classifier outputs (default 10)")
    parser.add_argument("--json", action="store_true",
                        help='print {"model", "params", "forward_macs", "forward_flops"} as JSON')


def parse_input(text: str) -> Tuple[int, ...]:
    from recipes.errors import UserError

    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"--input {text!r}: expected CxHxW with positive integers, e.g. 3x32x32")
    return tuple(int(p) for p in parts)


def model_config(name: str) -> Dict[str, Any]:
    """The recipe ``model`` section MODEL stands for."""
    from recipes.errors import UserError
    from recipes import section_fields

    match = _WRN.match(name)
    if match is None:
        return {"arch": name}
    depth, width, activation = int(match.group(1)), int(match.group(2)), (match.group(3) or "relu").lower()
    choices = section_fields("model")["activation"]["choices"]
    if activation not in choices:
        raise UserError(f"{name}: unknown activation {activation!r}; valid: {', '.join(choices)}")
    if depth < 10 or (depth - 4) % 6:
        raise UserError(f"{name}: WideResNet depth must be 6n+4 (10, 16, 22, 28, 34, 40, 70, ...), got {depth}")
    return {"arch": "wrn", "depth": depth, "width": width, "activation": activation}


def profile(name: str, input_shape: Tuple[int, ...], num_classes: int = 10) -> Dict[str, Any]:
    """``{"model", "params", "forward_macs", "forward_flops", "input"}`` of MODEL ``name``."""
    import torch

    from recipes import ModelConfig

    from .measurement import forward_flops_per_sample
    from .models import create_model

    cfg = ModelConfig(**model_config(name))
    # Built on the meta device and given uninitialised CPU storage: initialising WRN-70-16 takes longer than
    # counting it. The forward itself runs on the CPU for real, since DeepSpeed's counter double-counts
    # linear layers whose meta kernels call matmul from Python.
    with torch.device("meta"):
        model = create_model(cfg, num_classes, input_shape[0], image_size=input_shape[-1])
    model = model.to_empty(device="cpu").eval()
    counts = forward_flops_per_sample(model, input_shape)
    out = {"model": name, **counts, "input": "x".join(map(str, input_shape))}
    if hasattr(model, "exits"):   # a multi-exit model: exits and the cumulative FLOPs up to each
        from .measurement import exit_forward_flops

        out.update(ics=model.num_ics, exits=model.num_exits,
                   exit_cumulative_flops=exit_forward_flops(model, input_shape)["exit_cumulative_flops"])
    return out


def main(args) -> int:
    result = profile(args.model, parse_input(args.input), args.num_classes)
    keys = ("model", "params", "forward_macs", "forward_flops", "ics", "exits", "exit_cumulative_flops")
    if args.json:
        print(json.dumps({k: result[k] for k in keys if k in result}))
    else:
        print(f"{result['model']} at {result['input']}: {result['params']:,} params, "
              f"{result['forward_macs'] / 1e9:.2f} GMACs, {result['forward_flops'] / 1e9:.2f} GFLOPs per forward "
              f"(DeepSpeed flops profiler)", file=sys.stdout)
        if "exits" in result:
            full = result["exit_cumulative_flops"][-1]
            print(f"{result['ics']} internal classifiers + the final classifier = {result['exits']} exits; "
                  "cumulative FLOPs up to each exit (backbone + every IC head on the way):")
            for i, c in enumerate(result["exit_cumulative_flops"], 1):
                print(f"  exit {i:2d}: {c / 1e6:10.2f} MFLOPs  ({c / full:6.1%})")
    return 0
