"""``execute``: one run of the matrix, start to finish - skip, re-price, re-evaluate, or train (and resume).

Torch is imported only when the run trains (:mod:`.session`) or re-evaluates, so a completed run answers at once.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from results import COMPLETED, RecordError, load_record, record_path
from results.keys import STATUS
from results.lock import RunLock
from results.pricing import refresh

from ..recovery import restart as restart_run
from .completed import refresh_completed
from .exit_codes import EXIT_OK
from .folder import check_run_folder, run_dir_of

__all__ = ["execute"]


def execute(spec, results_dir: str, *, recipe_name: Optional[str] = None, checkpoint_steps: int = 0,
            checkpoint_seconds: float = 600.0, device: Optional[str] = None, progress: Optional[bool] = None,
            evaluate: bool = True, count_flops: bool = True, restart: bool = False) -> int:
    """Train (or resume, skip, re-evaluate or re-price) one run and maintain its result record.

    Args:
        spec: the run (:class:`recipes.RunSpec`).
        results_dir: the results folder; the run writes ``results_dir/<run_id>/``.
        recipe_name: recorded as the record's ``recipe``.
        checkpoint_steps: checkpoint every this many steps inside an epoch too (0 = epoch ends only).
        checkpoint_seconds: checkpoint when this long has passed since the last checkpoint (0 = never).
        device: ``cpu`` / ``cuda``; None = CUDA when available.
        progress: tqdm bars; None = when stderr is a terminal.
        evaluate: run the final evaluation (``benchmarks.evaluation``) after training.
        count_flops: count the executed FLOPs of the first step with DeepSpeed.
        restart: move damaged state aside first (:func:`benchmarks.recovery.restart`).

    Returns:
        The exit code: :data:`EXIT_OK`, :data:`EXIT_DIVERGED` or 128 + signal (:func:`preempted_exit_code`).

    Raises:
        UserError: a missing or malformed dataset and other user mistakes (the record says failed).
    """
    # A link in the run's folder (train.log -> a file elsewhere) would be read or written through: refused first.
    check_run_folder(run_dir_of(results_dir, spec.run_id))
    record = None if restart else _load_or_explain(results_dir, spec.run_id)
    if _nothing_to_do(spec, record, evaluate):  # before torch is even imported: "at once"
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"robustperf run: {spec.run_id} ({spec.name}) is already completed: "
                  f"{record_path(results_dir, spec.run_id)}", flush=True)
        return EXIT_OK
    kwargs = dict(recipe_name=recipe_name, checkpoint_steps=checkpoint_steps, checkpoint_seconds=checkpoint_seconds,
                  device=device, progress=progress, evaluate=evaluate, count_flops=count_flops, restart=restart)
    if int(os.environ.get("RANK", "0")) != 0:
        if record is not None and record[STATUS] == COMPLETED:
            return EXIT_OK  # re-evaluation and re-pricing are rank 0's
        return _train(spec, results_dir, **kwargs)
    # One process per run: a second one raises RunLocked (exit EXIT_IN_FLIGHT) before it changes anything.
    with RunLock(run_dir_of(results_dir, spec.run_id)):
        if restart:
            restart_run(run_dir_of(results_dir, spec.run_id), check=_model_check(spec))
        record = _load_or_explain(results_dir, spec.run_id)  # as the holder we may have waited behind left it
        if record is not None and record[STATUS] == COMPLETED:
            return refresh_completed(spec, results_dir, record, evaluate=evaluate, device=device)
        return _train(spec, results_dir, **kwargs)


def _model_check(spec):
    """``check(path, state)`` for :func:`benchmarks.recovery.restart`: the checkpoint holds this run's model."""
    def check(path: str, state: dict) -> None:
        from .._loading import checks_model_of  # torch deferred: called only for a run that is not completed

        checks_model_of(spec.run_config())(path, state)

    return check


def _train(spec, results_dir: str, **kwargs: Any) -> int:
    # torch deferred: a completed run must answer without importing torch
    from .session import run_session

    return run_session(spec, results_dir, **kwargs)


def _load_or_explain(results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    try:
        return load_record(results_dir, run_id)
    except RecordError as err:
        raise RecordError(err.path, f"{err.reason}. The run's record is damaged: rerun the same command with "
                                    f"--restart to keep it aside and continue from the checkpoint (or start "
                                    f"over)") from None


def _nothing_to_do(spec, record: Optional[Dict[str, Any]], evaluate: bool) -> bool:
    """A completed record with the evaluation settings and pricing constants asked for."""
    if record is None or record[STATUS] != COMPLETED:
        return False
    _, changes, needs_evaluation = refresh(record, spec.config, evaluate=evaluate)
    return not changes and not needs_evaluation
