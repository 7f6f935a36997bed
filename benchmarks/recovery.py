"""Damaged run state and ``robustperf run --restart``: say what is damaged, keep it aside, go on.

A run folder can be damaged by what atomic writes cannot prevent: a disk that filled or failed, a file copied
half-way between clusters, a hand edit. Without ``--restart`` the run stops at once with exit 2 and a message
naming the damaged file and this remedy. With ``--restart`` (:func:`restart`):

* a damaged ``result.json`` is moved to ``result.json.damaged-<time>``; a new record starts and training resumes
  from ``checkpoint-last.pt`` when that loads;
* a damaged ``checkpoint-last.pt`` is moved aside the same way and the run starts over from epoch 1; the best
  checkpoint and the MLPerf log of the abandoned attempt are moved to ``*.superseded-<time>`` (they belong to
  the attempt that is not continued);
* a damaged ``checkpoint-best.pt`` alone is moved aside; training resumes from the last checkpoint and writes a
  new best checkpoint at the next improvement.

A checkpoint that loads but does not fit the run (another model's weights, wrong shapes or types anywhere:
:mod:`benchmarks.training.checkpoint_check`) counts as damaged: its model part is checked here (``check``), the
rest when training resumes from it (:func:`abandon_last` then does what is described above for the last one).

Nothing is deleted. A completed run's record is never touched.
"""
from __future__ import annotations

import os
import time
from typing import Callable, List, Optional, Tuple

from results import COMPLETED, RECORD_FILE, RecordError, read_run_record

from .tracking import MLLOG_FILE
from .training.checkpoint import BEST, LAST, DamagedCheckpointError, load_checkpoint

__all__ = ["abandon_last", "restart", "set_aside"]

#: ``check(path, state)`` raises DamagedCheckpointError when a loaded checkpoint does not fit the run
Check = Callable[[str, dict], None]


def set_aside(path: str, why: str = "damaged") -> str:
    """Rename ``path`` to ``path.<why>-<time>`` (never over an existing file); return the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest, n = f"{path}.{why}-{stamp}", 1
    while os.path.exists(dest):
        n += 1
        dest = f"{path}.{why}-{stamp}-{n}"
    os.replace(path, dest)
    return dest


def _checkpoint_problem(path: str, check: Optional[Check]) -> Optional[Tuple[str, str]]:
    """None, or what is wrong with the checkpoint at ``path``: ``("was damaged" or "does not fit this run",
    the reason)``."""
    if not os.path.exists(path):
        return None
    try:
        state = load_checkpoint(path, map_location="cpu")
        if check is not None:
            check(path, state)
    except DamagedCheckpointError as err:
        return ("was damaged" if err.fits else "does not fit this run"), err.reason
    return None


def abandon_last(run_dir: str, reason: str, what: str = "was damaged", best_problem: bool = False) -> List[str]:
    """Set ``checkpoint-last.pt`` aside (``reason``: why), and the best checkpoint and MLPerf log of the attempt it
    belonged to; the run starts over from epoch 1. One line per file moved."""
    last, best = os.path.join(run_dir, LAST), os.path.join(run_dir, BEST)
    notes = [f"{last} {what} ({reason}); kept as {set_aside(last)}; the run starts over from epoch 1"]
    for path in (best, os.path.join(run_dir, MLLOG_FILE)):
        if os.path.exists(path) and not (path == best and best_problem):
            notes.append(f"{path} belongs to the abandoned attempt; kept as {set_aside(path, 'superseded')}")
    return notes


def restart(run_dir: str, say: Callable[[str], None] = print, check: Optional[Check] = None) -> List[str]:
    """Move the damaged files of ``run_dir`` aside as described above; return one line per file moved.
    ``check(path, state)``: also refuse a loadable checkpoint whose model does not fit the run."""
    notes: List[str] = []
    if not os.path.isdir(run_dir):
        return notes
    record_file = os.path.join(run_dir, RECORD_FILE)
    record = None
    if os.path.exists(record_file):
        try:
            record = read_run_record(run_dir)  # another run's record (a copy over it) is damage too
        except RecordError as err:
            notes.append(f"{record_file} was damaged ({err.reason}); kept as {set_aside(record_file)}; a new record "
                         f"starts")
    if record is not None and record.get("status") == COMPLETED:
        return notes
    last, best = os.path.join(run_dir, LAST), os.path.join(run_dir, BEST)
    last_problem, best_problem = _checkpoint_problem(last, check), _checkpoint_problem(best, check)
    if last_problem:
        notes += abandon_last(run_dir, last_problem[1], last_problem[0], best_problem=bool(best_problem))
    if best_problem:
        notes.append(f"{best} {best_problem[0]} ({best_problem[1]}); kept as {set_aside(best)}"
                     + ("" if last_problem else "; training resumes from the last checkpoint and writes a new best "
                        "checkpoint at its next improvement"))
    for note in notes:
        say(f"robustperf run --restart: {note}")
    if not notes:
        say(f"robustperf run --restart: nothing in {run_dir} is damaged; continuing as usual")
    return notes
