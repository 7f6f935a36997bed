"""``robustperf migrate RESULTS_DIR [--dry-run]``: move run folders to the current run ids, upgrade records.

Run ids hash what changes the trained weights (seed, data, model, training, attack). Folders written under an
older rule (before schema 1.1 the evaluation and pricing settings were part of the id) are moved to their new
ids and their records upgraded, so a launch after an upgrade retrains nothing that is finished. Folders that map
to one new id (they differed only in evaluation or pricing) are merged: every evaluation is kept in the record,
keyed by its settings; the other folders are kept under ``RESULTS_DIR/_migrated/``. Atomic and idempotent: a
second run (or one after an interruption) finishes the job or has nothing to do.

exit status: 0 done (or nothing to do), 2 not a results directory.
"""
from __future__ import annotations

HELP = "move run folders written under an older run-id rule to their current ids and upgrade their records"


def add_arguments(parser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="results directory (one folder per run_id)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")


def main(args) -> int:
    from .migrate import migrate

    plan = migrate(args.results_dir, dry_run=args.dry_run)
    prefix = "robustperf migrate" + (" (dry run)" if args.dry_run else "")
    for line in plan.lines():
        print(f"{prefix}: {line}")
    print(f"{prefix}: {plan.changes()} change(s), {len(plan.unchanged)} run(s) already current, "
          f"{len(plan.skipped)} skipped")
    return 0
