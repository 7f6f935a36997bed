"""``robustperf tune --status``: a study's trials by state, its driver, its Pareto front and its hypervolume history,
its failed trials."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from ..plan import lock_in_flight
from .indicators import history_lines, hypervolume_history
from .pareto import pareto_rows, trial_rows
from .study import DRIVER_LOCK, JOURNAL, TuneError, open_study, tune_folder


def status_text(recipe, results_dir: Optional[str] = None, reference=None) -> str:
    """``robustperf tune --status``: trials by state, the Pareto front, and the hypervolume after each completed
    trial (``reference``: the reference point, one value per objective; default the study's or the rule's)."""
    results_dir = os.path.abspath(results_dir or recipe.launch.results)
    folder = tune_folder(results_dir, recipe.name)
    if not os.path.exists(os.path.join(folder, JOURNAL)):
        raise TuneError(f"no study of recipe '{recipe.name}' under {results_dir} ({folder}/{JOURNAL} is missing); "
                        "run `robustperf tune` first")
    study = open_study(recipe, folder, create=False)
    names = list(study.user_attrs.get("objectives") or recipe.search.objective_names)
    rows = trial_rows(study, names)
    states: Dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    target = recipe.search.trials
    lines = [f"study {recipe.name}: {len(rows)} of {target} trials ("
             + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + f"); storage {folder}/{JOURNAL}"]
    driver = lock_in_flight(folder, DRIVER_LOCK)
    lines.append(f"driver: {driver}" if driver else "driver: none running (`robustperf tune` resumes the study)")
    front = pareto_rows(study, names)
    if front:
        lines.append(f"Pareto front ({len(front)} trials; objectives measured by the runs):")
        params = sorted({k for r in front for k in r} - {"trial", "state", "run_id", "failure_reason", *names})
        header = ["trial", "run_id", *params, *[f"{n} ({d.name.lower()[:3]})" for n, d in zip(names, study.directions)]]
        table = [header] + [[str(r.get("trial")), str(r.get("run_id"))] + [_fmt(r.get(p)) for p in params]
                            + [_fmt(r.get(n)) for n in names] for r in front]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in table]
    lines += history_lines(hypervolume_history(study, names, reference))
    failed = [r for r in rows if r["state"] == "fail"]
    for r in failed:
        lines.append(f"failed trial {r['trial']} (run {r.get('run_id')}): {r.get('failure_reason', '?')}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value
