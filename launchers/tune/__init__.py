"""``robustperf tune``: multi-objective TPE over real runs of a recipe (its ``search:`` section).

- :mod:`~launchers.tune.study`: the optuna study (a JournalStorage under ``<results>/_tune/<name>``), its space;
- :mod:`~launchers.tune.trials`: a trial as a run of the recipe's base, a wave as a recipe, objectives from records;
- :mod:`~launchers.tune.driver`: :func:`tune`, the ask / launch / tell loop, resumable after any kill;
- :mod:`~launchers.tune.pareto`: the front as CSV, figure and recipe;
- :mod:`~launchers.tune.status`: ``robustperf tune --status``.
"""
from .driver import MAX_ATTEMPTS, POLL_S, TuneResult, tune
from .pareto import PARETO_CSV, PARETO_FIGURE, PARETO_RECIPE, pareto_rows, trial_rows, write_pareto
from .status import status_text
from .study import DRIVER_LOCK, JOURNAL, TUNE_DIR, TuneError, distributions, open_study, storage, tune_folder
from .trials import objectives_of, recipe_text, wave_recipe

__all__ = [
    "tune", "TuneResult", "TuneError", "status_text", "storage", "tune_folder", "open_study", "distributions",
    "write_pareto", "pareto_rows", "trial_rows", "recipe_text", "wave_recipe", "objectives_of", "TUNE_DIR",
    "JOURNAL", "DRIVER_LOCK", "PARETO_CSV", "PARETO_FIGURE", "PARETO_RECIPE", "POLL_S", "MAX_ATTEMPTS",
]
