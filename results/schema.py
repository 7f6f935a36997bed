"""The result record: one JSON file per run, ``DIR/<run_id>/result.json``.

Key names are constants here and nowhere else (compare ``mlperf_logging/mllog/constants.py``); writers and
readers import them, and no field is renamed downstream. Unknown values are ``null``, never 0.

Records evolve. ``schema_version`` names the layout a record was written with; a reader upgrades an older
record through the explicit steps of :data:`MIGRATIONS` (1.0 -> 1.1 -> ...), fills in fields added since with
their null defaults, and keeps every field it does not know (a newer writer's or a plug-in's): nothing is
dropped. :func:`validate` checks structure and types (groups are objects, numbers are numbers), never the
exact key set, so adding a field never invalidates an existing record. A new field is one entry in its group
dataclass below (a group is written by its typed builder, ``Group(...).to_dict()``).

Units: FLOPs are plain floating-point operations (not TFLOPs); seconds; kWh; US dollars; kg CO2eq;
accuracies are percentages (0-100), as in RobustBench and the reference study's table.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from robustperf_errors import UserError

from .io import atomic_write_text

SCHEMA_VERSION = "1.1"
RECORD_FILE = "result.json"
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

# the slowdown group (issue 15): early exits and slowdown attacks of a multi-exit model
SLOWDOWN = "slowdown"
SLOWDOWN_EXIT_FLOPS = "exit_cumulative_flops"
SLOWDOWN_CLEAN = "clean"
SLOWDOWN_ATTACKS = "attacks"
SLOWDOWN_BY_RAD = "by_rad"
SLOWDOWN_EXIT_FRACTION = "exit_fraction"


class _Group:
    """A record group: a dataclass of optional typed fields, all null until measured."""

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def keys(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


@dataclass
class Flops(_Group):
    """``train_total``: 3 x the executed forward FLOPs (the reference study's convention, every pass alike);
    ``train_executed``: forward + backward FLOPs as executed, estimated from the measured forward FLOPs and each
    pass's backward (2x with weight gradients, 1x to the input only as in attack steps, none without gradients);
    null where not modelled (the sdn IC phases)."""

    forward_per_sample: Optional[float] = None
    train_forward_per_sample: Optional[float] = None
    train_total: Optional[float] = None
    train_executed: Optional[float] = None
    source: Optional[str] = None
    forward_macs_per_sample: Optional[float] = None
    train_samples: Optional[int] = None
    steps: Optional[int] = None


@dataclass
class Timing(_Group):
    train_seconds: Optional[float] = None
    eval_seconds: Optional[float] = None
    attack_seconds: Optional[float] = None
    attack_seconds_per_sample: Optional[float] = None


@dataclass
class Energy(_Group):
    """Derived kWh (device energy x PUE) beside the raw device joules they come from (``*_j``, before PUE)."""

    kwh: Optional[float] = None
    source: Optional[str] = None
    train_kwh: Optional[float] = None
    eval_kwh: Optional[float] = None
    attack_kwh: Optional[float] = None
    pue: Optional[float] = None
    mean_power_w: Optional[float] = None
    sampler_kwh: Optional[float] = None
    devices: Optional[int] = None
    device_j: Optional[float] = None
    train_j: Optional[float] = None
    eval_j: Optional[float] = None
    attack_j: Optional[float] = None
    sampler_j: Optional[float] = None


@dataclass
class Cost(_Group):
    """Derived dollars beside the raw device-hours and device model they come from."""

    electricity_usd: Optional[float] = None
    cloud_usd_low: Optional[float] = None
    cloud_usd_high: Optional[float] = None
    device_hours: Optional[float] = None
    device_model: Optional[str] = None


@dataclass
class Pricing(_Group):
    """The constants the derived kWh, $ and CO2 were computed with (``results.pricing``)."""

    pue: Optional[float] = None
    usd_per_kwh: Optional[float] = None
    kg_co2_per_kwh: Optional[float] = None
    cloud_usd_per_gpu_hour: Optional[dict] = None


@dataclass
class Accuracy(_Group):
    clean: Optional[float] = None
    pgd: Optional[float] = None
    autoattack: Optional[float] = None
    autoattack_ci: Optional[list] = None
    autoattack_n: Optional[int] = None
    pgd_n: Optional[int] = None
    clean_n: Optional[int] = None
    per_attack: Optional[dict] = None
    max_perturbation: Optional[float] = None
    which: Optional[str] = None


@dataclass
class Training(_Group):
    epochs: Optional[int] = None
    epochs_completed: Optional[int] = None
    global_batch_size: Optional[int] = None
    world_size: Optional[int] = None
    best_epoch: Optional[int] = None
    best_pgd_subset: Optional[float] = None
    final_train_loss: Optional[float] = None
    precision: Optional[str] = None


@dataclass
class Evaluation(_Group):
    """The headline evaluation's extras; ``key`` names its entry in ``evaluations`` (its settings' digest)."""

    warnings: Optional[list] = None
    inference: Optional[dict] = None
    autoattack_version: Optional[str] = None
    key: Optional[str] = None


@dataclass
class Hardware(_Group):
    cpu: Any = None
    gpus: Any = None
    count: Optional[int] = None
    host: Optional[str] = None


@dataclass
class Software(_Group):
    python: Optional[str] = None
    torch: Optional[str] = None
    timm: Optional[str] = None
    deepspeed: Optional[str] = None
    pyautoattack: Optional[str] = None


@dataclass
class Checkpoints(_Group):
    best: Optional[str] = None
    last: Optional[str] = None


@dataclass
class Survival(_Group):
    file: Optional[str] = None
    rows: Optional[int] = None
    configs: Any = None
    events: Any = None


@dataclass
class Method(_Group):
    name: Optional[str] = None
    params: Any = None
    train_attack: Optional[str] = None
    forward_passes_per_sample: Any = None


@dataclass
class Slowdown(_Group):
    num_ics: Optional[int] = None
    num_exits: Optional[int] = None
    exit_cumulative_flops: Any = None
    rule: Any = None
    rad: Any = None
    calibration: Any = None
    clean: Any = None
    attacks: Any = None
    by_rad: Any = None
    source: Any = None


@dataclass
class Job(_Group):
    scheduler: Optional[str] = None
    job_id: Any = None
    array_job_id: Any = None
    array_task_id: Any = None
    host: Optional[str] = None
    pid: Optional[int] = None
    attempts: Optional[int] = None


@dataclass
class Tracking(_Group):
    wandb_mode: Optional[str] = None
    wandb_dir: Optional[str] = None
    wandb_run_id: Optional[str] = None
    mllog: Optional[str] = None


#: group key -> its dataclass. A plug-in adds a group with one entry here (and its dataclass).
GROUPS: Dict[str, type] = {
    FLOPS: Flops, TIMING: Timing, ENERGY: Energy, COST: Cost, PRICING: Pricing, ACCURACY: Accuracy,
    TRAINING: Training, EVALUATION: Evaluation, HARDWARE: Hardware, SOFTWARE: Software,
    CHECKPOINTS: Checkpoints, SURVIVAL: Survival, SLOWDOWN: Slowdown, METHOD: Method, JOB: Job, TRACKING: Tracking,
}

#: top-level scalar fields and their types (None: any JSON value).
_TOP_TYPES: Dict[str, Any] = {
    SCHEMA_VERSION_KEY: str, RUN_ID: str, NAME: Optional[str], RECIPE: Optional[str], STATUS: str,
    FAILURE_REASON: Optional[str], CONFIG: Optional[dict], SEED: Optional[int], PARAMS: Optional[int],
    CO2_KG: Optional[float], EVALUATIONS: Optional[dict], CREATED: Optional[str], UPDATED: Optional[str],
}


def _template() -> Dict[str, Any]:
    out: Dict[str, Any] = {
        SCHEMA_VERSION_KEY: SCHEMA_VERSION, RUN_ID: None, NAME: None, RECIPE: None, STATUS: RUNNING,
        FAILURE_REASON: None, CONFIG: None, SEED: None, PARAMS: None,
    }
    for key in (FLOPS, TIMING, ENERGY, COST):
        out[key] = GROUPS[key]().to_dict()
    out[CO2_KG] = None
    for key, group in GROUPS.items():
        out.setdefault(key, group().to_dict())
    out.update({EVALUATIONS: {}, CREATED: None, UPDATED: None})
    return out


#: The record's skeleton: every fixed field, null until measured. Nested groups are dicts.
TEMPLATE: Dict[str, Any] = _template()

#: Dotted names of every fixed field (``flops.train_total``, ...), for the table and the docs.
FIELDS: Tuple[str, ...] = tuple(
    f"{k}.{sub}" if k in GROUPS else k
    for k, v in TEMPLATE.items() if k != EVALUATIONS
    for sub in (v if k in GROUPS else [None])
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


# ---------------------------------------------------------------- validation: structure and types

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


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is Any or value is None and _optional(tp):
        return True
    base = _base(tp)
    if base is Any:
        return True
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)


def _base(tp: Any) -> Any:
    if _optional(tp):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _type_name(tp: Any) -> str:
    base = _base(tp)
    names = {float: "a number", int: "an integer", str: "a string", list: "a list", dict: "an object"}
    return names.get(base, getattr(base, "__name__", str(base))) + (" or null" if _optional(tp) else "")


_GROUP_HINTS: Dict[str, Dict[str, Any]] = {}


def _hints(group: type) -> Dict[str, Any]:
    hints = _GROUP_HINTS.get(group.__name__)
    if hints is None:
        hints = _GROUP_HINTS[group.__name__] = typing.get_type_hints(group)
    return hints


def validate(record: Any) -> List[str]:
    """Schema problems of a record (of this version), empty when it is valid.

    Checks structure and types of the fields this version knows; fields it does not know are allowed (and
    kept by every reader and writer). A known field that is missing is a problem here; readers fill it in
    with its null default first (:func:`upgrade`).
    """
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    if _too_deep(record):
        return [f"nested deeper than {MAX_DEPTH} levels (corrupt or hostile)"]
    problems = []
    if record.get(SCHEMA_VERSION_KEY) != SCHEMA_VERSION:
        problems.append(f"schema_version is {record.get(SCHEMA_VERSION_KEY)!r}, expected {SCHEMA_VERSION!r}")
    for key, tp in _TOP_TYPES.items():
        if key not in record:
            problems.append(f"missing field '{key}'")
        elif not _type_ok(record[key], tp):
            problems.append(f"field '{key}' must be {_type_name(tp)}, got {record[key]!r:.60}")
    for key, group in GROUPS.items():
        if key not in record:
            problems.append(f"missing field '{key}'")
            continue
        values = record[key]
        if not isinstance(values, dict):
            problems.append(f"field '{key}' must be an object")
            continue
        for sub, tp in _hints(group).items():
            if sub not in values:
                problems.append(f"missing field '{key}.{sub}'")
            elif not _type_ok(values[sub], tp):
                problems.append(f"field '{key}.{sub}' must be {_type_name(tp)}, got {values[sub]!r:.60}")
    if isinstance(record.get(EVALUATIONS), dict):
        for name, entry in record[EVALUATIONS].items():
            if not isinstance(entry, dict) or not isinstance(entry.get(EVALUATION_SETTINGS), dict):
                problems.append(f"evaluations.{name} must be an object with its settings")
    if not isinstance(record.get(RUN_ID), str) or not record.get(RUN_ID):
        problems.append("run_id must be a non-empty string")
    if record.get(STATUS) not in STATUSES:
        problems.append(f"status {record.get(STATUS)!r} is not one of {', '.join(STATUSES)}")
    if record.get(STATUS) == FAILED and not record.get(FAILURE_REASON):
        problems.append("a failed record needs failure_reason")
    return problems


# ---------------------------------------------------------------- versions and migrations

def _version_tuple(version: Any) -> Optional[Tuple[int, ...]]:
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
        pue = energy.get("pue") or measurement.get("pue")
        for kwh, joules in (("kwh", "device_j"), ("train_kwh", "train_j"), ("eval_kwh", "eval_j"),
                            ("attack_kwh", "attack_j"), ("sampler_kwh", "sampler_j")):
            if joules not in energy:
                value = energy.get(kwh)
                energy[joules] = value / pue * J_PER_KWH if isinstance(value, (int, float)) and pue else None
    if not isinstance(record.get(PRICING), dict):
        used_pue = energy.get("pue") if isinstance(energy, dict) and energy.get("pue") else measurement.get("pue")
        record[PRICING] = Pricing(pue=used_pue, usd_per_kwh=measurement.get("usd_per_kwh"),
                                  kg_co2_per_kwh=measurement.get("kg_co2_per_kwh"),
                                  cloud_usd_per_gpu_hour=measurement.get("cloud_usd_per_gpu_hour")).to_dict()
    if not isinstance(record.get(EVALUATIONS), dict):
        record[EVALUATIONS] = {}
        accuracy = record.get(ACCURACY)
        if (record.get(STATUS) == COMPLETED and isinstance(accuracy, dict) and accuracy.get("clean") is not None
                and isinstance(config, dict) and isinstance(config.get("evaluation"), dict)):
            settings = evaluation_settings(config["evaluation"], accuracy.get("which"))
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
            mine, theirs = _version_tuple(SCHEMA_VERSION), _version_tuple(version)
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


def read_record(path: str) -> Dict[str, Any]:
    """Read, upgrade (older versions, missing new fields) and validate one record.

    Raises RecordError with the reason (unreadable, not JSON, unknown version, invalid).
    """
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
        raise RecordError(path, f"JSON nested too deeply to read (a record is at most {MAX_DEPTH} levels deep; "
                                f"this one is corrupt or hostile)") from None
    if _too_deep(record):
        raise RecordError(path, f"nested deeper than {MAX_DEPTH} levels (corrupt or hostile)")
    try:
        record = upgrade(record)
    except ValueError as err:
        raise RecordError(path, str(err)) from None
    problems = validate(record)
    if problems:
        raise RecordError(path, "; ".join(problems))
    return record


# ---------------------------------------------------------------- evaluations, keyed by their settings

EVALUATION_SETTINGS = "settings"
#: What an entry of ``evaluations`` holds besides its settings: the headline fields it fills.
EVALUATION_FIELDS: Dict[str, Tuple[str, ...]] = {
    ACCURACY: Accuracy.keys(),
    TIMING: ("eval_seconds", "attack_seconds", "attack_seconds_per_sample"),
    ENERGY: ("eval_j", "attack_j"),
    EVALUATION: ("warnings", "inference", "autoattack_version"),
}


#: The ``evaluation`` keys that define the headline ``accuracy.*`` (and so an entry of ``evaluations``). Other
#: evaluation keys (survival data, slowdown, inference options) fill their own groups; adding one never makes a
#: stored evaluation stale. A new key that changes ``accuracy.*`` is added here.
EVALUATION_KEYS = ("pgd_steps", "pgd_step_size", "autoattack", "autoattack_n", "batch_size", "which")


def evaluation_settings(evaluation_config: Dict[str, Any], which: Optional[str] = None) -> Dict[str, Any]:
    """The settings that define one final evaluation (:data:`EVALUATION_KEYS` of the ``evaluation`` section),
    ``which`` resolved."""
    settings = {k: copy.deepcopy(evaluation_config[k]) for k in EVALUATION_KEYS if k in evaluation_config}
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
    key = (record.get(EVALUATION) or {}).get("key")
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
    record.setdefault(EVALUATION, {})["key"] = key
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
    record.setdefault(EVALUATION, {})["key"] = key
    return True


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
