"""``robustperf summarize SUBMISSION_DIR... -o summary.csv``: the results summarizer, one CSV row per result.

Reads each submission folder (``robustperf submit``'s layout), scores its runs olympic-style under its benchmark's
rules (the fastest and the slowest by time to target dropped, a run that missed the target counting as the
slowest; no score with more misses than the rules allow, a missed run among the scored ones, or another number
of runs than the benchmark's repeats) and writes one row per result: benchmark, division, submitter, system,
runs, scored_runs, the scored means (epochs, seconds, kWh, $, CO2 and training FLOPs to target, robust and clean
accuracy), confirmed, the spread (min, max) of each over the scored runs, reached_runs, energy_source, the
submission folder and a unique result_id. Numbers keep full precision. The CSV is written atomically (never
through a symbolic link) and its path printed on stdout; why a result has no score is said on stderr.
``robustperf board`` reads the CSV.

Exit status: 0; 2 for an input the summarizer cannot use (a folder without submission.json, a broken record or
to_target group, a benchmark not in the catalog, a folder given twice; each named with its file and key) or an
output it must not write (a symbolic link, a folder).
"""
from __future__ import annotations

import sys

HELP = "summarize submission folders into one CSV, a row per result (olympic-scored, with the spread)"


def add_arguments(parser) -> None:
    parser.add_argument("folders", nargs="+", metavar="SUBMISSION_DIR",
                        help="submission folders (robustperf submit)")
    parser.add_argument("-o", "--output", required=True, metavar="SUMMARY_CSV",
                        help="the summary CSV to write (replaced atomically when it exists)")


def main(args) -> int:
    from .summary import summarize, write_summary

    subs = summarize(args.folders)
    write_summary(args.output, subs)
    for sub in subs:
        if sub.score.reason is not None:
            print(f"robustperf summarize: {sub.folder}: no score: {sub.score.reason}", file=sys.stderr)
    scored = sum(sub.score.reason is None for sub in subs)
    print(f"robustperf summarize: {len(subs)} result{'s' if len(subs) != 1 else ''} ({scored} scored) in "
          f"{args.output}", file=sys.stderr)
    print(args.output)
    return 0
