"""``robustperf status RESULTS_DIR``: completed / failed / running / pending counts and a table of runs.

With ``--recipe`` the whole matrix is listed (runs without a record are pending); without it, the runs on
disk and those earlier launches submitted. Running runs whose job is gone are marked: launch again to resume.

exit status: 0, or 2 when the directory or recipe cannot be read.
"""
from __future__ import annotations

import json
import sys

from recipes import load_recipe

from .backends import QUEUES

HELP = "count completed / failed / running / pending runs of a results directory and list them"


def add_arguments(parser) -> None:
    parser.add_argument("results", metavar="RESULTS_DIR", help="results directory (one folder per run_id)")
    parser.add_argument("--recipe", help="recipe whose matrix defines the runs (pending = no record yet)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override, as given to launch (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON: counts and one object per run")
    parser.add_argument("--no-jobs", action="store_true",
                        help="do not ask the scheduler whether running runs' jobs are alive")


def main(args) -> int:
    from .status import collect_status, format_table  # deferred like every command's work: --help stays instant

    matrix = load_recipe(args.recipe, args.overrides).runs() if args.recipe else None
    status = collect_status(args.results, matrix, None if args.no_jobs else QUEUES)
    if args.json:
        json.dump(status.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_table(status))
    return 0
