"""The evaluation store: every final evaluation of a run is kept in its record, keyed by its settings.

The headline fields (``accuracy.*`` and the evaluation's time, energy and extras) are those of one evaluation;
``evaluation.key`` names its entry in ``evaluations``. Evaluating a trained run with other settings stores a
second entry; going back to settings evaluated before is free (:func:`select_evaluation`).
"""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Dict, Optional, Tuple

from recipes import section_fields

from .groups import Accuracy, Energy, Evaluation, Timing
from .keys import ACCURACY, CREATED, ENERGY, EVALUATION, EVALUATION_SETTINGS, EVALUATIONS, TIMING, now

#: The ``evaluation`` group's field that names the headline's entry in ``evaluations``.
KEY_FIELD = Evaluation.names("key")[0]

#: What an entry of ``evaluations`` holds besides its settings: the headline fields it fills.
EVALUATION_FIELDS: Dict[str, Tuple[str, ...]] = {
    ACCURACY: Accuracy.keys(),
    TIMING: Timing.names("eval_seconds", "attack_seconds", "attack_seconds_per_sample"),
    ENERGY: Energy.names("eval_j", "attack_j"),
    EVALUATION: Evaluation.names("warnings", "inference", "autoattack_version"),
}


#: The ``evaluation`` keys that define the headline ``accuracy.*`` (and so an entry of ``evaluations``). Other
#: evaluation keys (survival data, slowdown, inference options) fill their own groups; adding one never makes a
#: stored evaluation stale. A new key that changes ``accuracy.*`` is added here.
EVALUATION_KEYS = ("pgd_steps", "pgd_step_size", "autoattack", "autoattack_n", "batch_size", "which")
#: Keys added after evaluations were first stored: part of the settings only when not at their default, so every
#: stored evaluation keeps its key (``attack``: the final evaluation's attack, ``pgd`` before it was a choice).
LATER_KEYS = ("attack",)


def evaluation_settings(evaluation_config: Dict[str, Any], which: Optional[str] = None) -> Dict[str, Any]:
    """The settings that define one final evaluation (:data:`EVALUATION_KEYS` of the ``evaluation`` section, and
    the :data:`LATER_KEYS` set to another value than their default), ``which`` resolved."""
    settings = {k: copy.deepcopy(evaluation_config[k]) for k in EVALUATION_KEYS if k in evaluation_config}
    defaults = section_fields(EVALUATION)
    settings.update({k: copy.deepcopy(evaluation_config[k]) for k in LATER_KEYS
                     if k in evaluation_config and evaluation_config[k] != defaults[k]["default"]})
    if which is not None:
        settings["which"] = which
    return settings


def evaluation_key(settings: Dict[str, Any]) -> str:
    """Stable 12-hex-digit key of evaluation settings."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def evaluation_current(record: Dict[str, Any], evaluation_config: Dict[str, Any]) -> bool:
    """Whether the record's headline evaluation was made with the settings of ``evaluation_config`` (the run
    config's ``evaluation`` section): a completed run with other settings is re-evaluated, never retrained."""
    key = (record.get(EVALUATION) or {}).get(KEY_FIELD)
    return key is not None and key == evaluation_key(evaluation_settings(evaluation_config))


def store_evaluation(record: Dict[str, Any], settings: Dict[str, Any]) -> str:
    """Keep the record's current headline evaluation under ``evaluations[key of settings]``; return the key."""
    key = evaluation_key(settings)
    entry: Dict[str, Any] = {EVALUATION_SETTINGS: copy.deepcopy(settings)}
    for group, keys in EVALUATION_FIELDS.items():
        values = record.get(group) or {}
        entry[group] = {k: copy.deepcopy(values.get(k)) for k in keys}
    entry[CREATED] = now()
    record.setdefault(EVALUATIONS, {})
    if not isinstance(record[EVALUATIONS], dict):
        record[EVALUATIONS] = {}
    record[EVALUATIONS][key] = entry
    record.setdefault(EVALUATION, {})[KEY_FIELD] = key
    return key


def select_evaluation(record: Dict[str, Any], key: str) -> bool:
    """Make the stored evaluation ``key`` the record's headline (``accuracy.*`` and its time, energy and
    extras); False when the record has none under that key. Derived kWh follow with :mod:`results.pricing`."""
    entry = (record.get(EVALUATIONS) or {}).get(key)
    if not isinstance(entry, dict):
        return False
    for group in EVALUATION_FIELDS:
        values = entry.get(group)
        if isinstance(values, dict):
            record.setdefault(group, {}).update(copy.deepcopy(values))
    record.setdefault(EVALUATION, {})[KEY_FIELD] = key
    return True
