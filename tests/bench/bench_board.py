"""Time of the leaderboard on 1,000 synthetic results (issue 23, item 7; target <= 20 s on 2 cores).

``board_1k_results_seconds`` = summarize + board: ``robustperf summarize`` of 1,000 minimal submission folders
(the design's layout, 5 runs each with result.json and recipe.yaml, no logs) into a summary CSV, then
``robustperf board`` of that CSV (1,000 result pages, 5 benchmark pages, the index, assets).

Beside it: ``board_1k_summarize_seconds`` (the summarizer alone: reading, scoring and the CSV),
``board_1k_summary_seconds`` (the board of the CSV alone) and ``board_1k_folders_seconds`` (``robustperf board``
of the 1,000 folders themselves: the same reader, pages and the copies of the 10,000 run files). The untimed
set-up (writing the folders) and clean-up take longer than the timed parts on a busy disk.
"""
from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time

N_RESULTS = 1_000


def _repo_on_path() -> None:
    root = str(pathlib.Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)


def run(n: int = N_RESULTS) -> dict:
    _repo_on_path()
    import robustperf
    from tests.submissions.synthetic import BENCHMARKS, SYSTEMS, make_submission

    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        folders = []
        for i in range(n):
            seconds = [100.0 + (i * 7 + k * 13) % 50 for k in range(5)]
            folders.append(str(make_submission(
                root / "subs" / f"s{i:04d}", submitter=f"lab{i:04d}", system=SYSTEMS[i % len(SYSTEMS)],
                benchmark=BENCHMARKS[i % len(BENCHMARKS)], division="closed" if i % 3 else "open",
                seconds=seconds, logs=False)))
        summary = root / "summary.csv"
        start = time.perf_counter()
        code = robustperf.main(["summarize", *folders, "-o", str(summary)])
        summarize = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"summarize exited {code}")
        start = time.perf_counter()
        code = robustperf.main(["board", str(summary), "-o", str(root / "site-summary")])
        board = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"board of the summary exited {code}")
        pages = sum(1 for _ in (root / "site-summary" / "results").rglob("*.html"))
        assert pages == n, pages
        start = time.perf_counter()
        code = robustperf.main(["board", *folders, "-o", str(root / "site-folders")])
        from_folders = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"board of the folders exited {code}")
        copied = sum(1 for _ in (root / "site-folders" / "results").rglob("run_*/*"))
    return {"board_1k_results_seconds": round(summarize + board, 2),
            "board_1k_summarize_seconds": round(summarize, 2), "board_1k_summary_seconds": round(board, 2),
            "board_1k_folders_seconds": round(from_folders, 2),
            "board_1k_copied_files": copied}


if __name__ == "__main__":
    print(run(int(os.environ.get("BENCH_BOARD_N", N_RESULTS))))
