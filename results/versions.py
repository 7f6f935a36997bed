"""Record versions: ``schema_version`` names the layout a record was written with, and :func:`upgrade` brings an
older record to this version's layout.

A reader upgrades an older record through the explicit steps of :data:`MIGRATIONS` (1.0 -> 1.1 -> ...), fills
in fields added since with their null defaults, and keeps every field it does not know (a newer writer's or a
plug-in's): nothing is dropped. (Moving run folders written under an older run-id rule is
:mod:`results.migrate`.)
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Optional, Tuple

from .evaluations import evaluation_settings, store_evaluation
from .groups import GROUPS, TEMPLATE, Accuracy, Energy, Pricing
from .keys import (ACCURACY, COMPLETED, CONFIG, ENERGY, EVALUATIONS, J_PER_KWH, PRICING, SCHEMA_VERSION,
                   SCHEMA_VERSION_KEY, STATUS)

# The fields the 1.0 -> 1.1 step reads and writes, checked against today's groups: renaming one needs a
# migration step of its own (and this step then keeps the 1.1 name).
#: 1.0 energy: each derived kWh field -> the raw device joules (before PUE) 1.1 keeps beside it.
_KWH_TO_JOULES = tuple(zip(Energy.names("kwh", "train_kwh", "eval_kwh", "attack_kwh", "sampler_kwh"),
                           Energy.names("device_j", "train_j", "eval_j", "attack_j", "sampler_j")))
_PUE, = Energy.names("pue")
_CLEAN, _WHICH = Accuracy.names("clean", "which")


def version_tuple(version: Any) -> Optional[Tuple[int, ...]]:
    """``"1.10"`` -> ``(1, 10)``; None when it is not a dotted version."""
    try:
        return tuple(int(p) for p in str(version).split("."))
    except ValueError:
        return None


def _migrate_1_0_to_1_1(record: Dict[str, Any]) -> Dict[str, Any]:
    """1.0 -> 1.1: split per-epoch selection keys into training, raw energy next to kWh, pricing, evaluations.

    - ``config``: the per-epoch best-checkpoint check moves to ``training.select_*``: ``evaluation.pgd_subset``
      becomes ``training.select_subset``; ``evaluation.pgd_steps`` / ``pgd_step_size`` / ``batch_size``, which
      served both it and the final evaluation, are copied to ``training.select_pgd_steps`` /
      ``select_pgd_step_size`` / ``select_batch_size``; ``training.select_on`` is ``test``, where 1.0 runs selected.
    - ``energy.*_j``: the device joules before PUE, recovered exactly from the kWh and the PUE they include.
    - ``pricing``: the constants the derived columns were computed with (the run's ``measurement``).
    - ``evaluations``: a completed record's evaluation, keyed by its settings; ``evaluation.key`` points to it.

    The config keys are 1.0's and 1.1's as they were written then (frozen history, not today's recipe schema).
    """
    config = record.get(CONFIG)
    if isinstance(config, dict):
        config = copy.deepcopy(config)
        ev = config.get("evaluation")
        if isinstance(ev, dict):
            training = config.setdefault("training", {})
            if isinstance(training, dict):
                for old, new in (("pgd_subset", "select_subset"), ("pgd_steps", "select_pgd_steps"),
                                 ("pgd_step_size", "select_pgd_step_size"), ("batch_size", "select_batch_size")):
                    if old in ev:
                        training.setdefault(new, ev[old])
                # 1.0 runs chose their best checkpoint on the first test images (training.select_on: test)
                training.setdefault("select_on", "test")
            ev.pop("pgd_subset", None)
        record[CONFIG] = config
    energy = record.get(ENERGY)
    measurement = (config or {}).get("measurement") if isinstance(config, dict) else None
    measurement = measurement if isinstance(measurement, dict) else {}
    if isinstance(energy, dict):
        pue = energy.get(_PUE) or measurement.get("pue")
        for kwh, joules in _KWH_TO_JOULES:
            if joules not in energy:
                value = energy.get(kwh)
                energy[joules] = value / pue * J_PER_KWH if isinstance(value, (int, float)) and pue else None
    if not isinstance(record.get(PRICING), dict):
        used_pue = energy.get(_PUE) if isinstance(energy, dict) and energy.get(_PUE) else measurement.get("pue")
        record[PRICING] = Pricing(pue=used_pue, usd_per_kwh=measurement.get("usd_per_kwh"),
                                  kg_co2_per_kwh=measurement.get("kg_co2_per_kwh"),
                                  cloud_usd_per_gpu_hour=measurement.get("cloud_usd_per_gpu_hour")).to_dict()
    if not isinstance(record.get(EVALUATIONS), dict):
        record[EVALUATIONS] = {}
        accuracy = record.get(ACCURACY)
        if (record.get(STATUS) == COMPLETED and isinstance(accuracy, dict) and accuracy.get(_CLEAN) is not None
                and isinstance(config, dict) and isinstance(config.get("evaluation"), dict)):
            settings = evaluation_settings(config["evaluation"], accuracy.get(_WHICH))
            store_evaluation(record, settings)
    record[SCHEMA_VERSION_KEY] = "1.1"
    return record


#: version -> the step that upgrades a record of that version to the next one. Each step edits what changed
#: and keeps everything else (unknown fields included).
MIGRATIONS: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
    "1.0": _migrate_1_0_to_1_1,
}


def upgrade(record: Any) -> Dict[str, Any]:
    """A copy of ``record`` in this version's layout: migrated step by step, missing known fields filled in
    with their null defaults, unknown fields kept.

    Raises:
        ValueError: not an object, no known version, or a version newer than this reader.
    """
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    record = copy.deepcopy(record)
    version = record.get(SCHEMA_VERSION_KEY)
    seen = set()
    while version != SCHEMA_VERSION:
        step = MIGRATIONS.get(str(version))
        if step is None or version in seen:
            mine, theirs = version_tuple(SCHEMA_VERSION), version_tuple(version)
            if mine is not None and theirs is not None and theirs > mine:
                raise ValueError(f"schema_version is {version!r}, newer than this robustperf reads "
                                 f"({SCHEMA_VERSION!r}); upgrade robustperf")
            raise ValueError(f"schema_version is {version!r}, expected {SCHEMA_VERSION!r} or one of "
                             f"{', '.join(sorted(MIGRATIONS))} (migrated on read)")
        seen.add(version)
        record = step(record)
        version = record.get(SCHEMA_VERSION_KEY)
    for key, default in TEMPLATE.items():
        if key not in record:
            record[key] = copy.deepcopy(default)
        elif key in GROUPS and isinstance(record[key], dict):
            for sub, sub_default in default.items():
                record[key].setdefault(sub, copy.deepcopy(sub_default))
    return record
