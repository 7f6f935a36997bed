"""``robustperf zoo SUBCOMMAND``: RobustBench's published models in the suite.

Each subcommand is a module of this package exposing ``HELP``, ``add_arguments(parser)`` and ``main(args)``, as
the top-level commands do (:data:`SUBCOMMANDS`): ``list`` prints every model with its architecture, parameters,
FLOPs and reported accuracy (:mod:`.cli_list`), ``eval`` evaluates and benchmarks one from local weights
(:mod:`.cli_eval`), ``cost`` estimates their training compute from training cards (:mod:`.cli_cost`).
"""
from __future__ import annotations

import importlib

HELP = ("RobustBench's published models: list them with their cost, evaluate and benchmark one from local weights, "
        "estimate their training compute from training cards")

#: subcommand -> its module
SUBCOMMANDS = {
    "list": "benchmarks.zoo.cli_list",
    "eval": "benchmarks.zoo.cli_eval",
    "cost": "benchmarks.zoo.cli_cost",
}


def add_arguments(parser) -> None:
    import argparse

    sub = parser.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")
    sub.required = True
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__ or module.HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_zoo_module=module)


def main(args) -> int:
    return int(args._zoo_module.main(args) or 0)
