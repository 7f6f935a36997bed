"""Time to expand a 100,000-run recipe (issue 2; target <= 5 s on 2 cores)."""
from __future__ import annotations

import time

from recipes import recipe_from_dict

#: 10 x 10 x 10 x 10 x 10 = 100,000 runs over five sections.
RECIPE_100K = {
    "name": "bench-100k",
    "grid": {
        "seed": list(range(10)),
        "model.width": list(range(1, 11)),
        "training.lr": [0.01 * (i + 1) for i in range(10)],
        "attack.steps": list(range(1, 11)),
        "data.batch_size": [32 * (i + 1) for i in range(10)],
    },
}


def run() -> dict:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        runs = recipe_from_dict(RECIPE_100K, file="<bench>").runs()
        best = min(best, time.perf_counter() - start)
        assert len(runs) == 100_000 and len({r.run_id for r in runs}) == 100_000
    return {"expand_100k_seconds": round(best, 3)}
