"""The record fields the survival analysis and TRASH read from our runs, in one place.

These are the flattened column names of our records (``scaling.table.collect``); another table names its own
columns through the mapping's ``sections: {survival: {...}}``. They are named through the typed record groups and
the recipe schema, so a renamed record field fails here, at import.
"""
from __future__ import annotations

from typing import Tuple

from results import Accuracy, Cost, Energy, Flops, Timing, Training
from results.keys import SINGLE_STREAM, inference_field
from results.config_paths import config_path

TRAIN_SECONDS = Timing.path("train_seconds")
DEVICE_MODEL = Cost.path("device_model")
DATASET = config_path("data.name")
CONFIG_EPOCHS = config_path("training.epochs")

#: Design variables of our own records (what a user chooses), used as covariates by default when present.
DESIGN_COVARIATES: Tuple[str, ...] = (
    config_path("training.lr"), config_path("data.batch_size"), CONFIG_EPOCHS, config_path("attack.eps"),
    config_path("training.loss"), config_path("model.depth"), config_path("model.width"), DATASET,
    DEVICE_MODEL, config_path("seed"),
)
#: The paper's outcome covariates (post-treatment: not causal), added on request (``outcomes: true``): clean
#: accuracy, training seconds and the fp32 single-stream median latency that ``robustperf infer`` records.
OUTCOME_COVARIATES: Tuple[str, ...] = (
    Accuracy.path("clean"), TRAIN_SECONDS, inference_field("fp32", SINGLE_STREAM, "latency_ms_p50"),
)

#: The run's measured forward FLOPs of one sample: attack passes x this = the attack's FLOPs (``attack_flops``).
FORWARD_FLOPS = Flops.path("forward_per_sample")

# TRASH's inputs, one run each
TRAIN_SAMPLES = Flops.path("train_samples")
#: training FLOPs as executed (forward + backward, estimated per pass), else the 3 x forward convention
TRAIN_EXECUTED = Flops.path("train_executed")
TRAIN_TOTAL = Flops.path("train_total")
#: epochs a run trained, first present and positive wins
EPOCHS: Tuple[str, ...] = (Training.path("epochs_completed"), CONFIG_EPOCHS)
TRAIN_KWH = Energy.path("train_kwh")
ATTACK_KWH = Energy.path("attack_kwh")
ATTACK_SECONDS = Timing.path("attack_seconds")
#: where the record's energy came from (``nvml``, ``rapl``, ``estimate-tdp``, ``a+b`` for a mix, ...)
ENERGY_SOURCE = Energy.path("source")
#: the run's device table (``<prefix><device>.usd_per_hour`` and ``.watts``)
DEVICE_TABLE_PREFIX = config_path("measurement.device_table") + "."
#: Run columns TRASH reads (besides the device table).
TRASH_COLUMNS: Tuple[str, ...] = (TRAIN_SECONDS, TRAIN_SAMPLES, *EPOCHS, DEVICE_MODEL, TRAIN_KWH, ATTACK_KWH,
                                  ATTACK_SECONDS, DATASET, TRAIN_EXECUTED, TRAIN_TOTAL, ENERGY_SOURCE, FORWARD_FLOPS)
