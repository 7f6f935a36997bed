"""The shipped zoo table: every RobustBench model with its leaderboard figures, parameters and forward FLOPs.

    python -m benchmarks.zoo.table -o benchmarks/zoo/zoo_models.csv        # = make zoo-table (minutes)

Building each of robustbench's ~200 models to count it takes minutes, so ``robustperf zoo list`` reads this
CSV instead. Parameters and FLOPs are counted by building the model with RobustBench's own code
(:func:`benchmarks.zoo.models.build_model`) and running one forward of one image at the size RobustBench feeds
(3x32x32 for CIFAR, 3x224x224 for ImageNet) through :func:`benchmarks.measurement.forward_flops_per_sample`,
the counter of ``robustperf profile`` (DeepSpeed; conv/linear 2 x MACs, batch norm, activations, pooling). A
model that cannot be built or counted here is written with ``status`` ``failed`` and its reason, one not yet
counted (``--resume`` fills them in) with ``not counted``: listed, never guessed. ``tests/benchmarks/zoo`` checks a sample of rows against fresh builds.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from dataclasses import fields
from typing import Dict, List, Optional

from .models import ZooEntry, check_dataset, check_threat

TABLE = os.path.join(os.path.dirname(__file__), "zoo_models.csv")
#: the entry's fields, then how the counts were obtained
COLUMNS = tuple(f.name for f in fields(ZooEntry)) + ("input", "status", "note")
_INTS = ("params", "forward_flops")
_FLOATS = ("reported_clean", "reported_autoattack", "reported_corruption")


def count(entry: ZooEntry) -> Dict[str, str]:
    """The CSV row of ``entry``: its fields, and params / forward FLOPs from a fresh build."""
    import torch

    from ..measurement import forward_flops_per_sample
    from .models import DATASETS, build_model

    shape = DATASETS[entry.dataset][1]
    row = {k: _text(v) for k, v in entry.to_dict().items()}
    row.update(input="x".join(map(str, shape)), status="unknown", note="")
    if not entry.buildable:
        row["note"] = "on the leaderboard only: robustbench's zoo has no builder"
        return row
    try:
        torch.manual_seed(0)
        model = build_model(entry.name, entry.dataset, entry.threat)
        counts = forward_flops_per_sample(model, shape)
    except Exception as err:  # noqa: BLE001 - one model's failure is written as its row, the others go on
        row.update(status="failed", note=f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")
        return row
    row.update(params=str(counts["params"]), forward_flops=str(counts["forward_flops"]), status="profiled",
               note="built by robustbench's code; DeepSpeed flops profiler, one image (robustperf profile)")
    return row


def _text(value) -> str:
    return "" if value is None else str(value)


def read_table(path: str = TABLE, dataset: Optional[str] = None, threat: Optional[str] = None) -> List[Dict]:
    """The shipped table's rows, typed (ints, floats, booleans; '' -> None), filtered by dataset and threat."""
    from .compat import ZooUnavailable

    dataset, threat = check_dataset(dataset), check_threat(threat)
    if not os.path.isfile(path):
        raise ZooUnavailable(f"{path}: the zoo table is missing; regenerate it with `make zoo-table`")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    out = []
    for row in rows:
        typed: Dict = {}
        for key, value in row.items():
            if value == "" and key not in ("note",):
                typed[key] = None
            elif key in _INTS:
                typed[key] = int(value)
            elif key in _FLOATS:
                typed[key] = float(value)
            elif key in ("extra_data", "buildable"):
                typed[key] = value == "True"
            else:
                typed[key] = value
        if (dataset is None or typed["dataset"] == dataset) and (threat is None or typed["threat"] == threat):
            out.append(typed)
    return out


def write_table(rows: List[Dict[str, str]], path: str) -> None:
    from results import atomic_write_text

    from .compat import robustbench_version

    buf = io.StringIO()
    buf.write(f"# RobustBench {robustbench_version()} model zoo: leaderboard figures from the package's tables; params "
              "and forward FLOPs per image counted by building each model.\n# Regenerate: make zoo-table "
              "(python -m benchmarks.zoo.table -o benchmarks/zoo/zoo_models.csv)\n")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def main(argv=None) -> int:
    from .models import zoo_entries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=TABLE, help="CSV to write (default: the shipped table)")
    parser.add_argument("--dataset", default=None, help="count only this dataset's models")
    parser.add_argument("--threat", default=None, help="count only this threat model's models")
    parser.add_argument("--resume", action="store_true",
                        help="keep the counts already in OUTPUT; count the rest (written after each model)")
    args = parser.parse_args(argv)
    kept = {}
    if args.resume and os.path.isfile(args.output):
        kept = {(r["dataset"], r["threat"], r["name"]): r for r in read_table(args.output)
                if r.get("status") == "profiled"}
    dataset, threat = check_dataset(args.dataset), check_threat(args.threat)
    rows = []
    entries = zoo_entries()
    for entry in entries:
        key = (entry.dataset, entry.threat, entry.name)
        wanted = (dataset is None or entry.dataset == dataset) and (threat is None or entry.threat == threat)
        if key in kept:
            row = {k: _text(v) for k, v in kept[key].items()}
            row.update({k: _text(v) for k, v in entry.to_dict().items() if k not in _INTS})
        elif wanted:
            row = count(entry)
            print(f"{'/'.join(key)}: {row['status']} {row['params']} {row['forward_flops']} "
                  f"{row['note'] if row['status'] != 'profiled' else ''}", file=sys.stderr, flush=True)
        else:
            row = {k: _text(v) for k, v in entry.to_dict().items()}
            row.update(input="x".join(map(str, _shape(entry))), status="not counted",
                       note="not yet counted: make zoo-table")
        rows.append(row)
        if wanted and key not in kept and args.resume:  # progress survives an interruption
            write_table(rows + [_placeholder(e, kept) for e in entries[len(rows):]], args.output)
    write_table(rows, args.output)
    return 0


def _shape(entry: ZooEntry):
    from .models import DATASETS

    return DATASETS[entry.dataset][1]


def _placeholder(entry: ZooEntry, kept: Dict) -> Dict[str, str]:
    key = (entry.dataset, entry.threat, entry.name)
    if key in kept:
        return {k: _text(v) for k, v in kept[key].items()}
    row = {k: _text(v) for k, v in entry.to_dict().items()}
    row.update(input="x".join(map(str, _shape(entry))), status="not counted", note="not yet counted: make zoo-table")
    return row


if __name__ == "__main__":
    sys.exit(main())
