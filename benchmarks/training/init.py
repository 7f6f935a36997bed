"""Pre-trained starting points: ``model.init``, a local checkpoint the run's weights start from.

Accepted: a plain ``state_dict`` (name -> tensor) in a ``.pth`` / ``.pt`` / ``.bin`` file (``torch.load`` with
``weights_only=True``: never runs code from the file) or in a ``.safetensors`` file (no code by design), timm's
two formats; a ``{"state_dict": ...}`` wrapper; or a checkpoint this suite wrote (a finished run's
``checkpoint-best.pt`` / ``-last.pt``: its evaluated weights, the EMA's or SWA's where it has them). Nothing is
ever downloaded. The weights must fit the run's model: every tensor's name and shape, except the classifier's
(the model's last ``nn.Linear``), whose weights are left as initialised when their shape differs (an ImageNet
head on a 10-class model), as timm's pre-trained loading does. A file that is not such a checkpoint, names
unknown tensors or misses some of the model's is refused with one line naming ``model.init``
(:class:`recipes.errors.RecipeError`, exit 2). What was loaded goes into the record's ``pretraining`` group with
the file's SHA-256 (the run id holds its path).
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, List

import torch
import torch.nn as nn

from recipes.errors import RecipeError
from recipes.files import FileKindError, open_regular

__all__ = ["load_init", "file_sha256"]

KEY = "model.init"


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open_regular(path, "checkpoint") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _refuse(path: str, reason: str) -> RecipeError:
    return RecipeError(f"{path}: {reason}", key=KEY, value=path)


def _read(path: str) -> Any:
    try:
        if path.lower().endswith(".safetensors"):
            from safetensors.torch import load as load_safetensors

            with open_regular(path, "checkpoint") as fh:
                return load_safetensors(fh.read())
        with open_regular(path, "checkpoint") as fh:
            return torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise _refuse(path, "no such file (model.init is a local file; nothing is downloaded)") from None
    except (OSError, FileKindError) as err:
        raise _refuse(path, f"cannot be read ({getattr(err, 'strerror', None) or err})") from None
    except Exception as err:  # noqa: BLE001 - torch/safetensors raise UnpicklingError, RuntimeError, ... on hostile data
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise _refuse(path, f"not a weights-only checkpoint ({type(err).__name__}: {reason})") from None


def _weights(path: str, state: Any) -> Dict[str, torch.Tensor]:
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # a checkpoint of this suite
        state = state["ema"] if isinstance(state.get("ema"), dict) else state["model"]
    elif isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not (isinstance(state, dict) and state and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                      for k, v in state.items())):
        raise _refuse(path, "holds no state_dict (a mapping of names to tensors)")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _head(model: nn.Module) -> List[str]:
    linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return [f"{linear[-1]}.weight", f"{linear[-1]}.bias"] if linear else []


def load_init(path: str, model: nn.Module) -> Dict[str, Any]:
    """Load ``path``'s weights into ``model`` (see the module docstring); returns what the record keeps.

    Raises:
        RecipeError: the file is missing, hostile, not a state_dict, or does not fit the model (key model.init).
    """
    weights = _weights(path, _read(path))
    own = model.state_dict()
    head = _head(model)
    unknown = sorted(k for k in weights if k not in own)
    if unknown:
        raise _refuse(path, f"holds {len(unknown)} tensor(s) the model has not, e.g. {unknown[0]!r}")
    loaded, kept = {}, []
    for name, value in weights.items():
        mine = own[name]
        if tuple(value.shape) != tuple(mine.shape):
            if name in head:
                kept.append(name)
                continue
            raise _refuse(path, f"{name!r} has shape {tuple(value.shape)}, the model's {tuple(mine.shape)}")
        if value.is_floating_point() != mine.is_floating_point():
            raise _refuse(path, f"{name!r} is {value.dtype}, the model's {mine.dtype}")
        loaded[name] = value.to(mine.dtype)
    missing = sorted(k for k in own if k not in weights and not k.endswith("num_batches_tracked"))
    if missing:
        raise _refuse(path, f"lacks {len(missing)} of the model's tensor(s), e.g. {missing[0]!r}")
    model.load_state_dict(loaded, strict=False)
    return {"init": path, "init_sha256": file_sha256(path), "init_tensors": len(loaded), "init_head_kept": kept}
