"""Writing the job scripts for a 10,000-run matrix: the launch plan (record look-ups) and every script of every
scheduler, dry run. Target: <= 1 s. The matrix expansion itself is measured by bench_expand."""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

N_RUNS = 10_000
REPEATS = 3


def _recipe():
    from recipes import recipe_from_dict

    data = {"name": "bench-10k", "base": {"data": {"name": "digits"}, "model": {"depth": 10, "width": 1}},
            "grid": {"training.loss": ["at", "trades"], "attack.steps": [1, 2, 3, 4, 5]},
            "repeats": N_RUNS // 10}
    recipe = recipe_from_dict(data, file="bench-10k.yaml")
    assert len(recipe.runs()) == N_RUNS
    return recipe


def _once(recipe, root: str) -> float:
    from launchers.launch import launch

    start = time.perf_counter()
    for scheduler in ("slurm", "lsf", "local"):
        # a typical cluster's array limit (SLURM's default MaxArraySize 1001, LSF's 1000), not the CI cluster's
        result = launch(recipe, scheduler=scheduler, results_dir=os.path.join(root, scheduler), dry_run=True,
                        overrides=["repeats=1000"], parameters={"max_array_size": 1000})
        assert sum(len(j.indices) for j in result.jobs if j.link == 0) == N_RUNS
    return time.perf_counter() - start


def run() -> dict:
    recipe = _recipe()
    times = []
    for _ in range(REPEATS):
        root = tempfile.mkdtemp(prefix="bench-scripts-")
        try:
            times.append(_once(recipe, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return {"scripts_10k_seconds": round(statistics.median(times), 4)}


if __name__ == "__main__":
    print(run())
