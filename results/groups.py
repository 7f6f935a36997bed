"""The record's layout: its top-level fields and its typed groups, the skeleton a new record starts from, and the
dotted path of every field.

A group is a dataclass of optional typed fields, all null until measured, written by its typed builder
(``Group(...).to_dict()``). A new field is one line in its dataclass; a new group is a dataclass with its
``KEY`` and one entry in :data:`GROUPS`. The dataclass also names its fields' dotted paths, so a reader never
spells ``"flops.train_total"`` out:

    >>> Flops.path("train_total")
    'flops.train_total'
    >>> Evaluation.path("inference", "fp32", "Offline")   # into a dict-valued field
    'evaluation.inference.fp32.Offline'

``path`` raises for a field the group lacks; a module that keeps its paths as module-level constants
(``TRAIN_TOTAL = Flops.path("train_total")``) therefore fails at import when a field is renamed, not during
someone's analysis.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .keys import (ACCURACY, CHECKPOINTS, CO2_KG, CONFIG, COST, CREATED, ENERGY, EVALUATION, EVALUATIONS,
                   FAILURE_REASON, FLOPS, HARDWARE, JOB, MEMORY, METHOD, NAME, ORIGIN, PARAMS, PRETRAINING, PRICING, RECIPE,
                   RUN_ID, RUNNING,
                   SCHEMA_VERSION, SCHEMA_VERSION_KEY, SEED, SLOWDOWN, SLOWDOWN_ATTACKS, SLOWDOWN_BY_RAD,
                   SLOWDOWN_CLEAN, SLOWDOWN_EXIT_FLOPS, SOFTWARE, STATUS, SURVIVAL, SURVIVAL_FILE_KEY, TIMING,
                   TO_TARGET, TRACKING, TRAINING, UPDATED)

#: Field metadata key of a field's unit; :data:`PERCENT` marks a percentage (0-100), checked by the audit.
UNIT = "unit"
PERCENT = "%"


def percent() -> Any:
    """A field holding a percentage (0-100), null until measured."""
    return field(default=None, metadata={UNIT: PERCENT})


class Group:
    """A record group: a dataclass of optional typed fields, all null until measured. ``KEY`` is its key in
    the record."""

    KEY = ""

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def keys(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def path(cls, name: str, *within: str) -> str:
        """The dotted record path of field ``name`` (``Flops.path("train_total") == "flops.train_total"``);
        ``within`` continues into a dict-valued field (``Accuracy.path("per_attack", "apgd-ce")``).

        Raises:
            AttributeError: the group has no field ``name``, or ``within`` goes into a field that holds no object.
        """
        if name not in cls.keys():
            near = difflib.get_close_matches(str(name), cls.keys(), n=1)
            raise AttributeError(f"record group {cls.KEY!r} ({cls.__name__}) has no field {name!r}"
                                 + (f" (did you mean {near[0]!r}?)" if near else "")
                                 + f"; its fields: {', '.join(cls.keys())}")
        if within and not _holds_objects(hints(cls)[name]):
            raise AttributeError(f"{cls.KEY}.{name} holds no object to address {'.'.join(within)!r} in")
        return ".".join((cls.KEY, name) + tuple(within))

    @classmethod
    def names(cls, *names: str) -> Tuple[str, ...]:
        """``names``, checked to be fields of the group (for code that fills or reads some of its fields by name).

        Raises:
            AttributeError: the group has no field of one of the names.
        """
        for name in names:
            cls.path(name)
        return names

    @classmethod
    def paths(cls) -> Tuple[str, ...]:
        """The dotted paths of every field of the group, in record order."""
        return tuple(f"{cls.KEY}.{name}" for name in cls.keys())


_HINTS: Dict[type, Dict[str, Any]] = {}


def hints(group: type) -> Dict[str, Any]:
    """Field name -> its type (``Optional[float]``, ``Any``, ...) of a group dataclass, in field order."""
    out = _HINTS.get(group)
    if out is None:
        resolved = typing.get_type_hints(group)
        out = _HINTS[group] = {f.name: resolved[f.name] for f in dataclasses.fields(group)}
    return out


def optional(tp: Any) -> bool:
    """Whether a field type allows null (``Optional[...]``)."""
    return typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)


def base_type(tp: Any) -> Any:
    """The type a field holds when it is not null (``Optional[float]`` -> ``float``)."""
    if optional(tp):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _holds_objects(tp: Any) -> bool:
    return base_type(tp) in (Any, dict)


@dataclass
class Flops(Group):
    """``train_total``: 3 x the executed forward FLOPs (the reference study's convention, every pass alike);
    ``train_executed``: forward + backward FLOPs as executed, estimated from the measured forward FLOPs and each
    pass's backward (2x with weight gradients, 1x to the input only as in attack steps, none without gradients);
    null where not modelled (the sdn IC phases)."""

    KEY = FLOPS
    forward_per_sample: Optional[float] = None
    train_forward_per_sample: Optional[float] = None
    train_total: Optional[float] = None
    train_executed: Optional[float] = None
    source: Optional[str] = None
    forward_macs_per_sample: Optional[float] = None
    train_samples: Optional[int] = None
    steps: Optional[int] = None


@dataclass
class Timing(Group):
    KEY = TIMING
    train_seconds: Optional[float] = None
    eval_seconds: Optional[float] = None
    attack_seconds: Optional[float] = None
    attack_seconds_per_sample: Optional[float] = None
    #: measurement.layer_profile: seconds by layer type over a few profiled steps (benchmarks.measurement.layers)
    layer_profile: Optional[dict] = None


@dataclass
class Energy(Group):
    """Derived kWh (device energy x PUE) beside the raw device joules they come from (``*_j``, before PUE)."""

    KEY = ENERGY
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
    includes: Optional[list] = None
    gpu_j: Optional[float] = None
    cpu_j: Optional[float] = None
    dram_j: Optional[float] = None
    measured: Optional[dict] = None
    readings: Optional[dict] = None
    missing: Optional[dict] = None
    epochs: Optional[list] = None


@dataclass
class Cost(Group):
    """Derived dollars beside the raw device-hours and device model they come from."""

    KEY = COST
    electricity_usd: Optional[float] = None
    cloud_usd_low: Optional[float] = None
    cloud_usd_high: Optional[float] = None
    device_hours: Optional[float] = None
    device_model: Optional[str] = None


@dataclass
class Pricing(Group):
    """The constants the derived kWh, $ and CO2 were computed with (``results.pricing``): ``kg_co2_per_kwh`` is
    the intensity used, ``region`` the ``measurement.region`` asked, ``carbon_source`` where the intensity came
    from (``from``: ``measurement.kg_co2_per_kwh`` - explicit, it beats the region -, ``measurement.region`` -
    with the dataset, file, year, place and codecarbon version - or ``default``)."""

    KEY = PRICING
    pue: Optional[float] = None
    usd_per_kwh: Optional[float] = None
    kg_co2_per_kwh: Optional[float] = None
    cloud_usd_per_gpu_hour: Optional[dict] = None
    region: Optional[str] = None
    carbon_source: Optional[dict] = None


@dataclass
class Accuracy(Group):
    KEY = ACCURACY
    clean: Optional[float] = percent()
    pgd: Optional[float] = percent()
    autoattack: Optional[float] = percent()
    autoattack_ci: Optional[list] = None
    autoattack_n: Optional[int] = None
    pgd_n: Optional[int] = None
    clean_n: Optional[int] = None
    per_attack: Optional[dict] = None
    max_perturbation: Optional[float] = None
    which: Optional[str] = None
    clean_loss: Optional[float] = None
    pgd_loss: Optional[float] = None
    autoattack_loss: Optional[float] = None


@dataclass
class Training(Group):
    KEY = TRAINING
    epochs: Optional[int] = None
    epochs_completed: Optional[int] = None
    global_batch_size: Optional[int] = None
    world_size: Optional[int] = None
    best_epoch: Optional[int] = None
    best_pgd_subset: Optional[float] = percent()
    final_train_loss: Optional[float] = None
    precision: Optional[str] = None
    train_size: Optional[int] = None
    samples_seen: Optional[int] = None


@dataclass
class Evaluation(Group):
    """The headline evaluation's extras; ``key`` names its entry in ``evaluations`` (its settings' digest)."""

    KEY = EVALUATION
    warnings: Optional[list] = None
    inference: Optional[dict] = None
    autoattack_version: Optional[str] = None
    key: Optional[str] = None


@dataclass
class Hardware(Group):
    KEY = HARDWARE
    cpu: Any = None
    gpus: Any = None
    count: Optional[int] = None
    host: Optional[str] = None


@dataclass
class Software(Group):
    KEY = SOFTWARE
    python: Optional[str] = None
    torch: Optional[str] = None
    timm: Optional[str] = None
    deepspeed: Optional[str] = None
    pyautoattack: Optional[str] = None


@dataclass
class Checkpoints(Group):
    KEY = CHECKPOINTS
    best: Optional[str] = None
    last: Optional[str] = None
    target: Optional[str] = None


@dataclass
class Survival(Group):
    KEY = SURVIVAL
    file: Optional[str] = None
    rows: Optional[int] = None
    configs: Any = None
    events: Any = None


@dataclass
class Method(Group):
    KEY = METHOD
    name: Optional[str] = None
    params: Any = None
    train_attack: Optional[str] = None
    forward_passes_per_sample: Any = None


@dataclass
class Slowdown(Group):
    KEY = SLOWDOWN
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
class Job(Group):
    KEY = JOB
    scheduler: Optional[str] = None
    job_id: Any = None
    array_job_id: Any = None
    array_task_id: Any = None
    host: Optional[str] = None
    pid: Optional[int] = None
    attempts: Optional[int] = None


@dataclass
class Tracking(Group):
    KEY = TRACKING
    wandb_mode: Optional[str] = None
    wandb_dir: Optional[str] = None
    wandb_run_id: Optional[str] = None
    mllog: Optional[str] = None


@dataclass
class ToTarget(Group):
    """What reaching the quality target of the run's benchmark cost (all null for a run that enters none): the
    first epoch whose per-epoch check on held-out training images reached the target, and the wall seconds (steps
    and checks of that many epochs, summed over resumed sessions), training FLOPs (``flops.train_total``'s
    accounting) and energy up to the end of that epoch's check; kWh, $ and CO2 are derived from ``device_j`` with
    the run's pricing constants (``results.pricing``). ``confirmation``: the target checkpoint on the test set
    with the benchmark's evaluation."""

    KEY = TO_TARGET
    benchmark: Optional[str] = None
    division: Optional[str] = None
    target: Optional[float] = percent()
    metric: Optional[str] = None
    reached: Optional[bool] = None
    epoch: Optional[int] = None
    accuracy: Optional[float] = percent()
    seconds: Optional[float] = None
    train_flops: Optional[float] = None
    device_j: Optional[float] = None
    kwh: Optional[float] = None
    usd: Optional[float] = None
    co2_kg: Optional[float] = None
    energy_source: Optional[str] = None
    confirmation: Optional[dict] = None


