"""Results: the versioned result-record schema, its one writer and its readers.

One concept per module: :mod:`~results.keys` (key names, statuses, units), :mod:`~results.groups` (the typed
groups and their field paths, ``Flops.path("train_total")``), :mod:`~results.validation`,
:mod:`~results.versions` (older records upgraded on read), :mod:`~results.evaluations` (every evaluation kept,
keyed by its settings), :mod:`~results.record` (new, write, read), :mod:`~results.flatten` (dotted columns),
:mod:`~results.config_paths` (``config.*`` paths from the recipe schema), :mod:`~results.pricing`,
:mod:`~results.audit`, :mod:`~results.migrate` (run folders to current ids), :mod:`~results.lock` (one process per
run) and :mod:`~results.holder` (who holds a lock, and whether it is stale).
"""
from .flatten import flatten, get
from .groups import (FIELDS, GROUPS, TEMPLATE, Accuracy, Checkpoints, Cost, Energy, Evaluation, Flops, Group, Hardware,
                     Job, Method, Origin, Pricing, Slowdown, Software, Survival, Timing, ToTarget, Tracking, Training)
from .io import (UnsafePathError, atomic_write, atomic_write_bytes, atomic_write_text, make_folder, open_append,
                 refuse_links)
from .keys import COMPLETED, FAILED, J_PER_KWH, PREEMPTED, RECORD_FILE, RUNNING, SCHEMA_VERSION
from .record import (RecordError, iter_records, load_record, new_record, read_record, read_run_record, record_path,
                     record_text, write_record, write_run_record)
from .validation import validate

__all__ = [
    "atomic_write", "atomic_write_bytes", "atomic_write_text", "COMPLETED", "FAILED", "FIELDS", "RECORD_FILE",
    "RUNNING", "SCHEMA_VERSION", "RecordError", "flatten", "get", "iter_records", "load_record", "new_record",
    "read_record", "record_path", "validate", "write_record", "read_run_record", "write_run_record",
    "UnsafePathError", "make_folder", "open_append", "refuse_links",
    # the typed groups (their field paths: ``Flops.path("train_total")``) and what is derived from them
    "Group", "GROUPS", "TEMPLATE", "Accuracy", "Checkpoints", "Cost", "Energy",
    "Evaluation", "Flops", "Hardware", "Job", "Method", "Pricing", "Slowdown", "Software", "Survival", "Timing",
    "Tracking", "Training", "ToTarget", "Origin", "J_PER_KWH", "PREEMPTED", "record_text",
]
