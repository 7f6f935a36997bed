"""``robustperf zoo eval NAME --model-dir DIR``: evaluate and benchmark one zoo model from its local checkpoint.

The checkpoint is ``DIR/<dataset>/<threat>/<NAME>.pt`` (RobustBench's layout; never downloaded). The model is
evaluated as ``robustperf evaluate`` does (clean, PGD, resumable AutoAttack, survival data when
``evaluation.fgm_steps`` asks) and its inference benchmarked as ``robustperf infer`` does, into a run folder
``RESULTS/zoo-<dataset>-<threat>-<NAME>/`` whose record names its source (``origin.source: robustbench:NAME``),
the reported accuracies beside the measured ones, and training fields null ("not measured"). ``--set
data.root=...`` points at the test set; ``--set evaluation.*`` and ``measurement.*`` as for runs. See
docs/how-to/zoo.md.
"""
from __future__ import annotations

HELP = "evaluate and benchmark one zoo model from its local checkpoint (a run folder and record)"


def add_arguments(parser) -> None:
    from ..cli_infer import add_benchmark_arguments
    from .cli_list import add_filters

    parser.add_argument("name", metavar="NAME", help="RobustBench model id (robustperf zoo list)")
    parser.add_argument("--model-dir", required=True, metavar="DIR",
                        help="folder of checkpoints in RobustBench's layout: DIR/<dataset>/<threat>/NAME.pt")
    add_filters(parser)
    parser.add_argument("--results", default="runs", metavar="DIR", help="results folder (default: runs)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="data.root, data.num_workers, evaluation.* or measurement.* (repeatable), e.g. "
                             "--set data.root=/data/cifar-10-batches-py --set evaluation.autoattack_n=1000")
    parser.add_argument("--fresh", action="store_true", help="ignore saved evaluation state and start over")
    add_benchmark_arguments(parser)
    for action in parser._actions:  # the inference benchmark's robust accuracy per precision is opt-in here
        if action.dest == "autoattack":
            action.help = ("AutoAttack per precision in the inference benchmark: a version, attacks or none "
                           "(default none; the evaluation's AutoAttack is evaluation.autoattack)")


def main(args) -> int:
    from .evaluate import evaluate_zoo_model

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