@dataclass
class Origin(Group):
    """Where the evaluated model came from: all null for a model this suite trained. A published model
    (``robustperf zoo eval``) names its source (``robustbench:NAME``), its leaderboard's figures beside the ones
    measured here, and why its training fields are null (``training``: not measured)."""

    KEY = ORIGIN
    source: Optional[str] = None
    dataset: Optional[str] = None
    threat: Optional[str] = None
    paper: Optional[str] = None
    link: Optional[str] = None
    architecture: Optional[str] = None
    extra_data: Optional[bool] = None
    reported_clean: Optional[float] = percent()
    reported_autoattack: Optional[float] = percent()
    autoattack_difference: Optional[float] = None
    training: Optional[str] = None
    weights: Optional[str] = None


@dataclass
class Pretraining(Group):
    """Cost from outside the run (all null for a run with neither): the pre-trained start (``model.init``, its
    file's SHA-256, and ``model.pretraining``'s declared ``flops`` / ``kwh`` / ``device_hours``) and the
    generated training images (``data.synthetic_cost`` per image x ``synthetic_images``, the images of
    ``data.synthetic``); ``how`` is ``declared`` (the recipe's figures, not measured here). ``*_with``: the run's
    training cost (``flops.train_total``, ``energy.train_kwh``, ``cost.device_hours``; those fields stay the
    run's own) plus both, added once; null where the run's own figure or both declared ones are missing."""

    KEY = PRETRAINING
    init: Optional[str] = None
    init_sha256: Optional[str] = None
    flops: Optional[float] = None
    kwh: Optional[float] = None
    device_hours: Optional[float] = None
    source: Optional[str] = None
    synthetic_images: Optional[int] = None
    synthetic_flops: Optional[float] = None
    synthetic_kwh: Optional[float] = None
    synthetic_device_hours: Optional[float] = None
    synthetic_source: Optional[str] = None
    how: Optional[str] = None
    train_flops_with: Optional[float] = None
    train_kwh_with: Optional[float] = None
    device_hours_with: Optional[float] = None


