"""RobustBench's published models next to the suite's own runs: built offline by RobustBench's own code,
loaded from local checkpoints, listed with their cost (``robustperf zoo list``) and evaluated and benchmarked as a
run (``robustperf zoo eval``).

- :mod:`~benchmarks.zoo.compat`: the one module with every accommodation robustbench 1.1.1 needs to import
  offline (:func:`import_robustbench`).
- :mod:`~benchmarks.zoo.models`: :func:`zoo_entries` (the zoo and its leaderboard tables), :func:`build_model`,
  :func:`load_weights` (``MODEL_DIR/<dataset>/<threat>/<name>.pt``, never downloaded).
- :mod:`~benchmarks.zoo.estimate`: training compute, time, energy, $ and CO2 estimated from a model's training card
  (:mod:`recipes.cards`) with the suite's own FLOP accounting (``robustperf zoo cost``, :mod:`.cli_cost`).

Nothing here is imported at ``import benchmarks.zoo`` time beyond these names' modules; robustbench itself is
imported on first use.
"""
from .compat import ROBUSTBENCH_VERSION, ZooDownloadRefused, ZooUnavailable, import_robustbench
from .models import (DATASETS, THREATS, ZooEntry, ZooError, build_model, find_entry, load_weights, weights_path,
                     zoo_entries)

__all__ = ["ROBUSTBENCH_VERSION", "ZooDownloadRefused", "ZooUnavailable", "import_robustbench", "DATASETS",
           "THREATS", "ZooEntry", "ZooError", "build_model", "find_entry", "load_weights", "weights_path",
           "zoo_entries"]
