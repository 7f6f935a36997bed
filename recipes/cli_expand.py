"""``robustperf expand RECIPE``: print the run matrix."""
from __future__ import annotations

import json
import sys

HELP = "print the run matrix of a recipe (JSON lines, a table, or the count)"


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set training.epochs=1 (repeatable)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--format", choices=("jsonl", "table"), default="jsonl",
                       help="jsonl: one object per run with index, run_id, name, config (default); table: for people")
    group.add_argument("--count", action="store_true", help="print only the number of runs")


def main(args) -> int:
    from .recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    out = sys.stdout
    if args.count:  # counted without building the runs: any size answers at once
        print(recipe.count(), file=out)
    elif args.format == "table":
        runs = recipe.runs()
        width = max([len(r.name) for r in runs] + [4])
        print(f"{'index':>5}  {'run_id':12}  {'name':{width}}", file=out)
        for run in runs:
            print(f"{run.index:>5}  {run.run_id:12}  {run.name:{width}}", file=out)
        print(f"{len(runs)} runs", file=out)
    else:
        encode = json.JSONEncoder(separators=(",", ":")).encode
        for run in recipe.iter_runs():
            out.write(encode(run.to_json()) + "\n")
    return 0
