"""The results table: collect result records into one row per run, load CSV/Parquet tables, map columns.

A table is a :class:`pandas.DataFrame`. Our own records are flattened with :func:`results.flatten`, so columns
keep the record's dotted names (``flops.train_total``, ``config.training.loss``); nothing is renamed. Anybody's
table (the reference study's ``results.csv``) is read through a :class:`scaling.mapping.Mapping` naming which
column holds the FLOPs, the AutoAttack accuracy, the costs and the factors; a column may be a product of columns
(``train_flops*epochs``). The per-point survival tables of a results directory are collected here too
(:func:`collect_survival`).
"""
from __future__ import annotations

import io
import json
import os
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from results import (COMPLETED, FAILED, FIELDS, RUNNING, Accuracy, Cost, Energy, Flops, Survival, atomic_write,
                     flatten, iter_records)
from recipes.files import check_regular
from results.audit import audit
from results.config_paths import config_path
from results.keys import (CO2_KG, CONFIG, EVALUATION, EVALUATIONS, INFERENCE, OFFLINE, PARAMS, PREEMPTED,
                          RECORD_FILE, SINGLE_STREAM, SURVIVAL, SURVIVAL_FILE_KEY, inference_field)
from results.pricing import reprice

from .errors import TableError

SYNTHETIC_FRACTION = config_path("data.synthetic_fraction")
SEED_COLUMN = config_path("seed")
#: Columns of our own records that the analysis reads by default.
RECORD_COLUMNS: Dict[str, str] = {
    "flops": Flops.path("train_total"),
    "acc": Accuracy.path("autoattack"),
    "cost": Cost.path("electricity_usd"),
    "co2": CO2_KG,
    "kwh": Energy.path("kwh"),
    "facet": SYNTHETIC_FRACTION,
}
#: Inference columns of our records (``robustperf infer``), per precision: role -> (scenario or accuracy, field).
#: ``inference_column("int8", "latency_ms_p50")`` is ``evaluation.inference.int8.SingleStream.latency_ms_p50``.
INFERENCE_COLUMNS: Dict[str, Tuple[str, str]] = {
    "latency_ms_p50": (SINGLE_STREAM, "latency_ms_p50"),
    "latency_ms_p99": (SINGLE_STREAM, "latency_ms_p99"),
    "single_stream_energy_j_per_image": (SINGLE_STREAM, "energy_j_per_image"),
    "images_per_s": (OFFLINE, "images_per_s"),
    "offline_batch_size": (OFFLINE, "batch_size"),
    "energy_j_per_image": (OFFLINE, "energy_j_per_image"),
    "clean": ("accuracy", "clean"),
    "robust": ("accuracy", "robust"),
    "robust_method": ("accuracy", "robust_method"),
    "robust_drop_vs_fp32": ("accuracy", "robust_drop_vs_fp32"),
}


def inference_column(precision: str, role: str) -> str:
    """Table column of an inference figure (a role of :data:`INFERENCE_COLUMNS`) at ``precision``."""
    part, name = INFERENCE_COLUMNS[role]
    return inference_field(precision, part, name)


def inference_precisions(table: pd.DataFrame) -> List[str]:
    """Precisions with an inference latency column in ``table``, in column order."""
    prefix, suffix = f"{EVALUATION}.{INFERENCE}.", f".{SINGLE_STREAM}.latency_ms_p50"
    return [c[len(prefix):-len(suffix)] for c in table.columns
            if str(c).startswith(prefix) and str(c).endswith(suffix)]


#: Default recipe factors of the gradient-boosting model (parameters, synthetic data, activation, loss, PGD
#: steps, EMA: a null ema_decay is its own level, "no EMA").
RECORD_FEATURES: Tuple[str, ...] = (
    PARAMS, SYNTHETIC_FRACTION, config_path("model.activation"), config_path("training.loss"),
    config_path("attack.steps"), config_path("training.ema_decay"),
)
#: Columns naming a row in messages, first present wins.
LABEL_COLUMNS = ("run_id", "model_id", "name")

