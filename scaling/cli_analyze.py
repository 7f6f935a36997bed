"""``robustperf analyze TABLE_OR_RESULTS_DIR -o OUT``: scaling laws, factor analysis, forecast, figures.

Reads a results directory (collected first; completed runs only) or any CSV/Parquet table with a column
mapping, and writes OUT/report.json, OUT/report.md and figures (PNG and PDF).

Columns default to our records' fields (flops.train_total, accuracy.autoattack, cost.electricity_usd, co2_kg,
energy.kwh; factors params, config.data.synthetic_fraction, config.model.activation, config.training.loss,
config.attack.steps, config.training.ema_decay). For other tables name them: a column or a product of columns

    robustperf analyze results.csv -o out --flops-col 'train_flops*epochs' --acc-col aa_robust_acc \\
        --cost-col 'train_electricity_cost*epochs' --feature at --feature at_steps --facet synthetic_data

or put the same keys (flops, acc, cost, co2, kwh, features, facet, group, usd_per_kwh, time, and params, samples,
error, loss of the compute-optimal allocation, by of the per-group laws) in a --mapping YAML, with also `sections` (settings of analysis sections), `units` (device, utilisation and CO2 equivalents of
the pictured forecast costs) and `adapter` (a table adapter such as robustbench); flags override the file. A
column option set to 'none' switches its section off; a column named explicitly must exist (exit 2). Every
registered analysis section runs when its columns are there (laws chosen by backtesting, conformal forecasts,
trends, survival, ...); a section whose columns are missing, or whose fit fails (the envelope law's included),
prints one line saying why and the others run. No section is required.

--by COLUMN fits every law section per value of COLUMN and tests whether the envelope exponents differ
(scaling.groups); --budgets FLOPS... asks the allocation section for the best model size, samples seen and error
at each compute budget (scaling.allocation: the joint law of Hoffmann et al. 2022, approach 3).

exit status: 0; 2 for a mistake (a named column absent, an empty mapping, a bad flag) or when no section can
run on the table.
"""
from __future__ import annotations

import math
import os
import sys

HELP = "fit the scaling laws and factor models of a results table or directory; write report and figures"


def add_arguments(parser) -> None:
    parser.add_argument("source", metavar="TABLE_OR_RESULTS_DIR", help="CSV/Parquet table or results directory")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    cols = parser.add_argument_group("columns (a name or a product a*b; 'none' switches a section off)")
    cols.add_argument("--flops-col", dest="flops", help="total training FLOPs (default flops.train_total)")
    cols.add_argument("--acc-col", dest="acc", help="AutoAttack accuracy, %% (default accuracy.autoattack)")
    cols.add_argument("--cost-col", dest="cost", help="electricity cost, $ (default cost.electricity_usd)")
    cols.add_argument("--co2-col", dest="co2", help="emissions, kg CO2eq (default co2_kg)")
    cols.add_argument("--kwh-col", dest="kwh", help="energy, kWh (default energy.kwh)")
    cols.add_argument("--feature", dest="features", action="append", metavar="COL",
                      help="a factor of the gradient-boosting model (repeatable; default: the recipe factors)")
    cols.add_argument("--facet", help="column splitting the accuracy-vs-FLOPs figures into panels "
                                      "(default config.data.synthetic_fraction)")
    cols.add_argument("--group", action="append", metavar="COL",
                      help="columns identifying a configuration for repeats (repeatable; default: config.* but "
                           "the seed; other tables: none)")
    cols.add_argument("--usd-per-kwh", type=float, help="electricity price, to forecast kWh from $ when no kWh "
                                                        "column is mapped")
    cols.add_argument("--params-col", dest="params", help="parameter count N of the joint law (default params)")
    cols.add_argument("--samples-col", dest="samples", help="training samples seen D of the joint law")
    cols.add_argument("--error-col", dest="error", help="robust error the joint law is fitted to (default 100 - acc)")
    cols.add_argument("--loss-col", dest="loss", help="robust test loss the joint law is fitted to")
    cols.add_argument("--by", metavar="COL", help="fit the laws per value of COL and test whether the groups' "
                                                  "exponents differ")
    cols.add_argument("--mapping", metavar="YAML", help="mapping file with the keys above")
    parser.add_argument("--set", dest="pricing", action="append", default=[], metavar="measurement.KEY=VALUE",
                        help="results directory only: re-price every run from its raw measurements first, e.g. "
                             "--set measurement.usd_per_kwh=0.24 (as robustperf collect --set; repeatable)")
    fit = parser.add_argument_group("fitting")
    fit.add_argument("--bins", type=int, default=19, help="FLOP bins of the envelope (default 19)")
    fit.add_argument("--bin-scale", choices=("log", "linear"), default="log", help="bin spacing (default log)")
    fit.add_argument("--collapse", type=float, default=0.0,
                     help="drop runs with accuracy at or below this from the envelope (default 0)")
    fit.add_argument("--targets", type=float, nargs="+", default=[60.0, 65.0, 70.0, 75.0], metavar="ACC",
                     help="forecast target accuracies, %%, each 0 < ACC < 100; at most ROBUSTPERF_MAX_TARGETS "
                          "of them, default 100 (default 60 65 70 75)")
    fit.add_argument("--seed", type=int, default=0, help="seed of splits, trees, permutations, bootstrap")
    fit.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the forecast")
    fit.add_argument("--cuts", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8], metavar="SHARE",
                     help="backtest cuts: shares of the log FLOP range the laws are fitted on (default 0.5 0.6 0.7 "
                          "0.8)")
    fit.add_argument("--conformal-level", type=float, default=0.9, metavar="P",
                     help="coverage of the split-conformal forecast intervals (default 0.9)")
    cols.add_argument("--time-col", dest="time", help="year/time column of the quantile-regression trend")
    fit.add_argument("--budgets", type=float, nargs="+", default=[], metavar="FLOPS",
                     help="compute budgets (the FLOPs column's unit) of the compute-optimal allocation (default: "
                          "the largest observed FLOPs, x10, x100)")
    fit.add_argument("--drop-nonpositive", action="store_true",
                     help="exclude (and report) runs with non-positive FLOPs instead of failing")
    fit.add_argument("--year", dest="years", type=float, action="append", metavar="YEAR",
                     help="forecast robust accuracy and cost in this year (repeatable; default the table's latest "
                          "year + 1, + 3, + 5)")
    fit.add_argument("--no-figures", action="store_true", help="write the reports only")
    fit.add_argument("--envelope-yscale", choices=("linear", "log"), default="linear",
                     help="accuracy axis of the envelope figure (default linear: a log axis squashes the rise)")


