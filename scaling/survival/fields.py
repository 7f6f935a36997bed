"""The record fields the survival analysis and TRASH read from our runs, in one place.

These are the flattened column names of our records (``scaling.table.collect``); another table names its own
columns through the mapping's ``sections: {survival: {...}}``. A renamed record field is changed here only.
"""
from __future__ import annotations

from typing import Tuple

#: Design variables of our own records (what a user chooses), used as covariates by default when present.
DESIGN_COVARIATES: Tuple[str, ...] = (
    "config.training.lr", "config.data.batch_size", "config.training.epochs", "config.attack.eps",
    "config.training.loss", "config.model.depth", "config.model.width", "config.data.name",
    "cost.device_model", "config.seed",
)
#: The paper's outcome covariates (post-treatment: not causal), added on request (``outcomes: true``).
OUTCOME_COVARIATES: Tuple[str, ...] = (
    "accuracy.clean", "timing.train_seconds", "evaluation.inference.latency_ms",
)

# TRASH's inputs, one run each
TRAIN_SECONDS = "timing.train_seconds"
TRAIN_SAMPLES = "flops.train_samples"
#: epochs a run trained, first present and positive wins
EPOCHS: Tuple[str, ...] = ("training.epochs_completed", "config.training.epochs")
DEVICE_MODEL = "cost.device_model"
TRAIN_KWH = "energy.train_kwh"
ATTACK_KWH = "energy.attack_kwh"
ATTACK_SECONDS = "timing.attack_seconds"
DATASET = "config.data.name"
#: the run's device table (``<prefix><device>.usd_per_hour`` and ``.watts``)
DEVICE_TABLE_PREFIX = "config.measurement.device_table."
#: Run columns TRASH reads (besides the device table).
TRASH_COLUMNS: Tuple[str, ...] = (TRAIN_SECONDS, TRAIN_SAMPLES, *EPOCHS, DEVICE_MODEL, TRAIN_KWH, ATTACK_KWH,
                                  ATTACK_SECONDS, DATASET)

