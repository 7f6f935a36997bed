"""``robustperf zoo``: RobustBench's published models, built offline by RobustBench's own code.

``robustperf zoo list`` prints every model of robustbench's model zoo with its architecture, parameters and
forward FLOPs per image (counted by building it, as ``robustperf profile`` counts; read from the shipped table
``benchmarks/zoo/zoo_models.csv``, ``make zoo-table``), whether it used extra data, and the clean and AutoAttack
accuracy its leaderboard reports.

``robustperf zoo eval NAME --model-dir DIR`` evaluates a model from its local checkpoint
(``DIR/<dataset>/<threat>/<NAME>.pt``, RobustBench's layout; never downloaded) as ``robustperf evaluate`` does
(clean, PGD, resumable AutoAttack, survival data when ``evaluation.fgm_steps`` asks) and benchmarks its
inference as ``robustperf infer`` does, into a run folder ``RESULTS/zoo-<dataset>-<threat>-<NAME>/`` whose record
names its source (``origin.source: robustbench:NAME``), the reported accuracies beside the measured ones, and
training fields null ("not measured"). ``--set data.root=...`` points at the test set; ``--set evaluation.*`` and
``measurement.*`` as for runs. See docs/how-to/zoo.md.
"""
from __future__ import annotations

import json
import sys

HELP = "RobustBench's published models: list them with their cost, evaluate and benchmark one from local weights"


def add_arguments(parser) -> None:
    from .cli_infer import add_benchmark_arguments

    sub = parser.add_subparsers(dest="zoo_command", metavar="ACTION")
    sub.required = True
    listing = sub.add_parser("list", help="every zoo model: architecture, parameters, FLOPs, reported accuracy",
                             description="every zoo model with its architecture, parameters, forward FLOPs per "
                                         "image, extra data and reported clean and AutoAttack accuracy")
    _filters(listing)
    listing.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    ev = sub.add_parser("eval", help="evaluate and benchmark one zoo model from its local checkpoint",
                        description="evaluate (clean, PGD, AutoAttack) and benchmark inference of one zoo model "
                                    "from DIR/<dataset>/<threat>/NAME.pt, written as a run folder and record")
    ev.add_argument("name", metavar="NAME", help="RobustBench model id (robustperf zoo list)")
    ev.add_argument("--model-dir", required=True, metavar="DIR",
                    help="folder of checkpoints in RobustBench's layout: DIR/<dataset>/<threat>/NAME.pt")
    _filters(ev)
    ev.add_argument("--results", default="runs", metavar="DIR", help="results folder (default: runs)")
    ev.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="data.root, data.num_workers, evaluation.* or measurement.* (repeatable), e.g. "
                         "--set data.root=/data/cifar-10-batches-py --set evaluation.autoattack_n=1000")
    ev.add_argument("--fresh", action="store_true", help="ignore saved evaluation state and start over")
    add_benchmark_arguments(ev)
    for action in ev._actions:  # the inference benchmark's robust accuracy per precision is opt-in here
        if action.dest == "autoattack":
            action.help = ("AutoAttack per precision in the inference benchmark: a version, attacks or none "
                           "(default none; the evaluation's AutoAttack is evaluation.autoattack)")


def _filters(parser) -> None:
    parser.add_argument("--dataset", default=None, help="cifar10, cifar100 or imagenet (default: all)")
    parser.add_argument("--threat", default=None, help="Linf, L2 or corruptions (default: all)")


def main(args) -> int:
    if args.zoo_command == "list":
        return _list(args)
    from .zoo.evaluate import evaluate_zoo_model

    record = evaluate_zoo_model(args)
    acc, origin = record["accuracy"], record["origin"]
    aa = acc.get("autoattack")
    reported = origin.get("reported_autoattack")
    print(f"{origin['source']} ({origin['dataset']}/{origin['threat']}) -> {record['run_id']}: clean "
          f"{acc['clean']:.2f}% (reported {_pct(origin.get('reported_clean'))})  AutoAttack "
          + (f"{aa:.2f}% on {acc['autoattack_n']} points" if aa is not None else "skipped")
          + f" (reported {_pct(reported)}"
          + (f", difference {origin['autoattack_difference']:+.2f} points)" if origin.get("autoattack_difference")
             is not None else ")"))
    return 0


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _list(args) -> int:
    from .zoo.table import read_table

    rows = read_table(dataset=args.dataset, threat=args.threat)
    keys = ("name", "dataset", "threat", "architecture", "params", "forward_flops", "extra_data", "reported_clean",
            "reported_autoattack", "reported_corruption", "paper", "link", "status")
    if args.json:
        print(json.dumps([{k: r.get(k) for k in keys} for r in rows], indent=1))
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
