"""``robustperf check SUBMISSION_DIR``: the package checker of a submission (``robustperf submit``'s output).

Checks the layout, the checksums of MANIFEST.sha256, submission.json and the system description, the number of
runs against the benchmark's repeats, that the runs differ only in seed, each run's record, its config against
the division's rules (through the recipe loader, as a recipe is checked), its recipe, its target and
confirmation (at most the benchmark's max_missed runs that missed), and every MLPerf log, with MLPerf's official
checker (mlperf_logging.compliance_checker) and the suite's shipped ruleset (submissions/rules/common.yaml).
Each violation is one line on stdout: ``<file>: <rule>: <what>``.

Exit status: 0 the submission is valid; 1 it is not (each violation printed); 2 nothing to check (no such
folder, a file or a link given).
"""
from __future__ import annotations

import sys

HELP = "check a submission folder: layout, checksums, division rules, runs, targets, MLPerf logs"


def add_arguments(parser) -> None:
    parser.add_argument("submission", metavar="SUBMISSION_DIR", help="the submission folder (robustperf submit)")


def main(args) -> int:
    from .check import check_submission

    violations = check_submission(args.submission)
    for violation in violations:
        print(violation)
    if violations:
        rules = sorted({v.rule for v in violations})
        print(f"robustperf check: {args.submission}: INVALID, {len(violations)} violation"
              f"{'s' if len(violations) != 1 else ''} ({', '.join(rules)})", file=sys.stderr)
        return 1
    print(f"robustperf check: {args.submission}: valid", file=sys.stderr)
    return 0
