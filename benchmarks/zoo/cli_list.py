"""``robustperf zoo list [--dataset ...] [--threat ...] [--json]``: every model of robustbench's model zoo.

Each model with its architecture, parameters and forward FLOPs per image (counted by building it, as
``robustperf profile`` counts; read from the shipped table ``benchmarks/zoo/zoo_models.csv``, ``make zoo-table``),
whether it used extra data, and the clean and AutoAttack accuracy its leaderboard reports.
"""
from __future__ import annotations

import json
import sys

HELP = "every zoo model: architecture, parameters, FLOPs, extra data, reported accuracy"
KEYS = ("name", "dataset", "threat", "architecture", "params", "forward_flops", "extra_data", "reported_clean",
        "reported_autoattack", "reported_corruption", "paper", "link", "status")


def add_filters(parser) -> None:
    """``--dataset`` and ``--threat``, shared by the zoo subcommands that pick models."""
    parser.add_argument("--dataset", default=None, help="cifar10, cifar100 or imagenet (default: all)")
    parser.add_argument("--threat", default=None, help="Linf, L2 or corruptions (default: all)")


def add_arguments(parser) -> None:
    add_filters(parser)
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")


def main(args) -> int:
    from .table import read_table

    rows = read_table(dataset=args.dataset, threat=args.threat)
    if args.json:
        print(json.dumps([{k: r.get(k) for k in KEYS} for r in rows], indent=1))
        return 0
    print(f"{'dataset':8} {'threat':11} {'model':48} {'architecture':30} {'params M':>9} {'GFLOPs':>8} "
          f"{'extra':>5} {'clean %':>7} {'AA %':>6}")
    for r in rows:
        robust = r.get("reported_autoattack") if r.get("reported_autoattack") is not None \
            else r.get("reported_corruption")
        print(f"{r['dataset']:8} {r['threat']:11} {r['name'][:48]:48} {(r.get('architecture') or '-')[:30]:30} "
              f"{_num(r.get('params'), 1e6, '9.2f')} {_num(r.get('forward_flops'), 1e9, '8.2f')} "
              f"{_flag(r.get('extra_data')):>5} {_num(r.get('reported_clean'), 1, '7.2f')} "
              f"{_num(robust, 1, '6.2f')}")
    print(f"{len(rows)} models; params and FLOPs per image counted by building each with robustbench's code "
          "(DeepSpeed, one forward; '-' = not counted yet: make zoo-table); accuracies as RobustBench reports them "
          "(AA: AutoAttack, or the corruption accuracy for corruptions); extra: '-' = not stated", file=sys.stdout)
    return 0


def _num(value, scale: float, spec: str) -> str:
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if value is None else format(value / scale, spec)


def _flag(value) -> str:
    return "-" if value is None else ("yes" if value else "no")
