"""``robustperf zoo SUBCOMMAND``: RobustBench's published models in the suite.

Each subcommand is a module of this package exposing ``HELP``, ``add_arguments(parser)`` and ``main(args)``, as
the top-level commands do (:data:`SUBCOMMANDS`); ``cost`` estimates their training compute from training cards.
"""
from __future__ import annotations

import importlib

HELP = "RobustBench's published models: training cost estimated from their training cards (zoo cost)"

#: subcommand -> its module
SUBCOMMANDS = {
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
