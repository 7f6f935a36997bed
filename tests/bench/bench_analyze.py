"""Time of ``robustperf analyze`` on a generated 10,000-run table, figures included (issue 7; target <= 30 s
on 2 cores)."""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd

N_RUNS = 10_000


def make_table(n: int = N_RUNS, seed: int = 0) -> pd.DataFrame:
    """A results table with our records' column names: 2,500 configurations x 4 seeds, collapses included."""
    rng = np.random.default_rng(seed)
    width = rng.choice([1, 2, 4, 8, 10], n)
    steps = rng.choice([1, 2, 5, 7, 10], n)
    synthetic = rng.choice([0.0, 0.7], n)
    ema = rng.choice([np.nan, 0.995], n)
    loss = rng.choice(["at", "trades"], n)
    activation = rng.choice(["relu", "silu", "gelu"], n)
    epochs = rng.choice([10, 20, 50, 100, 200, 400], n)
    params = 1.5e6 * width ** 2
    flops = 6 * params * 50_000 * epochs * (steps + 1) * rng.lognormal(0, 0.1, n)
    acc = 30 * (flops / 1e15) ** 0.02 + 5 * synthetic + np.where(loss == "trades", 1.5, 0) + np.where(
        np.isnan(ema), 0, 1) + rng.normal(0, 1.5, n)
    acc = np.where((steps == 1) & (rng.random(n) < 0.8), 0.0, np.clip(acc, 0, 100))
    kwh = 3e-17 * flops * rng.lognormal(0, 0.2, n)
    return pd.DataFrame({
        "run_id": [f"run{i:05d}" for i in range(n)], "status": "completed", "params": params,
        "flops.train_total": flops, "accuracy.autoattack": acc, "energy.kwh": kwh,
        "cost.electricity_usd": 0.12 * kwh, "co2_kg": 0.4 * kwh, "config.seed": np.arange(n) % 4,
        "config.model.width": width, "config.attack.steps": steps, "config.data.synthetic_fraction": synthetic,
        "config.training.ema_decay": ema, "config.training.loss": loss, "config.model.activation": activation,
        "config.training.epochs": epochs,
    })


def run() -> dict:
    import robustperf

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "table.csv")
        make_table().to_csv(path, index=False)
        start = time.perf_counter()
        code = robustperf.main(["analyze", path, "-o", os.path.join(tmp, "out")])
        seconds = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"analyze exited {code}")
        n_figures = len([f for f in os.listdir(os.path.join(tmp, "out")) if f.endswith((".png", ".pdf"))])
    return {"analyze_10k_seconds": round(seconds, 2), "analyze_10k_figure_files": n_figures}


if __name__ == "__main__":
    print(run())
