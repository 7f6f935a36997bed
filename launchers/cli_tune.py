"""``robustperf tune RECIPE [--results DIR] [--trials N] [--set K=V] [--status]``: multi-objective TPE.

The recipe's ``search:`` section names the trials, the objectives (record fields to maximise or minimise) and
the space (run-config keys with log_uniform, int_log_uniform, int, uniform or choice). Each trial is a real run
of the recipe's base with the sampled values, launched like ``robustperf launch`` (locally K at a time, or as
arrays of K of a scheduler such as SLURM or LSF; K = launch.max_parallel) into the results directory. The study is an optuna journal
file, ``DIR/_tune/<recipe name>/journal.log``: stop ``tune`` any way and run it again to resume; the
Pareto front is written beside it (pareto.csv, pareto.png, and pareto.yaml: the front as a recipe). Watch it
in a browser with

    optuna-dashboard DIR/_tune/<recipe name>/journal.log --host 127.0.0.1

One driver per study: ``tune`` holds ``DIR/_tune/<recipe name>/driver.lock`` (the run lock's machinery,
:mod:`results.lock`) while it works; a second ``tune`` of the same study exits 75 at once, naming the driver.

exit status: 0 done, 2 a mistake in the recipe or options, 75 another driver is running the study, 130 interrupted.
"""
from __future__ import annotations

from recipes import catalog, load_recipe

HELP = "multi-objective TPE search over real runs (the recipe's search: section); --status reports it"


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe YAML file with a search: section")
    parser.add_argument("--results", metavar="DIR", help="results directory (default: launch.results)")
    parser.add_argument("--trials", type=int, metavar="N", help="trials in all (default: search.trials)")
    parser.add_argument("--scheduler", choices=catalog.Choices("executors"),
                        help="where the trials run (default: launch.scheduler)")
    parser.add_argument("--max-parallel", type=int, metavar="K", help="trials per wave (default: "
                                                                      "launch.max_parallel)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set training.epochs=1 (repeatable; passed to every "
                             "run) or --set search.seed=1 (search.* items stay with the driver)")
    parser.add_argument("--status", action="store_true", help="report the study (trials, Pareto front, hypervolume "
                                                              "history) and exit")
    parser.add_argument("--reference", metavar="V,V,...",
                        help="reference point of the hypervolume, one value per objective in the recipe's order "
                             "(default: the worst value of each objective plus 10 %% of its range)")


def main(args) -> int:
    from .tune import TuneError, status_text, tune  # deferred like every command's work: --help stays instant

    overrides = list(args.overrides)
    recipe = load_recipe(args.recipe, overrides)
    if recipe.search is None:
        raise TuneError(f"{args.recipe}: no search section; add `search:` with trials, objectives and space "
                        "(see docs/how-to/tune.md)")
    from recipes.bounds import PARALLEL
    from recipes.files import check_output_folder
    from recipes.search import MAX_TRIALS

    if args.trials is not None and not 1 <= args.trials <= MAX_TRIALS:
        raise TuneError(f"--trials must be from 1 to {MAX_TRIALS:,} (as search.trials), got {args.trials}")
    if args.max_parallel is not None and not 1 <= args.max_parallel <= PARALLEL:
        raise TuneError(f"--max-parallel must be from 1 to {PARALLEL:,} (as launch.max_parallel), got "
                        f"{args.max_parallel}")
    results = args.results or recipe.launch.results
    check_output_folder(results, "results directory", error=lambda reason: TuneError(f"{results}: {reason}"))
    from .tune.indicators import parse_reference

    reference = parse_reference(args.reference, recipe.search.objective_names)
    if args.status:
        print(status_text(recipe, args.results, reference))
        return 0
    result = tune(recipe, results_dir=args.results, trials=args.trials, scheduler=args.scheduler,
                  parallel=args.max_parallel, reference=reference)
    print(f"tune: {result.trials} trials ({result.completed} completed, {result.failed} failed this session) in "
          f"{result.waves} waves; study {result.folder}")
    print(status_text(recipe, args.results))
    return 0
