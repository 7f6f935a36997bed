"""The run folder ``DIR/<run_id>/``: its path, metrics.jsonl, train.log, and the temp files a killed write left.

It holds result.json, checkpoint-last.pt, checkpoint-best.pt, metrics.jsonl (one line per epoch, rewritten from
the checkpoint's history so a resumed run never duplicates lines), train.log and the tracker's files. Only rank 0
writes, and never through a symbolic link (:mod:`results.io`): a command that writes in a run folder first checks
it holds none (:func:`check_run_folder`), so a link there stops it, exit 2, before anything changes.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any, Callable, Dict, List

from results import atomic_write_text, open_append, refuse_links

__all__ = ["METRICS_FILE", "LOG_FILE", "FOREIGN", "run_dir_of", "check_run_folder", "write_metrics",
           "remove_stale_temp_files", "run_logger"]

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
#: entries of a run folder that another program writes (W&B keeps its files, and its own links, in wandb/)
FOREIGN = ("wandb",)


def run_dir_of(results_dir: str, run_id: str) -> str:
    return os.path.join(results_dir, run_id)


def check_run_folder(run_dir: str) -> None:
    """Refuse (:class:`results.UnsafePathError`, exit 2) a run folder that is, or holds, a symbolic link: every
    file a run, ``evaluate`` or ``infer`` writes or appends to there would be written through it."""
    refuse_links(run_dir, skip=FOREIGN, what="run folder")


def write_metrics(run_dir: str, history: List[Dict[str, Any]]) -> None:
    """(Re)write metrics.jsonl: one JSON object per finished epoch."""
    text = "".join(json.dumps(h, sort_keys=True) + "\n" for h in history)
    atomic_write_text(os.path.join(run_dir, METRICS_FILE), text)


def remove_stale_temp_files(run_dir: str) -> None:
    """Temp files of atomic writes that a killed attempt left behind (never renamed, never read)."""
    for name in os.listdir(run_dir):
        if name.startswith(".tmp-"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(run_dir, name))


def run_logger(run_dir: str, is_main: bool, prefix: str) -> Callable[[str], None]:
    """``log(message)``: printed and appended to train.log with a time stamp, by rank 0 only."""
    def log(message: str) -> None:
        if not is_main:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = f"[{prefix}] {message}"
        print(line, flush=True)
        with open_append(os.path.join(run_dir, LOG_FILE), encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")

    return log
