"""``robustperf collect RESULTS_DIR [-o table.csv|table.parquet] [--strict] [--survival] [--set measurement.K=V]``:
one row per run.

``--set measurement.usd_per_kwh=0.24`` (and ``pue``, ``kg_co2_per_kwh``, ``region``, ``cloud_usd_per_gpu_hour``)
re-prices every run from the raw measurements its record keeps (device joules before PUE, device-hours, device model):
the derived kWh, $ and CO2 columns and the ``pricing.*`` columns follow; nothing is rerun, no file changes.

With ``--survival``: one row per attacked point and attack configuration instead, gathered from every run's
``survival.parquet`` and joined with its run's record columns by ``run_id`` (the AFT models' input).

Every readable record becomes a row, its fields flattened to dotted columns (``flops.train_total``,
``config.training.loss``) plus ``record_path``. Running and failed runs stay in the table with their ``status``
(and ``failure_reason``), so nothing disappears; ``analyze`` keeps only ``status == completed``. Corrupt records
cannot be rows. Every non-completed or corrupt record is listed on stderr with its reason.

Exit status: 0; 1 with ``--strict`` when any record is incomplete, failed or corrupt (the table is then not
written); 2 for a usage error (no such directory, unknown output format), a folder with no record (or none that
can be read; with ``--survival``: no run with survival data), and a table that cannot be written (disk full,
file too large, read-only; on stdout as well): the file is named and nothing half-written is left.
"""
from __future__ import annotations

import os
import sys

HELP = "collect result records into one table (CSV or Parquet), one row per run"
STRICT_EXIT = 1


def add_arguments(parser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="results directory (one folder per run_id)")
    parser.add_argument("-o", "--output", metavar="TABLE",
                        help="write the table here (.csv or .parquet); default: CSV on stdout")
    parser.add_argument("--strict", action="store_true",
                        help=f"exit {STRICT_EXIT} without writing when any record is incomplete, failed or corrupt")
    parser.add_argument("--set", dest="pricing", action="append", default=[], metavar="measurement.KEY=VALUE",
                        help="re-price every run from its raw measurements (device joules, device-hours): "
                             "measurement.usd_per_kwh, pue, kg_co2_per_kwh, region (a country, grid zone or "
                             "cloud region: its carbon intensity) or cloud_usd_per_gpu_hour, e.g. "
                             "--set measurement.usd_per_kwh=0.24 (repeatable; the records are not changed)")
    parser.add_argument("--survival", action="store_true",
                        help="collect the per-point survival tables (survival.parquet of each run) with their "
                             "run's columns instead, one row per point and attack configuration")


def main(args) -> int:
    from .errors import TableError
    from results.keys import SURVIVAL_TABLE

    from .table import collect, collect_survival, write_failure, write_table

    if args.output and not args.output.lower().endswith((".csv", ".parquet", ".pq")):
        raise TableError(f"{args.output}: unknown table format; expected a .csv or .parquet output")
    if args.output:  # an existing FIFO, device or folder is refused before any work (recipes/files.py)
        from recipes.files import check_output_file

        check_output_file(args.output, "output table", error=lambda reason: TableError(f"{args.output}: {reason}"))
    from results.pricing import parse_pricing_overrides

    table, problems = collect(args.results_dir, parse_pricing_overrides(args.pricing))  # no record: TableError
    for problem in problems:
        print(f"robustperf collect: {problem}", file=sys.stderr)
    in_table = ("incomplete", "failed")  # rows of the table with a problem; corrupt and invalid records are not
    left_out = sum(p.kind in ("corrupt", "invalid", "misplaced") for p in problems)
    complete = len(table) - sum(p.kind in in_table for p in problems)
    print(f"robustperf collect: {len(table) + left_out} records, {complete} completed, "
          f"{sum(p.kind in in_table for p in problems)} incomplete or failed, {left_out} left out (corrupt, "
          f"invalid values, or copies of runs under other folder names)", file=sys.stderr)
    if problems and args.strict:
        print("robustperf collect: --strict: table not written", file=sys.stderr)
        return STRICT_EXIT
    if not len(table):
        raise TableError(f"{args.results_dir}: none of its {len(problems)} records can be a row (each is listed "
                         "above with its reason); no table written")
    if args.survival:
        runs = table
        table, missing = collect_survival(args.results_dir, table)
        for problem in missing:
            print(f"robustperf collect: {problem}", file=sys.stderr)
        with_data = int(table["run_id"].nunique()) if len(table) else 0
        print(f"robustperf collect: survival: {len(table)} rows from {with_data} of {len(runs)} runs",
              file=sys.stderr)
        if missing and args.strict:
            return STRICT_EXIT
        if not len(table):
            raise TableError(f"{args.results_dir}: no survival data: none of its {len(runs)} runs has a readable "
                             f"{SURVIVAL_TABLE} (robustperf run writes it with the evaluation); no table written")
    if args.output:
        write_table(table, args.output)
        print(f"robustperf collect: wrote {args.output} ({len(table)} rows, {len(table.columns)} columns)",
              file=sys.stderr)
    else:
        try:
            table.to_csv(sys.stdout, index=False)
            sys.stdout.flush()  # a failure shows here, inside the command, not at exit
        except BrokenPipeError:  # `robustperf collect DIR | head`: the reader has what it wanted
            raise
        except OSError as err:
            # what is still buffered goes nowhere, so that the exit does not fail a second time, with a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise TableError(f"stdout: cannot write the table: {write_failure(err)}") from None
    return 0
