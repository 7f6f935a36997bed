"""A completed run asked for again: re-price it for other pricing constants and re-evaluate it for other
evaluation settings (a stored evaluation with those settings is reused); never retrain. Rank 0 only."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from results import record_path, write_record
from results.evaluations import evaluation_key, evaluation_settings
from results.keys import CONFIG
from results.pricing import refresh, reprice

from .exit_codes import EXIT_OK
from .folder import run_dir_of, run_logger

__all__ = ["refresh_completed"]


def refresh_completed(spec, results_dir: str, record: Dict[str, Any], *, evaluate: bool,
                      device: Optional[str]) -> int:
    """Re-price and re-evaluate the completed ``record`` of ``spec`` as needed; the exit code."""
    if int(os.environ.get("RANK", "0")) != 0:
        return EXIT_OK
    path = record_path(results_dir, spec.run_id)
    record, done, needs_evaluation = refresh(record, spec.config, evaluate=evaluate)
    if needs_evaluation:
        record[CONFIG] = spec.config
        settings = evaluation_settings(spec.config["evaluation"])
        _reevaluate(spec, results_dir, record, settings, device)
        record = reprice(record)  # the new evaluation's kWh with the record's constants
        done.append(f"re-evaluated with new settings (evaluation {evaluation_key(settings)}); checkpoints "
                    "untouched")
    if done:
        write_record(results_dir, record)
        print(f"robustperf run: {spec.run_id} ({spec.name}) was completed: {'; '.join(done)}: {path}", flush=True)
    else:
        print(f"robustperf run: {spec.run_id} ({spec.name}) is already completed: {path}", flush=True)
    return EXIT_OK


def _reevaluate(spec, results_dir: str, record: Dict[str, Any], settings: Dict[str, Any],
                device: Optional[str]) -> None:
    # torch deferred: re-pricing a completed run must not import torch
    from ..evaluation import evaluate_run

    run_dir = run_dir_of(results_dir, spec.run_id)
    log = run_logger(run_dir, True, spec.run_id)
    log(f"re-evaluating the completed run with {json.dumps(settings, sort_keys=True)}")
    evaluate_run(run_dir, settings["which"], record=record, log=log, device=device)
