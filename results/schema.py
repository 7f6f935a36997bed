"""The result record: one JSON file per run, ``DIR/<run_id>/result.json``.

Key names are constants here and nowhere else (compare ``mlperf_logging/mllog/constants.py``); writers and
readers import them, and no field is renamed downstream. Unknown values are ``null``, never 0.

Units: FLOPs are plain floating-point operations (not TFLOPs); seconds; kWh; US dollars; kg CO2eq;
accuracies are percentages (0-100), as in RobustBench and the reference study's table.
"""
from __future__ import annotations

import copy
import datetime as _dt
import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from recipes.errors import UserError

from .io import atomic_write_text

SCHEMA_VERSION = "1.0"
RECORD_FILE = "result.json"

# status values
COMPLETED = "completed"
FAILED = "failed"
RUNNING = "running"
STATUSES = (COMPLETED, FAILED, RUNNING)

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
#: Pointer to the per-point survival table beside the record (benchmarks.evaluation.survival):
#: ``survival.file`` (``survival.parquet``), ``rows``, ``configs`` (attack configurations), ``events`` per config.
SURVIVAL = "survival"
SURVIVAL_FILE_KEY = "file"
SURVIVAL_TABLE = "survival.parquet"
UPDATED = "updated"

# evaluation.inference: {"setup": {...}, <precision>: {"status", "backend", "accuracy": {...},
#   "SingleStream": {...}, "Offline": {...}}} written by `robustperf infer` (fp32 only by `robustperf evaluate`)
EVALUATION = "evaluation"
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

# the slowdown group (issue 15): early exits and slowdown attacks of a multi-exit model
SLOWDOWN = "slowdown"
SLOWDOWN_EXIT_FLOPS = "exit_cumulative_flops"
SLOWDOWN_CLEAN = "clean"
SLOWDOWN_ATTACKS = "attacks"
SLOWDOWN_BY_RAD = "by_rad"
SLOWDOWN_EXIT_FRACTION = "exit_fraction"

#: The record's skeleton: every fixed field, null until measured. Nested groups are dicts.
TEMPLATE: Dict[str, Any] = {
    SCHEMA_VERSION_KEY: SCHEMA_VERSION,
    RUN_ID: None,
    NAME: None,
    RECIPE: None,
    STATUS: RUNNING,
    FAILURE_REASON: None,
    CONFIG: None,
    SEED: None,
    PARAMS: None,
    "flops": {"forward_per_sample": None, "train_forward_per_sample": None, "train_total": None, "source": None,
              "forward_macs_per_sample": None, "train_samples": None, "steps": None},
    "timing": {"train_seconds": None, "eval_seconds": None, "attack_seconds": None,
               "attack_seconds_per_sample": None},
    "energy": {"kwh": None, "source": None, "train_kwh": None, "eval_kwh": None, "attack_kwh": None, "pue": None,
               "mean_power_w": None, "sampler_kwh": None, "devices": None},
    "cost": {"electricity_usd": None, "cloud_usd_low": None, "cloud_usd_high": None, "device_hours": None,
             "device_model": None},
    CO2_KG: None,
    "accuracy": {"clean": None, "pgd": None, "autoattack": None, "autoattack_ci": None, "autoattack_n": None,
                 "pgd_n": None, "clean_n": None, "per_attack": None, "max_perturbation": None, "which": None},
    "training": {"epochs": None, "epochs_completed": None, "global_batch_size": None, "world_size": None,
                 "best_epoch": None, "best_pgd_subset": None, "final_train_loss": None, "precision": None},
    EVALUATION: {"warnings": None, INFERENCE: None, "autoattack_version": None},
    "hardware": {"cpu": None, "gpus": None, "count": None, "host": None},
    "software": {"python": None, "torch": None, "timm": None, "deepspeed": None, "pyautoattack": None},
    "checkpoints": {"best": None, "last": None},
    SURVIVAL: {SURVIVAL_FILE_KEY: None, "rows": None, "configs": None, "events": None},
    SLOWDOWN: {"num_ics": None, "num_exits": None, SLOWDOWN_EXIT_FLOPS: None, "rule": None, "rad": None,
               "calibration": None, SLOWDOWN_CLEAN: None, SLOWDOWN_ATTACKS: None, SLOWDOWN_BY_RAD: None,
               "source": None},
    "job": {"scheduler": None, "job_id": None, "array_job_id": None, "array_task_id": None, "host": None,
            "pid": None, "attempts": None},
    "tracking": {"wandb_mode": None, "wandb_dir": None, "wandb_run_id": None, "mllog": None},
    CREATED: None,
    UPDATED: None,
}

