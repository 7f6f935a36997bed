"""A fresh `robustperf demo`: wall time and peak memory (issue 8; targets <= 360 s and <= 2048 MB on 2 cores), and
whether it shows the phenomenon (issue 12): the envelope law's R^2 (>= 0.6), the lower end of its alpha 95 %
interval (> 0) and the decades of training FLOPs the runs span (>= 1.5), read from the demo's own report.json.

Peak memory is the largest sum of RSS over the demo's whole process tree (the launcher and the runs it
executes in parallel), sampled every 0.2 s: what the machine must hold, not one process's share. A second
demo on the same folder reuses the finished runs; its wall time is reported too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import psutil


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(out: str, extra=()) -> dict:
    cmd = [sys.executable, "-m", "robustperf", "demo", "--out", out, *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    handle = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(handle))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    output = proc.stdout.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"robustperf demo exited {proc.returncode}:\n{output[-2000:]}")
    return {"seconds": seconds, "peak_mb": peak / 2**20, "output": output}


def envelope(out: str) -> dict:
    """The demo's envelope law from the report.json its analysis wrote under ``out``."""
    import json
    import math

    reports = sorted(os.path.join(d, "report.json") for d, _, files in os.walk(out) if "report.json" in files)
    if not reports:
        raise RuntimeError(f"robustperf demo wrote no report.json under {out}")
    with open(reports[0], encoding="utf-8") as fh:
        env = json.load(fh)["envelope"]
    flops = [p["flops"] for p in env.get("points") or []]
    edges = env.get("edges") or flops
    return {"demo_envelope_r2": round(env["r2"], 3), "demo_envelope_alpha": round(env["alpha"], 4),
            "demo_envelope_alpha_ci_low": round(env["alpha_ci"][0], 4),
            "demo_train_flops_decades": round(math.log10(max(edges) / min(edges)), 2)}


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="robustperf-demo-bench-") as tmp:
        out = os.path.join(tmp, "demo")
        first = measure(out)
        law = envelope(out)
        second = measure(out)
    return {"demo_wall_seconds": round(first["seconds"], 1), "demo_peak_rss_mb": round(first["peak_mb"], 1),
            "demo_rerun_seconds": round(second["seconds"], 1), **law}
