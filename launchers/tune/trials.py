"""What a trial of ``robustperf tune`` is: one run of the recipe's ``base`` with the sampled values.

A wave of trials is written as a recipe of its own (one grid axis of value bundles) and launched like any matrix;
a trial's objectives are fields of its run's record.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from recipes import check_run, load_recipe
from recipes.errors import RecipeError
from results import RecordError, atomic_write_text, get, load_record

from .study import TuneError


def wave_recipe(recipe, params: Sequence[Dict[str, Any]], path: str):
    """Write (atomically) and load the recipe of one wave: the recipe's base, one run per parameter set."""
    atomic_write_text(path, recipe_text(recipe, params, f"{recipe.name}-tune",
                                        "written by robustperf tune: one run per trial of this wave"))
    return load_recipe(path, run_overrides(recipe))


def run_overrides(recipe) -> List[str]:
    """The recipe's ``--set`` items that apply to its runs (``search.*`` items are the driver's alone)."""
    return [o for o in recipe.overrides if str(o).partition("=")[0].strip().split(".")[0] != "search"]


def recipe_text(recipe, params: Sequence[Dict[str, Any]], name: str, comment: str) -> str:
    """A recipe (YAML) of the recipe's base with one run per parameter set (one grid axis of bundles)."""
    # the base with the recipe's --set run overrides baked in (re-applying them at load changes nothing), so
    # the file alone reproduces the runs
    base = recipe.base_config()
    bundles = [{k: _plain(v) for k, v in p.items()} for p in params]
    data = {"name": name, "base": _plain(base), "grid": {"training": bundles},
            "launch": {k: _plain(v) for k, v in _launch_dict(recipe.launch).items()}}
    return f"# {comment}\n" + yaml.safe_dump(data, sort_keys=False)


def _launch_dict(launch) -> Dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(launch).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def objectives_of(record: Dict[str, Any], names: Sequence[str]) -> Tuple[Optional[List[float]], Optional[str]]:
    """The objective values of a completed record, or None and why (missing or not finite: diverged)."""
    values = []
    for name in names:
        value = get(record, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None, f"objective {name} is {value!r} (missing or not finite: the run diverged or did not " \
                         "measure it)"
        values.append(float(value))
    return values, None


def invalid_reason(recipe, params: Dict[str, Any]) -> Optional[str]:
    """Why the recipe's base with ``params`` is not a valid run (its cross-field rules), or None."""
    cfg = recipe.base_config()
    for path, value in params.items():
        section, _, key = path.partition(".")
        cfg[section] = {**cfg[section], key: value}
    try:
        check_run(cfg)
    except RecipeError as err:
        return f"{err.key}: {err.message}" if err.key else err.message
    return None


def trial_run_id(wrecipe, params: Dict[str, Any]) -> str:
    """The run id of the wave recipe's run with these parameters (the same hash `robustperf run` computes)."""
    for run in wrecipe.runs():
        if all(_get(run.config, path) == value for path, value in params.items()):
            return run.run_id
    raise TuneError(f"internal: no run of {wrecipe.path} has the parameters {params}")


def _get(config: Dict[str, Any], path: str) -> Any:
    section, _, key = path.partition(".")
    return config[section][key] if key else config[section]


def read_record(results_dir: str, run_id: str) -> Optional[Dict[str, Any]]:
    """The run's record, or None when it has none or it cannot be read (the run is then launched again)."""
    try:
        return load_record(results_dir, run_id)
    except RecordError:
        return None