STATUS_COLUMN = "status"
#: where a results folder's records are, in messages
RECORD_PATTERN = f"<run_id>/{RECORD_FILE}"
PATH_COLUMN = "record_path"
#: The record field naming a run's per-point survival table (relative to the record).
SURVIVAL_POINTER = Survival.path(SURVIVAL_FILE_KEY)


# ---------------------------------------------------------------------------------------------- columns


def parse_expression(expr: str) -> List[str]:
    """Column names of a column expression: ``"a"`` or a product ``"a*b*c"``."""
    names = [part.strip() for part in str(expr).split("*")]
    if not names or any(not n for n in names):
        raise TableError(f"column expression '{expr}' is malformed; expected NAME or NAME*NAME*...")
    return names


def has_columns(table: pd.DataFrame, expr: str) -> bool:
    return all(name in table.columns for name in parse_expression(expr))


def numeric_column(table: pd.DataFrame, expr: str, role: str, option: str) -> pd.Series:
    """The float values of a column expression. Raises TableError naming a missing or non-numeric column.

    Args:
        table: the results table.
        expr: a column name or a product of names.
        role: what the column is for, in words (``"FLOPs"``).
        option: the option that sets it (``"--flops-col"``), named in the message.
    """
    out: Optional[pd.Series] = None
    for name in parse_expression(expr):
        if name not in table.columns:
            raise TableError(f"the table has no {role} column '{name}'", column=name,
                             present=[str(c) for c in table.columns], hint=f"pass {option} COLUMN")
        values = table[name]
        if values.dtype == bool:
            values = values.astype(float)
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            raise TableError(f"{role} column '{name}' is not numeric: {int(bad.sum())} values such as "
                             f"{values[bad].iloc[0]!r}", hint=f"pass {option} with a numeric column")
        converted = converted.astype(float)
        out = converted if out is None else out * converted
    assert out is not None
    return out.rename(expr)


def row_labels(table: pd.DataFrame) -> pd.Series:
    """Human names of rows for messages: run_id or name where present, else ``row N`` (0-based)."""
    for col in LABEL_COLUMNS:
        if col in table.columns:
            return table[col].astype(str).where(table[col].notna(), [f"row {i}" for i in range(len(table))])
    return pd.Series([f"row {i}" for i in range(len(table))], index=table.index)


# ------------------------------------------------------------------------------------------- collecting


@dataclass(frozen=True)
class Problem:
    """A record that is not a completed run: running, failed, or unreadable (corrupt)."""

    path: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}: {self.reason}"


def collect(results_dir: str, pricing: Optional[Dict[str, Any]] = None) -> Tuple[pd.DataFrame, List[Problem]]:
    """One row per readable record under ``results_dir`` (all statuses), and the problems found.

    ``pricing``: pricing constants (``results.pricing.PRICING_KEYS``) to re-price every record with, from its raw
    measurements, before it becomes a row (``--set measurement.usd_per_kwh=...``); the files are not changed.
    A record's stored evaluations (``evaluations``) stay in the record; its headline evaluation is the row's.

    Running and failed records stay in the table with their ``status`` (and ``failure_reason``) so nothing
    disappears; unreadable records cannot become rows and are only listed as problems.

    Returns:
        ``(table, problems)``; the table's first column is ``record_path``, then the record's fixed fields in
        schema order, then its config columns sorted.
    Raises:
        TableError: the folder holds no record at all (no ``<run>/result.json``), saying where it looked.
    """
    rows: List[Dict[str, Any]] = []
    problems: List[Problem] = []
    entries = list(iter_records(results_dir))
    if not entries:
        raise TableError(f"{results_dir}: no result record found (looked for {RECORD_PATTERN} in "
                         f"{os.path.abspath(results_dir)}, one folder per run); is this the results folder?")
    findings = audit((path, record) for path, record, _ in entries)
    for path, record, reason in entries:
        if record is None:
            problems.append(Problem(path, "corrupt", reason or "unreadable"))
            continue
        finding = findings.get(path)
        if finding is not None:
            problems.append(Problem(path, "misplaced" if finding.misplaced else "invalid", str(finding)))
            if finding.exclude:  # bad values, or a copy of a run under another name: never a row of the table
                continue
        status = record.get(STATUS_COLUMN)
        if status == RUNNING:
            problems.append(Problem(path, "incomplete", "status running (not finished, or killed)"))
        elif status == PREEMPTED:
            problems.append(Problem(path, "incomplete", "status preempted (stopped by a signal; launch again to "
                                                        "resume)"))
        elif status == FAILED:
            problems.append(Problem(path, "failed", str(record.get("failure_reason"))))
        if pricing:
            record = reprice(record, pricing)
        row = {PATH_COLUMN: path}
        row.update(flatten({k: v for k, v in record.items() if k != EVALUATIONS}))
        rows.append(row)
    fixed = [PATH_COLUMN] + [f for f in FIELDS if any(f in r for r in rows)]
    extra = sorted({k for r in rows for k in r} - set(fixed))
    return pd.DataFrame(rows, columns=fixed + extra), problems


