"""Rebuild a run's trained model from its checkpoint (the implementation of ``benchmarks.load_model``), after
checking that the checkpoint describes and holds that model (:mod:`benchmarks.training.checkpoint_check`)."""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn as nn

from recipes.errors import UserError
from recipes.files import check_regular

from .datasets import dataset_info
from .models import create_model, model_spec
from .training.checkpoint import DamagedCheckpointError, checkpoint_path, load_checkpoint
from .training.checkpoint_check import CheckpointMismatch, check_checkpoint_weights, check_spec


class CheckpointError(UserError):
    """A run folder without the requested checkpoint."""


def run_model_spec(run_config) -> Dict[str, Any]:
    """The ``model_spec`` of the model a run trains (its config's model for its data), as the trainer makes it."""
    data = run_config.data
    info = dataset_info(data.name, data.root, data.image_size)
    return model_spec(run_config.model, info.num_classes, info.in_chans, info.mean, info.std, image_size=info.size)


def _build(spec: Dict[str, Any], device: Any = None) -> nn.Module:
    try:
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return create_model(spec, spec["num_classes"], spec["in_chans"])
    except Exception as err:  # noqa: BLE001 - the description comes from a file: any failure means it is wrong
        raise CheckpointMismatch("model_spec", f"does not describe a model this suite builds ({type(err).__name__}: "
                                               f"{' '.join(str(err).split())[:200]})") from None


def checks_model_of(run_config) -> Callable[[str, dict], None]:
    """``check(path, state)``: a loaded checkpoint's model is the run's (spec and weights; the model is built on
    the meta device, so no memory is spent) - for ``robustperf run --restart`` (:func:`benchmarks.recovery.restart`).
    """
    expected = run_model_spec(run_config)
    reference = _build(expected, "meta").state_dict()

    def check(path: str, state: dict) -> None:
        try:
            check_spec(state.get("model_spec"), expected)
            check_checkpoint_weights(state, reference)
        except CheckpointMismatch as err:
            raise DamagedCheckpointError(path, str(err), fits=False) from None

    return check


def load_model(run_dir: str, which: str = "best", device: Any = "cpu", run_config: Optional[Any] = None,
               remedy: Optional[str] = None) -> nn.Module:
    """The model of checkpoint ``which`` of a run, checked: its ``model_spec`` names a model (with ``run_config``:
    the run's own) and its weights fit that model; ``remedy`` replaces the ``--restart`` advice of the errors.

    Raises:
        CheckpointError: no such checkpoint.
        DamagedCheckpointError: it cannot be loaded or does not fit (one line: the entry, the shapes).
    """
    if which not in ("best", "last", "target"):
        raise CheckpointError(f"which must be 'best' or 'last' (or 'target', a benchmark run's), got {which!r}")
    path = checkpoint_path(run_dir, which)
    check_regular(path, "checkpoint", error=lambda reason: CheckpointError(f"{path}: {reason}"))
    if not os.path.isfile(path):
        have = [f for f in ("checkpoint-best.pt", "checkpoint-last.pt") if os.path.isfile(os.path.join(run_dir, f))]
        raise CheckpointError(f"{path} does not exist" + (f"; the run folder has {', '.join(have)}" if have else
                                                          "; has the run trained an epoch yet?"))
    try:
        state = load_checkpoint(path, map_location="cpu")
    except DamagedCheckpointError as err:
        raise DamagedCheckpointError(path, err.reason, remedy=remedy) from None
    try:
        spec = check_spec(state.get("model_spec"), run_model_spec(run_config) if run_config is not None else None)
        model = _build(spec)
        weights = check_checkpoint_weights(state, model.state_dict())
    except CheckpointMismatch as err:
        raise DamagedCheckpointError(path, str(err), fits=False, remedy=remedy) from None
    model.load_state_dict(state[weights])
    return model.to(device).eval()
