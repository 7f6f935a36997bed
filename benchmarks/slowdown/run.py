"""The slowdown evaluation of a run: its splits and its ``evaluation.slowdown`` keys (called by the evaluation).

Calibration uses the training samples the run held out (``data.holdout_fraction``, never trained on); without a
holdout it carves the same fixed 10 % of the training data the model saw, and says so in the warnings (the
thresholds are then optimistic). The attacker's universal perturbations are crafted on the rest of the training
data. The test set is only ever used for the reported numbers.

Nothing here holds a whole training split: the calibration split is read batch by batch (its every-exit logits
are kept, not its images) and the attacker's crafting samples are decoded when an attack draws them; folder
datasets (Tiny ImageNet, image folders) are decoded from their files as the final evaluation reads them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch

from recipes import catalog, slowdown_config
from recipes.errors import UserError

from ..datasets import eval_set, holdout_split
from .evaluate import evaluate_slowdown
from .transfer import load_surrogates

FALLBACK_FRACTION = 0.1


def slowdown_for_run(model, run_config, *, test: Tuple[torch.Tensor, torch.Tensor], meter: Any = None,
                     warnings: Optional[List[str]] = None, log=None, run_dir: Optional[str] = None) -> Dict[str, Any]:
    """The record's ``slowdown`` group of a trained multi-exit ``model`` (see the module docstring); ``run_dir``,
    the run's folder, is where the surrogates of a transfer study are looked up (:mod:`.transfer`)."""
    if not hasattr(model, "exits"):
        multi_exit = [e.name for e in catalog.entries("models").values() if e.multi_exit]
        raise UserError(f"evaluation.slowdown: model.arch {run_config.model.arch!r} is not a multi-exit model "
                        f"(use {', '.join(multi_exit)})")
    cfg = slowdown_config(run_config.evaluation.slowdown)
    data = run_config.data
    train = eval_set(data, "train")   # small splits: tensors; folder datasets: decoded batch by batch when read
    fraction = data.holdout_fraction
    if fraction <= 0:
        fraction = FALLBACK_FRACTION
        message = (f"slowdown: data.holdout_fraction is 0, so the thresholds were calibrated on {fraction:.0%} of "
                   "the training data the model was trained on (optimistic); set data.holdout_fraction")
        if warnings is not None and message not in warnings:
            warnings.append(message)
    kept, held = holdout_split(len(train), fraction)
    surrogates = []
    if cfg.surrogates:
        param = next(model.parameters(), None)
        surrogates = load_surrogates(cfg.surrogates, run_dir, cfg.surrogate_which,
                                     param.device if param is not None else "cpu", victim_config=run_config)
    return evaluate_slowdown(model, cfg, test=test, val=train.subset(held.tolist()),
                             train=train.subset(kept.tolist()), meter=meter, pue=run_config.measurement.pue,
                             seed=run_config.seed, warnings=warnings, log=log, surrogates=surrogates)
