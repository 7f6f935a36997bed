"""``make bench``: run every benchmark, print a table, write the figures to $BENCH_OUT (default bench.json).

Each ``tests/bench/bench_*.py`` exposes ``run() -> dict`` of named figures. Ratios are measured side by side in
one process (interleaved repeats, medians), because these machines are noisy: compare ratios, not seconds.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time

#: figure -> (target, "max" when lower is better); documented in docs/reference/benchmarks.md (tests/test_docs.py).
TARGETS = {
    "expand_100k_seconds": (5.0, "max"),
    "harness_overhead_ratio": (1.02, "max"),
    "autoattack_wrapper_ratio": (1.02, "max"),
    "infer_overhead_ratio": (1.05, "max"),
    "scripts_10k_seconds": (1.0, "max"),
    "analyze_10k_seconds": (30.0, "max"),
    "demo_wall_seconds": (360.0, "max"),
    "demo_peak_rss_mb": (2048.0, "max"),
    "demo_envelope_r2": (0.6, "min"),
    "demo_envelope_alpha_ci_low": (0.0, "min"),
    "demo_train_flops_decades": (1.5, "min"),
    "aft_fit_100k_seconds": (20.0, "max"),
    "tune_overhead_seconds": (1.0, "max"),
    "early_exit_batched_speedup": (10.0, "min"),
    "methods_overhead_tracking": (0.25, "max"),
    "board_1k_results_seconds": (20.0, "max"),
    "allocation_fit_seconds": (30.0, "max"),
}


def main(argv=None) -> int:
    from results.io import atomic_write_text

    only = set((argv if argv is not None else sys.argv[1:]))
    here = os.path.dirname(__file__)
    figures, failures = {}, {}
    for info in sorted(pkgutil.iter_modules([here]), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (only and info.name[len("bench_"):] not in only):
            continue
        print(f"[bench] {info.name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"tests.bench.{info.name}")
            figures.update(module.run())
        except Exception as err:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            failures[info.name] = f"{type(err).__name__}: {err}"
        print(f"[bench] {info.name} done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    rows = []
    for name, value in figures.items():
        target = TARGETS.get(name)
        ok = "" if target is None or not isinstance(value, (int, float)) or isinstance(value, bool) else (
            "ok" if (value >= target[0] if target[1] == "min" else value <= target[0]) else "MISSED")
        sign = ">=" if target and target[1] == "min" else "<="
        rows.append((name, value, f"{sign} {target[0]:g}" if target else "", ok))
    width = max([len(r[0]) for r in rows] + [10])
    print(f"{'figure':{width}}  {'value':>12}  {'target':>10}  status")
    for name, value, target, ok in rows:
        shown = f"{value:12.4g}" if isinstance(value, float) else f"{str(value):>12}"
        print(f"{name:{width}}  {shown}  {target:>10}  {ok}")
    for name, reason in failures.items():
        print(f"{name}: FAILED: {reason}")
    out = os.environ.get("BENCH_OUT", "bench.json")
    atomic_write_text(out, json.dumps({"figures": figures, "failures": failures,
                                       "targets": {k: v[0] for k, v in TARGETS.items()}}, indent=2) + "\n")
    print(f"written: {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
