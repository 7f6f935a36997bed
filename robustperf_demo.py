"""``robustperf demo``: the whole pipeline on the embedded default, on this machine, in minutes.

recipes/demo.yaml (small WideResNets on scikit-learn's digits) is launched locally two runs at a time; each
run trains adversarially, measures its FLOPs and energy, and is evaluated with AutoAttack on a fixed subset
of test points. The records are then collected into a table and analysed (envelope power law, gradient
boosting, cost fits, figures). Finished runs are reused, so a second demo takes seconds.

This module is the composition root of the suite: it drives the public subcommands in order, exactly as a
user would type them, so the demo exercises the same code paths as a real study. It sits at the top level,
beside ``robustperf.py``, because it calls the CLI: no room (launchers included) imports the CLI module.
"""
from __future__ import annotations

import json
import os
import sys
import time

HELP = ("run the whole pipeline on the embedded default (digits): launch, evaluate, collect, analyze, then enter "
        "the digits-linf-0.2 benchmark: submit, check, leaderboard")
HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_RECIPE = os.path.join(HERE, "recipes", "demo.yaml")
BENCHMARK_RECIPE = os.path.join(HERE, "recipes", "benchmark-digits-linf-0.2.yaml")
SUBMITTER = "robustperf-demo"


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=os.path.join("runs", "demo"),
                        help="output folder: runs/ (one folder per run), table.csv, analysis/ (default: runs/demo)")
    parser.add_argument("--recipe", default=DEMO_RECIPE, help="recipe to run instead of recipes/demo.yaml")
    parser.add_argument("--max-parallel", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key for every run of the study (repeatable)")
    parser.add_argument("--benchmark-recipe", default=BENCHMARK_RECIPE,
                        help="the benchmark entry: a recipe naming a benchmark and division (default: "
                             "recipes/benchmark-digits-linf-0.2.yaml, closed division, the benchmark's repeats)")
    parser.add_argument("--no-benchmark", action="store_true", help="stop after the study (no benchmark entry)")


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def main(args) -> int:
    import robustperf

    from recipes import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)  # fail early, before anything runs
    entry = None if args.no_benchmark else load_recipe(args.benchmark_recipe)
    if entry is not None and entry.benchmark is None:
        print(f"robustperf demo: {args.benchmark_recipe} names no benchmark (its top-level benchmark: key)",
              file=sys.stderr)
        return 2
    runs_dir = os.path.join(args.out, "runs")
    table = os.path.join(args.out, "table.csv")
    analysis = os.path.join(args.out, "analysis")
    sets = [item for o in args.overrides for item in ("--set", o)]
    start = time.perf_counter()

    _step(f"launch: {len(recipe.runs())} runs of {args.recipe}, {args.max_parallel} at a time")
    code = robustperf.main(["launch", args.recipe, "--scheduler", "local", "--results", runs_dir,
                            "--max-parallel", str(args.max_parallel), *sets])
    if code != 0:
        print(f"robustperf demo: launch exited {code}; see the run logs under {runs_dir}", file=sys.stderr)
        return code

    _step("collect: one row per run")
    code = robustperf.main(["collect", runs_dir, "-o", table])
    if code != 0:
        return code

    _step("analyze: envelope power law, gradient boosting, cost and CO2 fits, forecasts, figures")
    code = robustperf.main(["analyze", table, "-o", analysis])
    if code != 0:
        return code

    entered = None
    if entry is not None:
        entered = _enter_benchmark(robustperf, entry, args)
        if isinstance(entered, int):
            return entered
    _summary(recipe, runs_dir, analysis, time.perf_counter() - start)
    if entered is not None:
        _benchmark_summary(*entered)
    return 0


def _benchmark_summary(submission: str, index: str) -> None:
    from submissions.summary import read_submission

    sub = read_submission(submission)
    row = sub.row
    print(f"benchmark             {row['benchmark']} ({row['division']} division): {row['reached_runs']} of "
          f"{row['runs']} runs reached the target, {row['scored_runs'] or 0} scored")
    if row["time_to_target_s"] is None:
        print(f"score                 none: {sub.score.reason}")
    else:
        print(f"time to target        {row['time_to_target_s']:.1f} s (runs {row['time_to_target_s_min']:.1f} .. "
              f"{row['time_to_target_s_max']:.1f}), {row['epochs_to_target']:.1f} epochs")
        print(f"energy to target      {row['kwh_to_target']:.3g} kWh, ${row['usd_to_target']:.3g}, "
              f"{row['co2_kg_to_target']:.3g} kg CO2 ({row['energy_source']})")
        print(f"confirmed             {'yes' if row['confirmed'] else 'no'}: robust accuracy "
              f"{row['robust_accuracy']:.1f} % on the test set")
    print(f"submission            {submission}")
    print(f"leaderboard           {index}")


