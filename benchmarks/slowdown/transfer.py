"""Transferability of the slowdown attacks (DeepSloth, Hong et al. ICLR 2021, section 5): craft on a surrogate run,
attack the victim run.

``evaluation.slowdown.surrogates`` names finished runs whose models craft every attack of the evaluation (their
checkpoint ``surrogate_which``); the perturbed inputs are then evaluated on the victim, the run being evaluated,
with the victim's thresholds. The paper's settings are all runs of a recipe: another architecture (an SDN for an
MSDNet), a model trained on part of the data (``data.holdout_fraction`` up to 0.5 holds the rest out), a model
of another dataset with the same input size (CIFAR-100 for CIFAR-10). A surrogate is named by

* a run id or a run name of the victim's results folder (the folder that holds the victim's run folder), or
* the path of a run folder (``runs/<run_id>``).

Each transferred result is recorded as ``<attack>_<norm>@<surrogate run id>`` beside the white-box ones, with
``transfer`` = both run ids and what the surrogate is; its efficacy and accuracy are the victim's. A surrogate must
be a multi-exit model (the attacks' losses read its exits) taking the victim's input shape.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from recipes.errors import RecipeError
from results import RECORD_FILE, iter_records, read_run_record

from .._loading import load_model

__all__ = ["KEY", "find_run", "load_surrogates"]

KEY = "evaluation.slowdown.surrogates"


def find_run(name: str, victim_dir: Optional[str]) -> str:
    """The folder of the run ``name`` (a run folder's path, or a run id or name of the victim's results folder)."""
    if os.path.isfile(os.path.join(name, RECORD_FILE)):
        return os.path.abspath(name)
    if victim_dir is None:
        raise RecipeError("no run folder of that path (a run id or name needs the victim's results folder)",
                          key=KEY, value=name)
    results_dir = os.path.dirname(os.path.abspath(victim_dir))
    direct = os.path.join(results_dir, os.path.basename(name))
    if os.path.basename(name) == name and os.path.isfile(os.path.join(direct, RECORD_FILE)):
        return direct
    matches = [os.path.dirname(path) for path, record, _ in iter_records(results_dir)
               if record is not None and record.get("name") == name]
    if len(matches) != 1:
        raise RecipeError(("no run" if not matches else f"{len(matches)} runs") + f" of that name or id in "
                          f"{results_dir} (a surrogate must be a finished run of the victim's results folder or "
                          "the path of a run folder)", key=KEY, value=name)
    return matches[0]


def load_surrogates(names: Sequence[str], victim_dir: Optional[str], which: str, device: Any,
                    victim_config=None) -> List[Tuple[torch.nn.Module, Dict[str, Any]]]:
    """``(model, info)`` of each surrogate (see the module docstring), models in eval mode on ``device``."""
    out = []
    victim_id = os.path.basename(os.path.abspath(victim_dir)) if victim_dir is not None else None
    for name in names:
        folder = find_run(name, victim_dir)
        record = read_run_record(folder)
        model = load_model(folder, which, device)
        if not hasattr(model, "exits"):
            raise RecipeError(f"run {record['run_id']} is not a multi-exit model (model.arch "
                              f"{(record.get('config') or {}).get('model', {}).get('arch')!r}); a surrogate crafts "
                              "the slowdown attacks on its exits", key=KEY, value=name)
        config = record.get("config") or {}
        data = config.get("data") or {}
        info = {"surrogate": record["run_id"], "surrogate_run_id": record["run_id"],
                "surrogate_name": record.get("name"), "victim_run_id": victim_id, "surrogate_which": which,
                "surrogate_arch": (config.get("model") or {}).get("arch"), "surrogate_dataset": data.get("name"),
                "surrogate_holdout_fraction": data.get("holdout_fraction"),
                "source": "transferred: crafted on the surrogate, measured on the victim"}
        if victim_config is not None:
            info["victim_dataset"] = victim_config.data.name
        out.append((model, info))
    return out
