"""A fresh `robustperf demo`: wall time and peak memory (issue 8; targets <= 360 s and <= 2048 MB on 2 cores).

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


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="robustperf-demo-bench-") as tmp:
        out = os.path.join(tmp, "demo")
        first = measure(out)
        second = measure(out)
    return {"demo_wall_seconds": round(first["seconds"], 1), "demo_peak_rss_mb": round(first["peak_mb"], 1),
            "demo_rerun_seconds": round(second["seconds"], 1)}
