"""One run of the matrix, start to finish: the result record's lifecycle around training and evaluation.

Lifecycle of ``DIR/<run_id>/result.json`` (:class:`.lifecycle.RunLifecycle` owns every transition and the tracker):

0. One process per run: ``DIR/<run_id>/run.lock`` (:mod:`results.lock`) is taken first; when another live process
   holds it, exit :data:`EXIT_IN_FLIGHT` (75) at once, having changed nothing.
1. A ``completed`` record whose evaluation has the settings asked for: nothing to do (exit 0 at once). With other
   evaluation settings the run is *re-evaluated*, never retrained: a stored evaluation with those settings
   becomes the headline at once, otherwise the checkpoint is evaluated again (the checkpoints are untouched);
   every evaluation stays in the record's ``evaluations``, keyed by its settings. Other pricing constants
   re-price the record from its raw measurements (``results.pricing``). (:mod:`.completed`)
2. Otherwise the record is (re)written ``running`` with the job's identity and ``job.attempts`` + 1, and training
   starts, or resumes from ``checkpoint-last.pt`` when one exists. (:mod:`.session`)
3. SIGTERM / SIGUSR1 (sent by SLURM and LSF before the wall-time): checkpoint at the next step boundary (or
   save the evaluation's state), record ``preempted``, exit 128 + the signal number (143 for SIGTERM, 138 for
   SIGUSR1, as a shell reports a process ended by it; :func:`preempted_exit_code`), so the launcher requeues;
   the rerun resumes. Both cases raise the one :class:`benchmarks.interruption.Preempted`. (:mod:`.signals`)
4. A non-finite loss: record ``failed`` with the reason, exit :data:`EXIT_DIVERGED` (3).
5. Training done: the final evaluation (``benchmarks.evaluation``) and the measured FLOPs, energy, cost and
   CO2 fill the record (:mod:`.record`), which becomes ``completed``.

The run folder (:mod:`.folder`) holds result.json, checkpoint-last.pt, checkpoint-best.pt, metrics.jsonl, train.log
and the tracker's files; the run's hooks into the training loop are :mod:`.hooks`; the exit codes
:mod:`.exit_codes`. Only rank 0 writes.
"""
from ..interruption import TEST_INTERRUPT_ENV
from .execute import execute
from .exit_codes import (EXIT_DIVERGED, EXIT_ERROR, EXIT_IN_FLIGHT, EXIT_OK, EXIT_PREEMPTED, EXIT_USER,
                         preempted_exit_code)
from .folder import LOG_FILE, METRICS_FILE, run_dir_of
from .lifecycle import RunLifecycle, job_info

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_USER", "EXIT_DIVERGED", "EXIT_PREEMPTED", "EXIT_IN_FLIGHT", "METRICS_FILE",
           "LOG_FILE", "execute", "job_info", "preempted_exit_code", "run_dir_of", "RunLifecycle", "TEST_INTERRUPT_ENV"]
