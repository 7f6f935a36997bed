"""``robustperf board SUBMISSION_DIR_OR_SUMMARY... -o SITE_DIR``: the leaderboard, a static web site.

Reads summary CSVs (``robustperf summarize``) and submission folders (``robustperf submit``), in any mix, and
writes SITE_DIR/index.html (the benchmarks), one page per benchmark (its results in a table that sorts by any
column and filters by division and system; Pareto charts of robust accuracy against kWh and $ to target) and one
page per result (configuration, system, per-run figures, links to copies of its logs). The site opens from disk
(file://) or from any static host: plotly's JavaScript is copied from the installed package into
SITE_DIR/assets/, and no page fetches anything from the network.

SITE_DIR must be new, empty or an earlier board; it is never a symbolic link or a file, and nothing is written
outside it. The path of the index page is printed on stdout. ``--zoo ESTIMATES.json`` (``robustperf zoo cost -o``)
adds the published models' estimated training cost to each benchmark's page, in its own group, never ranked or
charted with the measured results.

Exit status: 0; 2 for an input the board cannot use (missing columns named, unreadable CSV, empty input, a broken
submission.json or record) or a site folder it must not write into.
"""
from __future__ import annotations

import sys

HELP = "build the leaderboard: a static web site of results from summary CSVs and submission folders"


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="SUBMISSION_DIR_OR_SUMMARY",
                        help="summary CSVs (robustperf summarize) and/or submission folders (robustperf submit)")
    parser.add_argument("-o", "--output", required=True, metavar="SITE_DIR",
                        help="the site folder: new, empty, or an earlier board (rewritten)")
    parser.add_argument("--zoo", action="append", default=[], metavar="ESTIMATES.json",
                        help="estimated training cost of published models (robustperf zoo cost -o), shown on each "
                             "benchmark's page in its own group, apart from the measured results; repeatable")


def main(args) -> int:
    from .board import build_site, load_inputs
    from .board.zoo import read_estimates

    results = load_inputs(args.inputs)
    zoo = read_estimates(args.zoo)
    index, files = build_site(results, args.output, zoo)
    benchmarks = len({r.row["benchmark"] for r in results})
    print(f"robustperf board: {len(results)} result{'s' if len(results) != 1 else ''} in {benchmarks} "
          f"benchmark{'s' if benchmarks != 1 else ''}, {files} files in {args.output}", file=sys.stderr)
    print(index)
    return 0
