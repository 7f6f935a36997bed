"""``robustperf evaluate RUN_DIR``: clean, PGD and AutoAttack accuracy and inference cost of a trained run.

Loads the run's record and checkpoint (EMA weights when the run used EMA), evaluates as the run's
``evaluation`` section says and writes the results into ``RUN_DIR/result.json``. Resumable: after SIGTERM or
SIGUSR1 (exit 128+signal) or a kill, the same command continues where the evaluation stopped, with the answer
an uninterrupted evaluation gives. Use it on another machine or later than training, as clusters need. It takes
the run's lock (``run.lock``): while ``robustperf run`` or another evaluation holds it, exit 75 having changed
nothing.
"""
from __future__ import annotations

import sys

HELP = "evaluate a trained run: clean, PGD and AutoAttack accuracy and inference cost (resumable)"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder (runs/<run_id>)")
    parser.add_argument("--which", choices=("best", "last"), default=None,
                        help="checkpoint to evaluate (default: the run's evaluation.which)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override an evaluation.* or measurement.* key, e.g. --set evaluation.autoattack_n=1000 "
                             "(repeatable; noted in the record's evaluation.warnings)")
    parser.add_argument("--fresh", action="store_true", help="ignore saved evaluation state and start over")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")


def main(args) -> int:
    import logging
    import os

    from results import RECORD_FILE, read_run_record
    from results.lock import RunLock

    from .evaluation import EvaluationError, EvaluationInterrupted, evaluate_run
    from .run.folder import check_run_folder

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    which = args.which
    run_dir = os.path.realpath(args.run_dir)  # resolved once: every write goes into this folder, and no other
    path = os.path.join(run_dir, RECORD_FILE)
    from recipes.files import check_regular

    check_regular(path, "record", error=lambda reason: EvaluationError(f"{path}: {reason}"))  # a FIFO: said so
    if not os.path.isfile(path):
        raise EvaluationError(f"{run_dir}: no {RECORD_FILE}; expected the folder of a run written by `robustperf "
                              "run` (runs/<run_id>)")
    record = read_run_record(run_dir)  # a copy of a run under another folder name is refused here
    if which is None:
        which = ((record.get("config") or {}).get("evaluation") or {}).get("which", "best")
    check_run_folder(run_dir)
    try:
        # the run's lock (results.lock): never evaluate while `robustperf run` (or another evaluate) writes it
        with RunLock(run_dir):
            record = evaluate_run(run_dir, which, args.overrides, fresh=args.fresh, device=args.device)
    except EvaluationInterrupted as err:
        print(f"robustperf evaluate: {err}", file=sys.stderr)
        return err.exit_code
    acc = record["accuracy"]
    print(f"{record['run_id']} ({which}): clean {acc['clean']:.2f}%  PGD {acc['pgd']:.2f}%  AutoAttack "
          + (f"{acc['autoattack']:.2f}%" if acc["autoattack"] is not None else "skipped"))
    return 0