def main(args) -> int:
    from .analysis import Options, analyze
    from .errors import TableError
    from .mapping import Mapping, load_mapping
    from .sections.registry import get_section
    from .table import load_table

    from recipes.limits import limit, over_limit_message

    if args.bins < 1:
        raise TableError(f"--bins must be >= 1, got {args.bins}")
    if args.bins > limit("bins"):
        raise TableError("--bins: " + over_limit_message("bins", "the number of FLOP bins", args.bins))
    check_targets(args.targets, TableError)
    bad = [c for c in args.cuts if not 0 < c < 1]
    if bad:
        raise TableError(f"--cuts are shares of the FLOP range, 0 < cut < 1; got {bad[0]:g}")
    if not 0 < args.conformal_level < 1:
        raise TableError(f"--conformal-level must be in (0, 1), got {args.conformal_level:g}")
    if args.bootstrap < 1:
        raise TableError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    if args.bootstrap > limit("bootstrap"):
        raise TableError("--bootstrap: " + over_limit_message("bootstrap", "the number of bootstrap resamples",
                                                               args.bootstrap))
    if not 0 <= args.seed < 2 ** 32:
        raise TableError(f"--seed must be in 0 .. 2**32 - 1 (numpy's seed range), got {args.seed}")
    if any(not math.isfinite(y) for y in args.years or ()):
        raise TableError(f"--year must be a finite year, got {', '.join(f'{y:g}' for y in args.years)}")
    if not math.isfinite(args.collapse):
        raise TableError(f"--collapse must be a finite accuracy in percent, got {args.collapse}")
    check_budgets(args.budgets, TableError)
    _check_output(args.output, TableError)
    mapping = load_mapping(args.mapping) if args.mapping is not None else Mapping()
    mapping = mapping.merged(Mapping(
        flops=args.flops, acc=args.acc, cost=args.cost, co2=args.co2, kwh=args.kwh,
        features=tuple(args.features) if args.features else None, facet=args.facet,
        group=tuple(args.group) if args.group else None, usd_per_kwh=args.usd_per_kwh, time=args.time,
        params=args.params, samples=args.samples, error=args.error, loss=args.loss, by=args.by))
    price = mapping.usd_per_kwh
    if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float))
                              or not math.isfinite(price) or price <= 0):
        source = "--usd-per-kwh" if args.usd_per_kwh is not None else f"{args.mapping}: key 'usd_per_kwh'"
        raise TableError(f"{source}: an electricity price must be a positive number of $ per kWh, got {price!r} "
                         f"(a negative or NaN price would forecast negative or NaN kWh)")
    from results.pricing import parse_pricing_overrides

    pricing = parse_pricing_overrides(args.pricing)
    if pricing.get("usd_per_kwh") and mapping.usd_per_kwh is None:  # forecasts of kWh from $ need a price > 0
        mapping = mapping.merged(Mapping(usd_per_kwh=pricing["usd_per_kwh"]))
    table, problems = load_table(args.source, pricing)
    for problem in problems:
        print(f"robustperf analyze: skipped {problem}", file=sys.stderr)
    options = Options(n_bins=args.bins, bin_scale=args.bin_scale, collapse=args.collapse,
                      targets=tuple(args.targets), seed=args.seed, n_boot=args.bootstrap,
                      figures=not args.no_figures, drop_nonpositive=args.drop_nonpositive,
                      envelope_yscale=args.envelope_yscale,
                      cuts=tuple(sorted(args.cuts)), conformal_level=args.conformal_level,
                      years=tuple(args.years or ()), budgets=tuple(args.budgets))
    report = analyze(table, mapping, args.output, options, source=args.source, problems=problems)
    for name, reason in report["skipped_sections"].items():
        if not any(note.startswith(f"{name}: ") for note in report["notes"]):
            print(f"skipped section {name}: {reason}")
    for note in report["notes"]:
        print(f"robustperf analyze: note: {note}", file=sys.stderr)
    for reason, rows in report["excluded"].items():
        if rows:
            print(f"robustperf analyze: excluded {len(rows)} rows ({reason}): {', '.join(rows[:10])}"
                  + (" ..." if len(rows) > 10 else ""), file=sys.stderr)
    for name in report["sections"]:
        for line in get_section(name).console(report[name]):
            print(f"{name}: {line}")
    if "envelope" in report["sections"]:
        env = report["envelope"]
        print(f"envelope: accuracy = {env['C']:.4g} * FLOPs^{env['alpha']:.4g} "
              f"(alpha 95% CI [{env['alpha_ci'][0]:.3g}, {env['alpha_ci'][1]:.3g}], {env['n_points']} bins, "
              f"R2 {env['r2']:.3f})")
        for group, part in (env.get("groups") or {}).items():
            if "alpha" in part:
                print(f"envelope [{report['by']['column']} = {group}]: alpha = {part['alpha']:.4g} "
                      f"(95% CI [{part['alpha_ci'][0]:.3g}, {part['alpha_ci'][1]:.3g}])")
        diff = env.get("group_difference") or {}
        if "p_value" in diff:
            print(f"envelope: do the groups' exponents differ? p = {diff['p_value']:.3g} ({diff['test']})"
                  + (f"; difference {diff['difference']:.3g} [{diff['difference_ci'][0]:.3g}, "
                     f"{diff['difference_ci'][1]:.3g}]" if "difference" in diff else ""))
    print(f"wrote {args.output}/report.json, report.md and {len(report['figures'])} figure files")
    return 0


