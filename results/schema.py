"""The record schema's names in one place, for the code written before it was split (compatibility).

The schema lives in one module per concept: :mod:`results.keys` (key names, statuses, units),
:mod:`results.groups` (the typed groups, the template, field paths), :mod:`results.validation`,
:mod:`results.versions` (migrations on read), :mod:`results.evaluations` (the evaluation store),
:mod:`results.record` (new, write, read) and :mod:`results.flatten`. New code imports from those (or from
``results``); this module only re-exports them.
"""
from __future__ import annotations

from .keys import (ACCURACY, CHECKPOINTS, CO2_KG, COMPLETED, CONFIG, COST, CREATED, ENERGY, EVALUATION, EVALUATIONS,
                   EVALUATION_SETTINGS, FAILED, FAILURE_REASON, FLOPS, HARDWARE, INFERENCE, INFERENCE_SETUP, JOB,
                   J_PER_KWH, METHOD, NAME, OFFLINE, PARAMS, PREEMPTED, PRICING, RECIPE, RECORD_FILE, RUNNING,
                   RUN_ID, SCENARIOS, SCHEMA_VERSION, SCHEMA_VERSION_KEY, SEED, SINGLE_STREAM, SLOWDOWN,
                   SLOWDOWN_ATTACKS, SLOWDOWN_BY_RAD, SLOWDOWN_CLEAN, SLOWDOWN_EXIT_FLOPS, SLOWDOWN_EXIT_FRACTION,
                   SOFTWARE, STATUS, STATUSES, SURVIVAL, SURVIVAL_FILE_KEY, SURVIVAL_TABLE, TIMING, TRACKING,
                   TRAINING, UPDATED, inference_field, now)
from .groups import (Accuracy, Checkpoints, Cost, Energy, Evaluation, FIELDS, Flops, GROUPS, Hardware, Job, Method,
                     Pricing, Slowdown, Software, Survival, TEMPLATE, Timing, Tracking, Training)
from .validation import MAX_DEPTH, validate
from .evaluations import (EVALUATION_FIELDS, EVALUATION_KEYS, evaluation_current, evaluation_key,
                          evaluation_settings, select_evaluation, store_evaluation)
from .versions import MIGRATIONS, upgrade
from .record import RecordError, iter_records, load_record, new_record, read_record, record_path, write_record
from .flatten import flatten, get

__all__ = [
    "ACCURACY", "Accuracy", "CHECKPOINTS", "CO2_KG", "COMPLETED", "CONFIG", "COST", "CREATED", "Checkpoints",
    "Cost", "ENERGY", "EVALUATION", "EVALUATIONS", "EVALUATION_FIELDS", "EVALUATION_KEYS", "EVALUATION_SETTINGS",
    "Energy", "Evaluation", "FAILED", "FAILURE_REASON", "FIELDS", "FLOPS", "Flops", "GROUPS", "HARDWARE",
    "Hardware", "INFERENCE", "INFERENCE_SETUP", "JOB", "J_PER_KWH", "Job", "MAX_DEPTH", "METHOD", "MIGRATIONS",
    "Method", "NAME", "OFFLINE", "PARAMS", "PREEMPTED", "PRICING", "Pricing", "RECIPE", "RECORD_FILE", "RUNNING",
    "RUN_ID", "RecordError", "SCENARIOS", "SCHEMA_VERSION", "SCHEMA_VERSION_KEY", "SEED", "SINGLE_STREAM",
    "SLOWDOWN", "SLOWDOWN_ATTACKS", "SLOWDOWN_BY_RAD", "SLOWDOWN_CLEAN", "SLOWDOWN_EXIT_FLOPS",
    "SLOWDOWN_EXIT_FRACTION", "SOFTWARE", "STATUS", "STATUSES", "SURVIVAL", "SURVIVAL_FILE_KEY", "SURVIVAL_TABLE",
    "Slowdown", "Software", "Survival", "TEMPLATE", "TIMING", "TRACKING", "TRAINING", "Timing", "Tracking",
    "Training", "UPDATED", "evaluation_current", "evaluation_key", "evaluation_settings", "flatten", "get",
    "inference_field", "iter_records", "load_record", "new_record", "now", "read_record", "record_path",
    "select_evaluation", "store_evaluation", "upgrade", "validate", "write_record",
]