def _enter_benchmark(robustperf, entry, args):
    """Run the benchmark's repeats, submit them, check the submission, build the board: the index page's path,
    or the exit code of the step that failed."""
    folder = os.path.join(args.out, "benchmark")
    runs_dir = os.path.join(folder, "runs")
    submission = os.path.join(folder, "submission")
    site = os.path.join(folder, "board")
    _step(f"benchmark {entry.benchmark} ({entry.division} division): {len(entry.runs())} runs of "
          f"{args.benchmark_recipe}, each stopped at the target and confirmed")
    code = robustperf.main(["launch", args.benchmark_recipe, "--scheduler", "local", "--results", runs_dir,
                            "--max-parallel", str(args.max_parallel)])
    if code != 0:
        print(f"robustperf demo: the benchmark's launch exited {code}; see the run logs under {runs_dir}",
              file=sys.stderr)
        return code
    if os.path.isfile(os.path.join(submission, "submission.json")):
        _step(f"submit: {submission} is there from an earlier demo (its runs are these); checking it again")
    else:
        _step("submit: the runs, their logs, records and recipes, the system description and a checksum manifest")
        code = robustperf.main(["submit", runs_dir, "--benchmark", entry.benchmark, "--division", entry.division,
                                "--submitter", SUBMITTER, "-o", submission])
        if code != 0:
            return code
    _step("check: layout, checksums, division rules, repeats, targets, every mllog through MLPerf's checker")
    code = robustperf.main(["check", submission])
    if code != 0:
        return code
    _step("summarize: the olympic score (fastest and slowest runs dropped), one row per result")
    code = robustperf.main(["summarize", submission, "-o", os.path.join(folder, "summary.csv")])
    if code != 0:
        return code
    _step("board: the leaderboard's static site (opens from disk, no network)")
    code = robustperf.main(["board", submission, "-o", site])
    if code != 0:
        return code
    return submission, os.path.abspath(os.path.join(site, "index.html"))


def _summary(recipe, runs_dir: str, analysis: str, seconds: float) -> None:
    import results

    records = [results.load_record(runs_dir, spec.run_id) for spec in recipe.runs()]
    done = [r for r in records if r and r["status"] == results.COMPLETED]
    with open(os.path.join(analysis, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)

    def span(dotted: str, fmt: str) -> str:
        values = [results.get(r, dotted) for r in done if results.get(r, dotted) is not None]
        return f"{format(min(values), fmt)} .. {format(max(values), fmt)}" if values else "n/a"

    sources = sorted({str(results.get(r, results.Energy.path("source"))) for r in done})
    env = report.get("envelope") or {}
    gbr = report.get("gbr") or {}
    figures = sorted(f for f in os.listdir(analysis) if f.endswith((".png", ".pdf")))
    print("\n== summary")
    print(f"runs                  {len(done)} completed of {len(records)}")
    print(f"clean accuracy        {span(results.Accuracy.path('clean'), '.1f')} %")
    print(f"AutoAttack accuracy   {span(results.Accuracy.path('autoattack'), '.1f')} %   ({_attack_subset(done)})")
    print(f"training FLOPs        {span(results.Flops.path('train_total'), '.3g')}")
    print(f"energy source         {', '.join(sources) or 'n/a'}")
    if env.get("C") is not None:
        ci = env.get("alpha_ci") or [float("nan")] * 2
        print(f"envelope law          acc = {env['C']:.4g} * FLOPs^{env['alpha']:.4g}   (alpha 95% CI "
              f"[{ci[0]:.3g}, {ci[1]:.3g}], R^2 {env.get('r2', float('nan')):.3f}, {env.get('n_points')} bins)")
    if gbr.get("r2_test") is not None:
        print(f"gradient boosting     holdout R^2 {gbr['r2_test']:.3f}")
    print(f"report                {os.path.join(analysis, 'report.md')}")
    key = [f for f in ("envelope.png", "gbr_importances.png", "electricity.png") if f in figures]
    print(f"figures               {len(figures)} files in {analysis}{os.sep} ({', '.join(key)}, ...)")
    print(f"wall time             {seconds:.0f} s")


def _attack_subset(records) -> str:
    """Which AutoAttack ran, on how many points: 'APGD-CE (a subset of AutoAttack) on 360 test points'."""
    import results
    from results.config_paths import config_path

    described = []
    for r in records:
        value = results.get(r, config_path("evaluation.autoattack"))
        text = (", ".join(str(a).upper() for a in value) + " (a subset of AutoAttack)" if isinstance(value, list)
                else f"AutoAttack {value}")
        if text not in described:
            described.append(text)
    counts = sorted({int(n) for n in (results.get(r, results.Accuracy.path("autoattack_n")) for r in records) if n})
    return f"{'; '.join(described) or 'n/a'} on {'/'.join(map(str, counts)) or '?'} test points"
