"""Time of the compute-optimal allocation's joint-law fit with its bootstrap on a generated 1,000-row table
(issue 26; target <= 30 s on 2 cores): ``L(N, D) = E + A/N^a + B/D^b`` by Hoffmann et al. 2022's approach 3 from
its grid of starts, 1,000 bootstrap resamples (the analysis' default), and the best N, D per budget."""
from __future__ import annotations

import time

import numpy as np

N_ROWS = 1_000


def run() -> dict:
    from scaling.allocation import JointLaw, allocate

    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(1e4), np.log(1e7), N_ROWS))
    d = np.exp(rng.uniform(np.log(1e4), np.log(1e7), N_ROWS))
    err = (20 + 400 / n ** 0.35 + 2000 / d ** 0.45) * np.exp(rng.normal(0, 0.02, N_ROWS))
    flops = 30 * n * d
    start = time.perf_counter()
    cpu = time.process_time()
    law = JointLaw(n_boot=1000, seed=0).fit(n, d, err)
    allocate(law, flops, n, d, [1e13, 1e14, 1e15])
    return {"allocation_fit_seconds": round(time.perf_counter() - start, 2),
            "allocation_fit_cpu_seconds": round(time.process_time() - cpu, 2)}


if __name__ == "__main__":
    print(run())