#: Dotted names of every fixed field (``flops.train_total``, ...), for the table and the docs.
FIELDS: Tuple[str, ...] = tuple(
    f"{k}.{sub}" if isinstance(v, dict) else k
    for k, v in TEMPLATE.items()
    for sub in (v if isinstance(v, dict) else [None])
)


class RecordError(UserError):
    """A result record that cannot be read or does not follow the schema."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_record(run_id: str, name: str, config: Dict[str, Any], recipe: Optional[str] = None) -> Dict[str, Any]:
    """A fresh record for a run that is starting: status running, every measurement null."""
    record = copy.deepcopy(TEMPLATE)
    record.update({RUN_ID: run_id, NAME: name, RECIPE: recipe, CONFIG: config, SEED: config.get("seed"),
                   CREATED: now()})
    return record


def record_path(results_dir: str, run_id: str) -> str:
    return os.path.join(results_dir, run_id, RECORD_FILE)


def write_record(results_dir: str, record: Dict[str, Any]) -> str:
    """Validate and atomically write ``record`` to ``results_dir/<run_id>/result.json``; return the path."""
    record[UPDATED] = now()
    problems = validate(record)
    if problems:
        raise ValueError("refusing to write an invalid record: " + "; ".join(problems))
    path = record_path(results_dir, record[RUN_ID])
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


#: Deepest nesting a record may have (its own groups are 2-4 levels; the run config adds a few).
MAX_DEPTH = 32


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests dicts/lists deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def validate(record: Any) -> List[str]:
    """Schema problems of a record, empty when it is valid."""
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    if _too_deep(record):
        return [f"nested deeper than {MAX_DEPTH} levels (corrupt or hostile)"]
    problems = []
    if record.get(SCHEMA_VERSION_KEY) != SCHEMA_VERSION:
        problems.append(f"schema_version is {record.get(SCHEMA_VERSION_KEY)!r}, expected {SCHEMA_VERSION!r}")
    for key, value in TEMPLATE.items():
        if key not in record:
            problems.append(f"missing field '{key}'")
        elif isinstance(value, dict):
            if not isinstance(record[key], dict):
                problems.append(f"field '{key}' must be an object")
            else:
                problems.extend(f"missing field '{key}.{sub}'" for sub in value if sub not in record[key])
    if not isinstance(record.get(RUN_ID), str) or not record.get(RUN_ID):
        problems.append("run_id must be a non-empty string")
    if record.get(STATUS) not in STATUSES:
        problems.append(f"status {record.get(STATUS)!r} is not one of {', '.join(STATUSES)}")
    if record.get(STATUS) == FAILED and not record.get(FAILURE_REASON):
        problems.append("a failed record needs failure_reason")
    return problems


def read_record(path: str) -> Dict[str, Any]:
    """Read and validate one record. Raises RecordError with the reason (unreadable, not JSON, invalid)."""
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except FileNotFoundError:
        raise RecordError(path, "no such record") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(path, f"unreadable: {err}") from None
    except json.JSONDecodeError as err:
        raise RecordError(path, f"corrupt JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise RecordError(path, f"corrupt: JSON nested too deeply to read (a record is at most {MAX_DEPTH} levels "
                                f"deep)") from None
    problems = validate(record)
    if problems:
        raise RecordError(path, "; ".join(problems))
    return record


def load_record(results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    """The record of ``run_id`` under ``results_dir``, or None when the run has none yet."""
    path = record_path(results_dir, run_id)
    if not os.path.exists(path):
        return None
    return read_record(path)


def iter_records(results_dir: str) -> Iterator[Tuple[str, Optional[Dict[str, Any]], Optional[str]]]:
    """Yield ``(path, record, None)`` for each readable record and ``(path, None, reason)`` for broken ones."""
    if not os.path.isdir(results_dir):
        raise RecordError(results_dir, "results directory does not exist")
    for entry in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, entry, RECORD_FILE)
        if not os.path.isfile(path):
            continue
        try:
            yield path, read_record(path), None
        except RecordError as err:
            yield path, None, err.reason


def get(record: Dict[str, Any], dotted: str) -> Any:
    """Value of a dotted field (``accuracy.autoattack``), None when absent."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def flatten(record: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Flatten nested objects to dotted columns; lists are kept as JSON text."""
    out: Dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out
