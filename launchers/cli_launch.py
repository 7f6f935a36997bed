"""``robustperf launch RECIPE``: run the matrix here, or submit it as array jobs of a scheduler (SLURM, LSF, ...).

Every task runs ``robustperf run RECIPE --index <i> --results DIR [--set K=V ...]``. Options override the
recipe's ``launch:`` section. Launching is idempotent: completed runs are skipped, runs whose job is still
queued or running are not duplicated, interrupted runs resume from their checkpoint.

exit status: 0 submitted (or, locally, every run completed; or nothing left to do), 1 some local run
failed, 2 a mistake in the recipe or options or a scheduler refusing the job, 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import dataclasses
import json
import shlex
import sys

from recipes import SET_SOURCE, catalog, load_recipe
from recipes.errors import RecipeError
from results.lock import EXIT_IN_FLIGHT

HELP = "run the matrix locally or submit it as SLURM/LSF array jobs (idempotent, throttled, chained)"

#: command-line option -> key of the recipe's launch section
_LAUNCH_OPTIONS = {
    "scheduler": "scheduler", "results": "results", "max_parallel": "max_parallel", "time_min": "time_min",
    "partition": "partition", "account": "account", "gpus": "gpus_per_run", "nodes": "nodes", "cpus": "cpus_per_run",
    "mem": "mem_gb", "signal_seconds": "signal_seconds", "chain": "chain",
}


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument("--scheduler", choices=catalog.Choices("executors"),
                        help="where the runs execute (default: the recipe's launch.scheduler, else local)")
    parser.add_argument("--results", metavar="DIR", help="results directory (default: launch.results)")
    parser.add_argument("--max-parallel", type=int, metavar="K", help="runs at once (the %%K of the array)")
    parser.add_argument("--time-min", type=int, metavar="MIN", help="wall-time of one job (one chain link)")
    parser.add_argument("--partition", help="SLURM partition / LSF queue")
    parser.add_argument("--account", help="account / project to charge")
    parser.add_argument("--gpus", type=int, metavar="G", help="GPUs per run (per node of a multi-node run)")
    parser.add_argument("--nodes", type=int, metavar="N",
                        help="nodes per run: one torchrun per node, c10d rendezvous on the first (SLURM, LSF)")
    parser.add_argument("--cpus", type=int, metavar="C", help="CPU cores per run")
    parser.add_argument("--mem", type=float, metavar="GB", help="memory per run, GB")
    parser.add_argument("--signal-seconds", type=int, metavar="S",
                        help="checkpoint signal this many seconds before the wall-time")
    parser.add_argument("--chain", type=int, metavar="N",
                        help="dependent follow-up jobs resuming runs that outlast the wall-time")
    parser.add_argument("--directive", dest="directives", action="append", default=[], metavar="TEXT",
                        help="extra raw scheduler directive, e.g. --directive=--qos=high (repeatable; added to "
                             "the recipe's)")
    parser.add_argument("--setup", action="append", default=[], metavar="LINE",
                        help="shell line run before each task, e.g. 'module load cuda' (repeatable)")
    parser.add_argument("--indices", metavar="LIST", help="part of the matrix, e.g. 0-9,15 (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="write and print the scripts, submit nothing")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set training.epochs=1 (repeatable; passed to "
                             "every task)")


def main(args) -> int:
    from .launch import launch  # deferred like every command's work: robustperf --help stays instant

    flags = {key: opt for opt, key in _LAUNCH_OPTIONS.items() if getattr(args, opt, None) is not None}
    launch_sets = [f"launch.{key}={json.dumps(getattr(args, opt))}" for key, opt in flags.items()]
    try:
        recipe = load_recipe(args.recipe, [*args.overrides, *launch_sets])
    except RecipeError as err:
        # A value given as --max-parallel etc. travels as --set launch.KEY: name the option the user typed.
        key = (err.key or "").partition("launch.")[2]
        if err.file == SET_SOURCE and key in flags:
            raise RecipeError(err.message, file="--" + flags[key].replace("_", "-"), key=err.key, value=err.value,
                              allowed=err.allowed) from None
        raise
    if args.directives or args.setup:
        recipe.launch = dataclasses.replace(recipe.launch,
                                            directives=(*recipe.launch.directives, *args.directives),
                                            setup=(*recipe.launch.setup, *args.setup))
    err = sys.stderr
    try:
        result = launch(recipe, indices=args.indices, dry_run=args.dry_run, overrides=args.overrides)
    except KeyboardInterrupt:
        print("robustperf launch: interrupted; the runs checkpointed. Launch again to resume.", file=err)
        return 130
    plan = result.plan
    print(f"{recipe.name}: {plan.summary()}", file=err)
    for line in result.warnings[:10]:
        print(f"  warning: {line}", file=err)
    for run, why in plan.in_flight[:10]:
        print(f"  in flight: {run.index} {run.run_id} ({why})", file=err)
    for run, reason in plan.unreadable[:10]:
        print(f"  unreadable record: {run.index} {run.run_id}: {reason}", file=err)
    if not plan.submit:
        print("nothing to launch", file=err)
        return 0
    if result.dry_run:
        _print_dry_run(result)
        return 0
    if result.executor.runs_here:
        return _report_local(result)
    for job in result.jobs:
        after = f" after job {job.depends_on}" if job.depends_on else ""
        print(f"submitted {result.scheduler} job {job.job_id}: {len(job.indices)} run(s), array {job.array} "
              f"link {job.link}{after}", file=err)
    print(f"scripts and logs: {result.folder}", file=err)
    print(f"follow with: robustperf status {shlex.quote(result.results_dir)}", file=err)
    return 0


def _print_dry_run(result) -> None:
    out = sys.stdout
    shown = set()
    for job in result.jobs:
        if job.script and job.script not in shown:
            shown.add(job.script)
            print(f"# ---- {job.script}", file=out)
            with open(job.script, encoding="utf-8") as fh:
                out.write(fh.read())
        for line in result.executor.planned_commands(job):
            print(line, file=out)


def _report_local(result) -> int:
    job = result.jobs[0]
    elsewhere = sorted(i for i, code in job.returncodes.items() if code == EXIT_IN_FLIGHT)
    failed = sorted(i for i, code in job.returncodes.items() if code not in (0, EXIT_IN_FLIGHT))
    done = len(job.returncodes) - len(failed) - len(elsewhere)
    extra = f", {len(elsewhere)} in flight in another process (not started twice)" if elsewhere else ""
    print(f"{done} run(s) finished, {len(failed)} failed{extra}; logs in {result.folder}/logs", file=sys.stderr)
    for index in failed[:20]:
        print(f"  run {index} exited {job.returncodes[index]}: see {result.folder}/logs/run-{index}.log",
              file=sys.stderr)
    return 1 if failed else 0
