"""benchmarks: the workloads of robustperf - models, data, attacks, training, measurement, evaluation.

Importing the package is cheap (the CLI imports it for ``robustperf --help``); :func:`load_model` and
:func:`load_dataset` load torch and timm on first use.
"""
from __future__ import annotations

from typing import Any

__all__ = ["load_model", "load_dataset"]


def load_model(run_dir: str, which: str = "best", device: Any = "cpu"):
    """The trained network of a run, in eval mode, taking images in [0, 1].

    Args:
        run_dir: the run's folder (``runs/<run_id>``).
        which: ``best`` (highest per-epoch PGD accuracy on the subset) or ``last``.
        device: where to put it.

    Returns:
        The ``nn.Module`` with the EMA weights when the run used EMA, else the trained weights.

    Raises:
        UserError: no such checkpoint in ``run_dir``, or one that is damaged or does not fit its ``model_spec``
            (the entry and the shapes are named).
    """
    from ._loading import load_model as _load_model

    return _load_model(run_dir, which, device)


def load_dataset(name: str, split: str, root=None, image_size=None):
    """A split as ``(images float32 NxCxHxW in [0, 1], labels int64)``, in dataset order (see
    :func:`benchmarks.datasets.load_dataset`)."""
    from .datasets import load_dataset as _load_dataset

    return _load_dataset(name, split, root, image_size)
