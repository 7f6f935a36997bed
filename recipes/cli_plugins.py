"""``robustperf plugins``: every registered plug-in - methods, model families, attacks, datasets, energy meters,
executors and analysis sections - with its kind, name and the package that registered it.

Read from the catalog alone (:mod:`recipes.catalog`): no plug-in's code is imported, so the listing is instant
and a broken plug-in cannot stop it (it is listed under "problems").
"""
from __future__ import annotations

import json
import sys

from . import catalog

HELP = "list the registered plug-ins (methods, models, attacks, datasets, meters, executors, sections)"


def add_arguments(parser) -> None:
    parser.add_argument("--kind", choices=tuple(catalog.KINDS), action="append",
                        help="only this kind (repeatable); default: every kind")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object: {plugins: [every fact of each entry], problems: [...]}")


def main(args) -> int:
    kinds = args.kind or list(catalog.KINDS)
    entries = [e for kind in kinds for e in catalog.entries(kind).values()]
    problems = catalog.problems()
    if args.json:
        json.dump({"plugins": [e.describe() for e in entries], "problems": problems}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    widths = [max([len(x) for x in column] + [len(title)]) for title, column in
              (("kind", [e.kind for e in entries]), ("name", [e.name for e in entries]),
               ("source", [e.source for e in entries]))]
    print(f"{'kind':{widths[0]}}  {'name':{widths[1]}}  {'source':{widths[2]}}  what it is")
    for e in entries:
        print(f"{e.kind:{widths[0]}}  {e.name:{widths[1]}}  {e.source:{widths[2]}}  {e.doc}")
    print(f"{len(entries)} plug-ins" + (f"; {len(problems)} could not be loaded:" if problems else ""))
    for line in problems:
        print(f"  {line}")
    return 0
