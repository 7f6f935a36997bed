"""Checkpoint files: atomic writes, ``weights_only`` loads, and the random-number-generator states.

A checkpoint is a plain nested dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``. RNG states (python, numpy, torch CPU and CUDA) are stored as tensors and
plain types for the same reason. Writes go through :func:`results.atomic_write` (temp file, fsync, rename): a
run killed while saving leaves the previous checkpoint intact.
"""
from __future__ import annotations

import io
import os
import random
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

from recipes.errors import UserError
from recipes.files import open_regular
from results import atomic_write

__all__ = ["LAST", "BEST", "TARGET", "CHECKPOINT_FORMAT", "DamagedCheckpointError", "checkpoint_path",
           "save_checkpoint", "load_checkpoint", "get_rng_state", "set_rng_state", "on_checkpoint_write"]

LAST = "checkpoint-last.pt"
BEST = "checkpoint-best.pt"
#: the weights of the epoch that first reached the run's benchmark target (benchmarks.training.target)
TARGET = "checkpoint-target.pt"
_FILES = {"last": LAST, "best": BEST, "target": TARGET}
#: the version of the trainer's checkpoint layout (``state["format"]``; checkpoint_check refuses a newer one)
CHECKPOINT_FORMAT = 1

_before_rename: Optional[Callable[[object], None]] = None


def on_checkpoint_write(hook: Optional[Callable[[object], None]]) -> None:
    """Call ``hook(file)`` in every checkpoint write, after the data and before the rename (the kill tests'
    ``checkpoint_write`` point, :mod:`benchmarks.interruption`); None removes it."""
    global _before_rename
    _before_rename = hook


def checkpoint_path(run_dir: str, which: str) -> str:
    """``run_dir/checkpoint-{which}.pt`` for ``which`` in ``last``, ``best``, ``target``."""
    if which not in _FILES:
        raise ValueError(f"which must be one of {', '.join(_FILES)}, got {which!r}")
    return os.path.join(run_dir, _FILES[which])


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """Serialise ``state`` with ``torch.save`` and write it atomically to ``path``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()

    def write(fh):
        fh.write(data)
        if _before_rename is not None:
            fh.flush()
            _before_rename(fh)

    atomic_write(path, write)


class DamagedCheckpointError(UserError):
    """A checkpoint file that cannot be loaded (truncated, overwritten, not a checkpoint) or, with ``fits=False``,
    that loads but does not fit the run (another model's weights, wrong shapes or types anywhere:
    :mod:`.checkpoint_check`). ``remedy`` replaces the default advice (``robustperf run --restart``)."""

    RESTART = ("Rerun the same `robustperf run` command with --restart: it moves the file aside ({name}.damaged-"
               "<time>) and starts the run over (or resumes from the last checkpoint when only the best one is "
               "damaged)")

    def __init__(self, path: str, reason: str, *, fits: bool = True, remedy: Optional[str] = None):
        self.path, self.reason, self.fits = path, reason, fits
        what = "is damaged and cannot be loaded" if fits else "does not fit this run"
        remedy = remedy or self.RESTART.format(name=os.path.basename(path))
        super().__init__(f"{path} {what} ({reason}). {remedy}")


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: never runs code from the file).

    Raises:
        DamagedCheckpointError: the file is truncated, corrupt or not a checkpoint (exit 2, with how to recover).
        FileNotFoundError: there is no such file.
    """
    try:  # a regular file only: a FIFO or device would block or never end (recipes/files.py)
        with open_regular(path, "checkpoint", error=lambda reason: DamagedCheckpointError(path, reason)) as fh:
            state = torch.load(fh, map_location=map_location, weights_only=True)
    except (FileNotFoundError, DamagedCheckpointError):
        raise
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... on damage
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DamagedCheckpointError(path, f"{type(err).__name__}: {reason[:300]}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise DamagedCheckpointError(path, "it does not hold a robustperf checkpoint (no 'model' entry)")
    return state


def get_rng_state() -> Dict[str, Any]:
    """All global RNG states of this process, in ``weights_only``-loadable form."""
    version, keys, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": version, "keys": torch.tensor(keys, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the states captured by :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(k) for k in py["keys"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["gauss"]))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