def check_targets(targets, error) -> None:
    """``--targets``: at most the ``targets`` limit of them, each a finite robust accuracy with 0 < t < 100.

    100 % (no adversarial example at all) is refused: the saturating and error laws reach it only at infinite
    compute, and the power law only by extrapolating without bound past every run, so no forecast of it means
    anything. A target above a fitted law's asymptote is reported in the forecast ("not reachable").
    """
    from recipes.limits import limit, over_limit_message

    if len(targets) > limit("targets"):
        raise error("--targets: " + over_limit_message("targets", "the number of target accuracies", len(targets)))
    for t in targets:
        if not math.isfinite(t) or not 0 < t <= 100:
            raise error(f"--targets are robust accuracies in percent, 0 < target < 100; got {t:g}")
        if t == 100:
            raise error("--targets: 100 % robust accuracy is not a target a law fitted on robust accuracies can "
                        "forecast (the saturating and error laws reach it only at infinite compute, the power law "
                        "only by extrapolating without bound); give targets below 100")


def check_budgets(budgets, error) -> None:
    """``--budgets``: at most the ``budgets`` limit of them, each a positive finite amount of compute."""
    from recipes.limits import limit, over_limit_message

    if len(budgets) > limit("budgets"):
        raise error("--budgets: " + over_limit_message("budgets", "the number of compute budgets", len(budgets)))
    for b in budgets:
        if not math.isfinite(b) or b <= 0:
            raise error(f"--budgets are amounts of compute in the FLOPs column's unit, each > 0; got {b:g}")


def _check_output(path: str, error) -> None:
    """The output folder must be a folder this user can create and write (checked before any fitting)."""
    if not path or not path.strip():
        raise error("-o/--output: an output folder is needed, got an empty path")
    if os.path.exists(path) and not os.path.isdir(path):
        raise error(f"-o/--output: {path} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise error(f"-o/--output: cannot create the folder {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise error(f"-o/--output: the folder {path} is not writable")
