"""``robustperf benchmarks``: the benchmark definitions a result can enter - id, dataset, threat model, quality
target, runs per result - read from the catalog (``recipes/benchmarks/*.yaml`` and other packages').

``--json`` prints every fact of each definition (its target's check, its confirmation, its scoring and its
divisions' rules), as :meth:`recipes.benchmark.Benchmark.describe` gives them. Imports no torch.
"""
from __future__ import annotations

import json
import sys

from . import catalog
from .benchmark import get_benchmark
from .errors import RecipeError

HELP = "list the benchmarks (id, dataset, threat model, quality target, runs per result)"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="one JSON object: {benchmarks: [every fact of each definition], problems: [...]}")


def _eps(norm: str, eps: float) -> str:
    """``8/255`` as the papers write the small Linf budgets; other values as numbers (``0.2``, ``0.5``)."""
    steps = eps * 255
    if norm == "linf" and eps < 0.1 and abs(steps - round(steps)) < 1e-9:
        return f"{round(steps)}/255"
    return f"{eps:g}"


def main(args) -> int:
    benchmarks = []
    problems = [p for p in catalog.problems() if "robustperf.benchmarks" in p]
    for name in catalog.names("benchmarks"):
        try:
            benchmarks.append(get_benchmark(name))
        except RecipeError as err:  # an invalid definition of another package must not hide the others
            problems.append(f"benchmark {name!r} ({catalog.get('benchmarks', name).source}): {err}")
    if args.json:
        json.dump({"benchmarks": [b.describe() for b in benchmarks], "problems": problems}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    rows = [("id", "dataset", "threat model", "target", "runs", "confirmation")]
    for b in benchmarks:
        aa = b.confirmation.autoattack
        aa = aa if isinstance(aa, str) else "+".join(aa)
        rows.append((b.id, b.dataset, f"{b.norm} {_eps(b.norm, b.eps)}", f"{b.target:g} % {b.metric}",
                     str(b.repeats), f"AutoAttack {aa} n={b.confirmation.n} (-{b.confirmation.tolerance:g})"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(f"{cell:{w}}" for cell, w in zip(row, widths)) + "  " + row[-1])
    print(f"{len(benchmarks)} benchmarks; robustperf benchmarks --json shows their checks and division rules")
    for line in problems:
        print(f"  could not be loaded: {line}")
    return 0
