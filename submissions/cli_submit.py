"""``robustperf submit RESULTS_DIR --benchmark ID --division closed|open --submitter NAME [--system SYSTEM.yaml]
-o SUBMISSION_DIR``: package a result for others, in the submission layout of docs/explanation/benchmarks.md.

Picks RESULTS_DIR's completed runs of the benchmark and division (one configuration, differing only in seed, at
least the benchmark's repeats), copies each run's mllog.txt, result.json and train.log and writes its recipe.yaml
into SUBMISSION_DIR/results/<system>/<benchmark>/run_<k>/ (k in seed order), and writes submission.json,
systems/<system>.json (hardware and software: from the records, detected, and --system's file on top) and
MANIFEST.sha256. SUBMISSION_DIR must not exist; it appears complete or not at all. RESULTS_DIR is only read.
Then run ``robustperf check SUBMISSION_DIR``.

Exit status: 0; 2 for a mistake named in one line (no such folder, a mixture of configurations and the keys that
differ, too few runs, an existing SUBMISSION_DIR, an invalid system file).
"""
from __future__ import annotations

import sys

HELP = "package a benchmark result (its runs, logs, recipes, system description) as a submission folder"


def add_arguments(parser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="the results folder holding the runs")
    parser.add_argument("--benchmark", required=True, metavar="ID", help="the benchmark (robustperf benchmarks)")
    parser.add_argument("--division", required=True, choices=("closed", "open"), help="the division entered")
    parser.add_argument("--submitter", required=True, metavar="NAME", help="who submits (an organisation's name)")
    parser.add_argument("--system", metavar="SYSTEM.yaml", default=None,
                        help="the system's name, notes and hardware/software fields overriding or adding to "
                             "what the records and this host say")
    parser.add_argument("-o", "--output", required=True, metavar="SUBMISSION_DIR",
                        help="the submission folder to write (must not exist)")


def main(args) -> int:
    from recipes.benchmark import get_benchmark

    from .errors import SubmissionError
    from .package import pick_runs, write_submission
    from .system import read_system_file

    submitter = args.submitter.strip()
    if not submitter or len(submitter) > 200 or any(ord(c) < 32 for c in submitter):
        raise SubmissionError("expected a name of 1-200 printable characters", key="--submitter",
                              value=args.submitter)
    bench = get_benchmark(args.benchmark, key="--benchmark")
    if args.system is not None:
        read_system_file(args.system)  # its mistakes first: they need no run read
    runs, notes = pick_runs(args.results_dir, bench, args.division)
    for note in notes:
        print(f"robustperf submit: {note}", file=sys.stderr)
    meta = write_submission(runs, bench, args.division, submitter, args.output, args.system)
    print(f"robustperf submit: {meta['runs']} runs of {bench.id} ({args.division}) on {meta['system']} "
          f"(seeds {', '.join(map(str, meta['seeds']))}) -> {args.output}; check it with: robustperf check "
          f"{args.output}", file=sys.stderr)
    print(args.output)
    return 0
