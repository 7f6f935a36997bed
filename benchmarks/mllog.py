"""The MLPerf log of a run (``DIR/<run_id>/mllog.txt``): the suite's keys, and its final section, written from the
result record.

The standard keys come from ``mlperf_logging.mllog.constants``; the suite's own are namespaced ``robustperf_*``.
A run that enters a benchmark (:mod:`recipes.benchmark`) names it under MLPerf's own ``submission_benchmark`` key
(and its division under ``submission_division``), logs the target (``robustperf_target``), and its per-epoch
``eval_accuracy`` is the check's value of the target's metric (robust accuracy on held-out training images), as
MLPerf's ``eval_accuracy`` is the quality its target is measured in. Other runs name the suite under
``robustperf_benchmark``: the official checker's division rules accept only MLPerf's own benchmark names.

:func:`render_final` writes the final section from the record: ``eval_samples`` (only when the set-up did not log
it), ``eval_start``, the final evaluation's accuracies (its clean accuracy as ``eval_accuracy``, or as
``robustperf_clean_accuracy`` in a benchmark run, whose ``eval_accuracy`` events stay the target's metric),
``eval_stop``, a benchmark run's ``robustperf_to_target`` and ``robustperf_confirmation``, the FLOPs / energy /
cost keys, and ``run_stop`` with its status: ``success`` for a completed run - for a benchmark run only when it
reached its target (MLPerf's convention: a run that does not converge is ``aborted``) - ``aborted`` for a failed
one. :func:`update_mllog` replaces that section in place (``robustperf evaluate`` rewrites it from the updated
record), so the log never disagrees with ``result.json``.
"""
from __future__ import annotations

import io
import json
import logging
import time
from typing import Any, Dict, List, Mapping, Optional

from results import Cost, Energy, Evaluation, Flops, Timing, atomic_write_text
from results import get as record_get
from results.keys import CO2_KG, ENERGY, FLOPS, TO_TARGET

MLLOG_FILE = "mllog.txt"

# robustperf's own mllog keys (the standard ones come from mlperf_logging.mllog.constants)
KEY_RESUME = "robustperf_resume"
KEY_SUSPEND = "robustperf_suspend"
KEY_EPOCH_METRICS = "robustperf_epoch_metrics"
KEY_PGD_ACCURACY = "robustperf_pgd_accuracy"
KEY_AUTOATTACK_ACCURACY = "robustperf_autoattack_accuracy"
KEY_EVAL_METRIC = "robustperf_eval_metric"
#: metadata flag of the lines of the final section (rewritten from the record by update_mllog)
FINAL_META = "robustperf_final"
BENCHMARK = "robustperf"
KEY_BENCHMARK = "robustperf_benchmark"
#: training.precision -> MLPerf's precision names
PRECISION_NAMES = {"fp32": "fp32", "bf16": "bfloat16", "fp16": "fp16", "tf32": "tf32"}
ELECTRICITY_USD = Cost.path("electricity_usd")
#: record field (dotted) -> mllog key, logged at finish
RECORD_KEYS = {
    Energy.path("kwh"): "robustperf_energy_kwh",
    Energy.path("train_kwh"): "robustperf_train_energy_kwh",
    Energy.path("attack_kwh"): "robustperf_attack_energy_kwh",
    CO2_KG: "robustperf_co2_kg",
    ELECTRICITY_USD: "robustperf_electricity_usd",
    Flops.path("train_total"): "robustperf_train_flops",
    Flops.path("forward_per_sample"): "robustperf_forward_flops_per_sample",
    Timing.path("train_seconds"): "robustperf_train_seconds",
    Timing.path("attack_seconds"): "robustperf_attack_seconds",
}
#: record status -> MLPerf run_stop status (a benchmark run that missed its target: aborted, run_stop_status)
RUN_STOP_STATUS = {"completed": "success", "failed": "aborted"}
# a benchmark run's keys
KEY_TARGET = "robustperf_target"
KEY_TO_TARGET = "robustperf_to_target"
KEY_CONFIRMATION = "robustperf_confirmation"
KEY_CLEAN_ACCURACY = "robustperf_clean_accuracy"

