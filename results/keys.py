"""The record's key names, status values, units and timestamp format: constants here and nowhere else.

Compare ``mlperf_logging/mllog/constants.py``: writers and readers import these names, and no key is renamed
downstream. A group's own fields are named by its dataclass (:mod:`results.groups`); their dotted paths come
from it too (``Flops.path("train_total")``).

Units: FLOPs are plain floating-point operations (not TFLOPs); seconds; kWh; US dollars; kg CO2eq;
accuracies are percentages (0-100), as in RobustBench and the reference study's table.
"""
from __future__ import annotations

import datetime as _dt

SCHEMA_VERSION = "1.1"
RECORD_FILE = "result.json"
#: Joules in one kilowatt-hour.
J_PER_KWH = 3.6e6

# status values: a run is running until it completes, fails, or is preempted (stopped by a signal after a
# checkpoint; the launcher resumes it). A run killed without warning stays "running" with its job gone.
COMPLETED = "completed"
FAILED = "failed"
RUNNING = "running"
PREEMPTED = "preempted"
STATUSES = (COMPLETED, FAILED, RUNNING, PREEMPTED)

# top-level keys
SCHEMA_VERSION_KEY = "schema_version"
RUN_ID = "run_id"
NAME = "name"
RECIPE = "recipe"
STATUS = "status"
FAILURE_REASON = "failure_reason"
CONFIG = "config"
SEED = "seed"
PARAMS = "params"
CO2_KG = "co2_kg"
CREATED = "created"
UPDATED = "updated"
#: Pointer to the per-point survival table beside the record (benchmarks.evaluation.survival):
#: ``survival.file`` (``survival.parquet``), ``rows``, ``configs`` (attack configurations), ``events`` per config.
SURVIVAL = "survival"
SURVIVAL_FILE_KEY = "file"
SURVIVAL_TABLE = "survival.parquet"
# groups
FLOPS = "flops"
TIMING = "timing"
ENERGY = "energy"
COST = "cost"
PRICING = "pricing"
ACCURACY = "accuracy"
TRAINING = "training"
EVALUATION = "evaluation"
EVALUATIONS = "evaluations"
HARDWARE = "hardware"
SOFTWARE = "software"
CHECKPOINTS = "checkpoints"
JOB = "job"
TRACKING = "tracking"
#: What an entry of ``evaluations`` holds besides the headline fields it fills: its settings.
EVALUATION_SETTINGS = "settings"

# evaluation.inference: {"setup": {...}, <precision>: {"status", "backend", "accuracy": {...},
#   "SingleStream": {...}, "Offline": {...}}} written by `robustperf infer` (fp32 only by `robustperf evaluate`)
INFERENCE = "inference"
INFERENCE_SETUP = "setup"
SINGLE_STREAM = "SingleStream"
OFFLINE = "Offline"
SCENARIOS = (SINGLE_STREAM, OFFLINE)


def inference_field(precision: str, part: str, name: str) -> str:
    """Dotted field (and table column) of an inference figure: ``evaluation.inference.fp32.SingleStream.latency_ms_p50``.

    ``part`` is a scenario (:data:`SCENARIOS`) or ``accuracy``.
    """
    return f"{EVALUATION}.{INFERENCE}.{precision}.{part}.{name}"


# the method group (issue 13): the training method, its own parameters, its attack and its forward passes per
# training sample of one batch (``{"attack": eval-mode, "train": train-mode}``, AWP included when it is on)
METHOD = "method"

# the to-target group (issue 23): what reaching a benchmark's quality target cost, from the per-epoch check
TO_TARGET = "to_target"
#: Where the model came from: null fields for a model this suite trained; ``robustbench:NAME`` for a published one
#: evaluated by ``robustperf zoo eval`` (benchmarks.zoo), whose training was not measured here.
ORIGIN = "origin"

# the slowdown group (issue 15): early exits and slowdown attacks of a multi-exit model
#: peak memory of training (results.groups.Memory)
MEMORY = "memory"
#: the pre-trained start's and the generated data's declared cost (results.groups.Pretraining)
PRETRAINING = "pretraining"
SLOWDOWN = "slowdown"
SLOWDOWN_EXIT_FLOPS = "exit_cumulative_flops"
SLOWDOWN_CLEAN = "clean"
SLOWDOWN_ATTACKS = "attacks"
SLOWDOWN_BY_RAD = "by_rad"
SLOWDOWN_EXIT_FRACTION = "exit_fraction"


def now() -> str:
    """A record timestamp (``created``, ``updated``): UTC, ISO 8601, whole seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