def completed(table: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of a collected table (tables without a status column are returned whole)."""
    if STATUS_COLUMN not in table.columns:
        return table
    return table[table[STATUS_COLUMN] == COMPLETED].reset_index(drop=True)


def load_table(path: str, pricing: Optional[Dict[str, Any]] = None) -> Tuple[pd.DataFrame, List[Problem]]:
    """A table from a CSV or Parquet file, or collected from a results directory (completed runs only).

    Returns:
        ``(table, problems)``: problems are the results directory's non-completed records (empty for files).
    Raises:
        TableError: the path does not exist, has an unknown suffix or cannot be parsed.
    """
    if os.path.isdir(path):
        table, problems = collect(path, pricing)
        return completed(table), problems
    if pricing:
        raise TableError(f"{path}: re-pricing (--set measurement.*) needs a results directory, whose records keep "
                         "the raw measurements; collect the directory instead")
    if not os.path.exists(path):
        raise TableError(f"{path}: no such table or results directory")
    check_regular(path, "table", error=lambda reason: TableError(f"{path}: {reason}"))  # no FIFO, no /dev/zero
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            table = pd.read_parquet(path)
        elif lower.endswith((".csv", ".csv.gz", ".tsv")):
            table = pd.read_csv(path, sep="\t" if lower.endswith(".tsv") else ",")
        else:
            raise TableError(f"{path}: unknown table format; expected .csv, .tsv, .parquet or a results directory")
    except TableError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, pd.errors.ParserError, pd.errors.EmptyDataError,
            ImportError, MemoryError, RecursionError) as err:
        raise TableError(f"{path}: cannot read the table ({type(err).__name__}: {err}); is it a complete, "
                         f"uncorrupted {os.path.basename(path).split('.', 1)[-1]} file?") from None
    except Exception as err:  # noqa: BLE001 - pyarrow and the decompressors raise their own kinds on damage
        raise TableError(f"{path}: cannot read the table ({type(err).__name__}: {err})") from None
    return table, []


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    # Arrow needs one type per column; a record field that is a string in one run and a number in another
    # (evaluation.autoattack: "standard" or a list) is written as JSON text instead.
    out = table.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        kinds = {type(v) for v in out[col] if v is not None and not (isinstance(v, float) and np.isnan(v))}
        if len(kinds) > 1:
            out[col] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else
                        (v if isinstance(v, str) else json.dumps(v)) for v in out[col]]
    return out


def write_table(table: pd.DataFrame, path: str) -> None:
    """Write a table atomically as CSV or Parquet, chosen by the suffix.

    Raises:
        TableError: unknown suffix, or the write failed (disk full, file too large, read-only, ...): naming the
            file; nothing is left behind (the temporary file is removed).
    """
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        buf = io.BytesIO()
        _parquet_safe(table).to_parquet(buf, index=False)
        data = buf.getvalue()
    elif lower.endswith(".csv"):
        data = table.to_csv(index=False).encode("utf-8")
    else:
        raise TableError(f"{path}: unknown table format; expected a .csv or .parquet output")
    try:
        atomic_write(path, lambda fh: fh.write(data))
    except OSError as err:
        raise TableError(f"{path}: cannot write the table ({len(data):,} bytes): {write_failure(err)}") from None


def write_failure(err: OSError) -> str:
    """What a failed write says: the system's reason and, for a full disk or a size limit, what to do."""
    import errno

    hint = {errno.ENOSPC: "the disk is full: free space or write elsewhere",
            errno.EDQUOT: "the disk quota is exhausted: free space or write elsewhere",
            errno.EFBIG: "the file is larger than this system or process allows: write elsewhere",
            errno.EROFS: "the file system is read-only: write elsewhere"}.get(err.errno or -1)
    text = err.strerror or str(err) or type(err).__name__
    return f"{text} ({hint})" if hint else text


def default_group(table: pd.DataFrame, mapping: "Mapping") -> List[str]:
    """Columns identifying a configuration, for repeats: the explicit ``group``, else our records' config.*
    columns but the seed, else none (an external table's rows are not known to be repeats)."""
    if mapping.group is not None:
        return list(mapping.group)
    return [c for c in table.columns if str(c).startswith(CONFIG + ".") and c != SEED_COLUMN]


def collect_survival(results_dir: str, runs: Optional[pd.DataFrame] = None,
                     columns: Optional[Sequence[str]] = None) -> Tuple[pd.DataFrame, List[str]]:
    """Every run's ``survival.parquet`` (pointed to by its record's ``survival.file``) in one table, each row
    joined with its run's record columns (``config.*``, ``accuracy.*``, ``timing.*``, ...) by ``run_id``.

    Args:
        results_dir: the results directory (read when ``runs`` is None).
        runs: its collected run table (``scaling.table.collect``), if already read.
        columns: the run columns to join (those present); None joins every record column. A fit needs only
            its covariates, and 10,000 points x 200 record columns per run add up.

    Returns ``(table, problems)``: problems name runs whose pointer is set but whose file is missing or
    unreadable (they are left out, never silently). The table gains ``attack_passes`` and ``attack_flops`` (the
    passes to failure, and x the run's ``flops.forward_per_sample``) where its rows have their inputs
    (:func:`scaling.survival.durations.with_attack_cost`).
    """
    if runs is None:
        runs, _ = collect(results_dir)
    parts: List[pd.DataFrame] = []
    problems: List[str] = []
    if SURVIVAL_POINTER not in runs.columns:
        return pd.DataFrame(), problems
    for _, run in runs.iterrows():
        name = run.get(SURVIVAL_POINTER)
        if not isinstance(name, str) or not name:
            continue
        path = os.path.join(os.path.dirname(str(run[PATH_COLUMN])), name)
        if os.path.basename(name) != name or name in (os.curdir, os.pardir):  # a record never points elsewhere
            problems.append(f"{run[PATH_COLUMN]}: survival.file {name[:80]!r} is not a file name in the run's "
                            "folder; left out")
            continue
        try:
            check_regular(path, "survival table", error=ValueError)  # a FIFO or device would block or never end
            part = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            problems.append(f"{path}: survival table unreadable: {err}")
            continue
        if "run_id" not in part.columns or (part["run_id"] != run["run_id"]).any():
            problems.append(f"{path}: survival table is not the run {run['run_id']}'s (run_id column differs)")
            continue
        parts.append(part)
    if not parts:
        return pd.DataFrame(), problems
    table = pd.concat(parts, ignore_index=True)
    keep = [c for c in runs.columns if c != "run_id" and not c.startswith(f"{SURVIVAL}.") and c not in table.columns
            and (columns is None or c in columns)]
    joined = table.merge(runs.drop_duplicates("run_id")[["run_id", *keep]], on="run_id", how="left",
                         validate="many_to_one")
    from .survival.durations import with_attack_cost  # the attack's passes and FLOPs to failure per point

    return with_attack_cost(joined), problems