@dataclass
class Memory(Group):
    """Peak memory of training in MiB, measured, the largest over resumed sessions: the training process's peak
    resident set (``getrusage`` ``ru_maxrss``: data, model, optimizer, the per-epoch checks; rank 0's) and the
    device's peak allocated and reserved by torch's caching allocator (null on the CPU)."""

    KEY = MEMORY
    host_peak_rss_mb: Optional[float] = None
    device_peak_allocated_mb: Optional[float] = None
    device_peak_reserved_mb: Optional[float] = None
    source: Optional[str] = None


#: group key -> its dataclass, in record order. A plug-in adds a group with one entry here (and its dataclass).
GROUPS: Dict[str, type] = {group.KEY: group for group in (
    Flops, Timing, Energy, Cost, Pricing, Accuracy, Training, Evaluation, Hardware, Software, Checkpoints, Survival,
    Slowdown, Method, Job, Tracking, ToTarget, Origin, Pretraining, Memory)}

# the key names other modules build these groups with are fields of them (a rename fails here, at import)
Slowdown.names(SLOWDOWN_EXIT_FLOPS, SLOWDOWN_CLEAN, SLOWDOWN_ATTACKS, SLOWDOWN_BY_RAD)
Survival.names(SURVIVAL_FILE_KEY)

#: top-level scalar fields and their types (None: any JSON value).
TOP_TYPES: Dict[str, Any] = {
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

