"""Rebuild a run's trained model from its checkpoint (the implementation of ``benchmarks.load_model``)."""
from __future__ import annotations

import os
from typing import Any

import torch.nn as nn

from recipes.errors import UserError
from recipes.files import check_regular

from .models import create_model
from .training.checkpoint import checkpoint_path, load_checkpoint


class CheckpointError(UserError):
    """A run folder without the requested checkpoint."""


def load_model(run_dir: str, which: str = "best", device: Any = "cpu") -> nn.Module:
    if which not in ("best", "last", "target"):
        raise CheckpointError(f"which must be 'best' or 'last' (or 'target', a benchmark run's), got {which!r}")
    path = checkpoint_path(run_dir, which)
    check_regular(path, "checkpoint", error=lambda reason: CheckpointError(f"{path}: {reason}"))
    if not os.path.isfile(path):
        have = [f for f in ("checkpoint-best.pt", "checkpoint-last.pt") if os.path.isfile(os.path.join(run_dir, f))]
        raise CheckpointError(f"{path} does not exist" + (f"; the run folder has {', '.join(have)}" if have else
                                                          "; has the run trained an epoch yet?"))
    state = load_checkpoint(path, map_location="cpu")
    spec = state["model_spec"]
    model = create_model(spec, spec["num_classes"], spec["in_chans"])
    model.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
    return model.to(device).eval()
