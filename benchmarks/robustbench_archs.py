"""Regenerate the RobustBench architecture lookup: parameters and FLOPs of one forward, by building each model.

    python -m benchmarks.robustbench_archs tests/data/robustbench_cifar10_linf.csv \\
        -o scaling/mappings/robustbench_archs.csv          # = make robustbench-archs

The scaling analysis never imports torch, so it reads this shipped CSV instead of building models. Each
architecture name of the leaderboard is mapped to a model the suite can build (``WideResNet-D-W`` ->
``wrn-D-W``; ``ResNet-18`` and ``PreActResNet-18`` -> the CIFAR families once ``benchmarks/models`` has them)
and counted by :func:`benchmarks.cli_profile.profile` (DeepSpeed, one 3x32x32 sample). An architecture with no
builder, or with a modification the suite does not implement (MeanSparse, Ra-, PSSiLU, Neural ODE blocks,
ensembles with a mixing network, XCiT with its CIFAR patching), is written with status ``unknown`` and the
reason: listed, never guessed.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from typing import Dict, List, Optional, Tuple

_WRN = re.compile(r"^WideResNet-(\d+)-(\d+)$")
#: exact RobustBench names -> suite model names (besides WideResNet-D-W).
MODELS = {"ResNet-18": "cifar_resnet18", "PreActResNet-18": "preact_resnet18"}
COLUMNS = ("architecture", "model", "params", "forward_flops", "status", "note")


def model_for(architecture: str) -> Optional[str]:
    match = _WRN.match(architecture.strip())
    if match:
        return f"wrn-{match.group(1)}-{match.group(2)}"
    return MODELS.get(architecture.strip())


def build_rows(architectures: List[str]) -> List[Dict[str, str]]:
    from recipes.errors import UserError

    from .cli_profile import profile

    rows = []
    for arch in sorted(set(a.strip() for a in architectures if a and a.strip())):
        model = model_for(arch)
        row = {"architecture": arch, "model": model or "", "params": "", "forward_flops": "", "status": "unknown",
               "note": ""}
        if model is None:
            row["note"] = "no builder in benchmarks/models for this architecture or its modification"
        else:
            try:
                counts = profile(model, (3, 32, 32), 10)
            except (UserError, RuntimeError, ValueError, KeyError) as err:
                row["note"] = f"{model} could not be built: {str(err).splitlines()[0][:160]}"
            else:
                row.update(params=str(int(counts["params"])), forward_flops=str(int(counts["forward_flops"])),
                           status="profiled", note=f"robustperf profile {model} (DeepSpeed, 3x32x32, 10 classes)")
        print(f"{arch}: {row['status']} {row['params']} {row['forward_flops']} {row['note']}", file=sys.stderr)
        rows.append(row)
    return rows


def read_architectures(path: str) -> List[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [r["architecture"] for r in csv.DictReader(fh)]


def write_lookup(rows: List[Dict[str, str]], path: str, source: str) -> None:
    from results import atomic_write_text

    buf = io.StringIO()
    buf.write("# RobustBench architecture -> parameters and FLOPs of one forward (3x32x32), measured by building each\n"
              f"# model. Regenerate: python -m benchmarks.robustbench_archs {source} -o {path}\n")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", help="RobustBench metadata CSV (architecture column)")
    parser.add_argument("-o", "--output", required=True, help="lookup CSV to write")
    args = parser.parse_args(argv)
    write_lookup(build_rows(read_architectures(args.table)), args.output, args.table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