def _metadata(record, field: str) -> Dict[str, Any]:
    if field.startswith(ENERGY + ".") or field in (CO2_KG, ELECTRICITY_USD):
        return {"source": record_get(record, Energy.path("source")), "pue": record_get(record, Energy.path("pue"))}
    if field.startswith(FLOPS + "."):
        return {"source": record_get(record, Flops.path("source"))}
    return {}


def _parse(line: str) -> Optional[Dict[str, Any]]:
    if not line.startswith(":::MLLOG "):
        return None
    try:
        event = json.loads(line[len(":::MLLOG "):])
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _is_final(event: Optional[Dict[str, Any]]) -> bool:
    if event is None:
        return False
    meta = event.get("metadata")
    return event.get("key") == "run_stop" or (isinstance(meta, dict) and bool(meta.get(FINAL_META)))


def render_final(record: Mapping[str, Any], *, extra: Optional[Mapping[str, Any]] = None,
                 not_before_ms: int = 0, with_eval_samples: bool = True) -> str:
    """The final section of a run's MLPerf log, from its record: ``:::MLLOG`` lines, newline-terminated.

    The evaluation interval ends now and lasts ``timing.eval_seconds`` (measured by the evaluation), not earlier
    than ``not_before_ms``; its ``epoch_num`` is the evaluated checkpoint's epoch.
    """
    # mlperf_logging deferred, as in Tracker._open_mllog
    from mlperf_logging.mllog import constants as mlc
    from mlperf_logging.mllog.mllog import MLLogger

    buffer = io.StringIO()
    logger = logging.getLogger(f"robustperf.mllog.render.{id(buffer)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    try:
        ml = MLLogger(logger=logger, default_namespace="", default_stack_offset=2)
        final = {FINAL_META: True}
        accuracy = dict(record.get("accuracy") or {})
        extra = dict(extra or {})
        for key in ("clean", "pgd", "autoattack"):
            if accuracy.get(key) is None and extra.get(key) is not None:
                accuracy[key] = extra[key]
        training = record.get("training") or {}
        which = accuracy.get("which")
        epoch = training.get("best_epoch") if which == "best" else training.get("epochs_completed")
        epoch = extra.get("_epoch", epoch if epoch is not None else training.get("epochs_completed") or 0)
        now = max(int(time.time() * 1000), int(not_before_ms))
        if any(accuracy.get(k) is not None for k in ("clean", "pgd", "autoattack")):
            seconds = record_get(record, Timing.path("eval_seconds"))
            start = max(int(not_before_ms), now - int(1000 * seconds)) if isinstance(seconds, (int, float)) \
                and seconds == seconds and seconds >= 0 else now
            meta = {"epoch_num": epoch, "robustperf_checkpoint": which, **final}
            if with_eval_samples and accuracy.get("clean_n"):  # the evaluation set: the whole test split
                ml.event(key=mlc.EVAL_SAMPLES, value=accuracy["clean_n"], metadata=final, time_ms=start)
            ml.start(key=mlc.EVAL_START, metadata=meta, time_ms=start)
            if accuracy.get("clean") is not None:
                # a benchmark run's eval_accuracy is its target's metric (robust accuracy); its clean one goes apart
                clean_key = KEY_CLEAN_ACCURACY if (record.get(TO_TARGET) or {}).get("benchmark") else mlc.EVAL_ACCURACY
                ml.event(key=clean_key, value=accuracy["clean"], time_ms=now,
                         metadata={**meta, "robustperf_n": accuracy.get("clean_n")})
            if accuracy.get("pgd") is not None:
                ml.event(key=KEY_PGD_ACCURACY, value=accuracy["pgd"], time_ms=now,
                         metadata={**meta, "robustperf_n": accuracy.get("pgd_n")})
            if accuracy.get("autoattack") is not None:
                ml.event(key=KEY_AUTOATTACK_ACCURACY, value=accuracy["autoattack"], time_ms=now,
                         metadata={**meta, "robustperf_n": accuracy.get("autoattack_n"),
                                   "robustperf_ci95": accuracy.get("autoattack_ci"),
                                   "robustperf_version": record_get(record, Evaluation.path("autoattack_version"))})
            for key, value in extra.items():
                if key not in ("clean", "pgd", "autoattack", "_epoch"):
                    ml.event(key=KEY_EVAL_METRIC, value=value, time_ms=now, metadata={"name": key, **meta})
            ml.end(key=mlc.EVAL_STOP, metadata=meta, time_ms=now)
        _to_target_events(ml, record, now, final)
        for field, key in RECORD_KEYS.items():
            value = record_get(record, field)
            if value is not None:
                ml.event(key=key, value=value, time_ms=now, metadata={**_metadata(record, field), **final})
        status = run_stop_status(record)
        if status is not None:
            meta = {"status": status, **final}
            if record.get("failure_reason"):
                meta["failure_reason"] = record["failure_reason"]
            ml.end(key=mlc.RUN_STOP, metadata=meta, time_ms=now)
    finally:
        logger.removeHandler(handler)
    return buffer.getvalue()


def update_mllog(path: str, record: Mapping[str, Any], *, extra: Optional[Mapping[str, Any]] = None) -> bool:
    """Replace the final section of the MLPerf log at ``path`` by the one ``record`` gives (atomic rewrite).

    Lines of an earlier final section (and any ``run_stop``) go; everything else is kept in order. Returns
    False when there is no log (``tracking.mllog: false`` or a run from before logging).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return False
    kept: List[str] = []
    last_ms = 0
    has_eval_samples = False
    for line in lines:
        event = _parse(line)
        if _is_final(event):
            continue
        has_eval_samples = has_eval_samples or (event or {}).get("key") == "eval_samples"
        kept.append(line)
        if event is not None and isinstance(event.get("time_ms"), (int, float)):
            last_ms = max(last_ms, int(event["time_ms"]))
    text = "".join(line + "\n" for line in kept if line.strip())
    atomic_write_text(path, text + render_final(record, extra=extra, not_before_ms=last_ms,
                                                with_eval_samples=not has_eval_samples))
    return True


def run_stop_status(record: Mapping[str, Any]) -> Optional[str]:
    """MLPerf's ``run_stop`` status of a record that stopped (None while it runs): ``success`` for a completed run
    (a benchmark run only when it reached its target), else ``aborted``."""
    status = record.get("status")
    if status not in RUN_STOP_STATUS:
        return None
    target = record.get(TO_TARGET) or {}
    if status == "completed" and target.get("benchmark") and not target.get("reached"):
        return "aborted"
    return RUN_STOP_STATUS[status]


def _to_target_events(ml, record: Mapping[str, Any], now: int, final: Dict[str, Any]) -> None:
    """A benchmark run's ``robustperf_to_target`` (the record's group) and ``robustperf_confirmation``."""
    target = dict(record.get(TO_TARGET) or {})
    if not target.get("benchmark"):
        return
    confirmation = target.pop("confirmation", None)
    ml.event(key=KEY_TO_TARGET, value=target, time_ms=now, metadata={"epoch_num": target.get("epoch"), **final})
    if isinstance(confirmation, dict) and confirmation.get("robust_accuracy") is not None:
        meta = {k: v for k, v in confirmation.items() if k not in ("robust_accuracy", "warnings")}
        ml.event(key=KEY_CONFIRMATION, value=confirmation["robust_accuracy"], time_ms=now,
                 metadata={**meta, "epoch_num": confirmation.get("epoch"), **final})


def has_run_start(path: str) -> bool:
    """Whether the log at ``path`` has begun a run (a resumed attempt appends to it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return any('"key": "run_start"' in line for line in fh)
    except FileNotFoundError:
        return False
