"""Readable run names, e.g. ``wrn-28-10_relu_at_pgd5_e100_syn0_s0`` (not unique; the run id is).

The name is built from the catalog's facts: the model family's name keys (``wrn`` is followed by its depth and
width) and the training method's name part (``pgd{attack.steps}``, ``fgsm``, none for ``standard``). Names are not
part of a run's identity: changing them never changes a run id.
"""
from __future__ import annotations

import re
from typing import Any, Dict

from . import catalog

__all__ = ["run_name", "method_name_part"]

_FIELD = re.compile(r"\{(\w+)\.(\w+)\}")


def method_name_part(method: str, cfg: Dict[str, Any]) -> str:
    """The part of a run name that training method ``method`` gives for the resolved config ``cfg``: its catalog
    entry's ``name_part`` with ``{section.key}`` filled from ``cfg`` (``pgd{attack.steps}`` -> ``pgd10``); ``""`` for
    a method without one."""
    entry = catalog.find("methods", method)
    template = entry.name_part if entry is not None else ""
    return _FIELD.sub(lambda m: str(cfg[m.group(1)][m.group(2)]), template)


def run_name(cfg: Dict[str, Any]) -> str:
    """Readable name of the resolved run config ``cfg``: family and its name keys, activation, method and its
    attack part, epochs, EMA/AWP, synthetic percentage, seed."""
    model, training = cfg["model"], cfg["training"]
    family = catalog.find("models", model["arch"])
    parts = [str(model[path.split(".", 1)[1]]) for path in (family.name_keys if family is not None else ())]
    arch = "-".join([model["arch"], *parts])
    ema = "_ema" if training["ema_decay"] else ""
    ema += "_awp" if training.get("awp_gamma") else ""
    syn = int(round(cfg["data"]["synthetic_fraction"] * 100))
    attack = method_name_part(training["loss"], cfg)
    attack = f"_{attack}" if attack else ""
    return (f"{arch}_{model['activation']}_{training['loss']}{attack}_e{training['epochs']}"
            f"{ema}_syn{syn}_s{cfg['seed']}")
