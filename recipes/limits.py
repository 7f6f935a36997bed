"""Upper bounds on what one command accepts, so huge or hostile input fails fast instead of exhausting memory.

Each bound has a default sized for real studies (the reference study is 320 runs) and can be raised (or
lowered) through an environment variable, never through the input it guards: a recipe cannot lift its own
limit. A value over a bound is a :class:`recipes.errors.UserError` (exit 2) naming the bound and its variable.

====================  ===============================  =========  ====================================================================
bound                 variable                         default    guards
====================  ===============================  =========  ====================================================================
``yaml_nodes``        ROBUSTPERF_MAX_YAML_NODES        100000     YAML nodes after alias expansion (recipe or --set)
``recipe_bytes``      ROBUSTPERF_MAX_RECIPE_BYTES      1000000    size of a recipe file (and of ``robustperf submit --system``'s file)
``runs``              ROBUSTPERF_MAX_RUNS              100000     runs listed, launched or checked at once
``excludes``          ROBUSTPERF_MAX_EXCLUDES          10000      entries of a recipe's ``exclude`` list
``chain``             ROBUSTPERF_MAX_CHAIN             100        ``launch.chain`` follow-up jobs per array
``bootstrap``         ROBUSTPERF_MAX_BOOTSTRAP         100000     ``robustperf analyze --bootstrap``
``bins``              ROBUSTPERF_MAX_BINS              10000      ``robustperf analyze --bins``
``board_results``     ROBUSTPERF_MAX_BOARD_RESULTS     100000     results (summary rows) on one ``robustperf board``
``json_bytes``        ROBUSTPERF_MAX_JSON_BYTES        16000000   a JSON file of a submission folder (record, system)
``summary_bytes``     ROBUSTPERF_MAX_SUMMARY_BYTES     100000000  a summary CSV read by ``robustperf board``
``record_bytes``      ROBUSTPERF_MAX_RECORD_BYTES      16000000   size of a result record (``result.json``; ours are ~15 kB)
``targets``           ROBUSTPERF_MAX_TARGETS           100        ``robustperf analyze --targets`` values
``log_bytes``         ROBUSTPERF_MAX_LOG_BYTES         256000000  a run's ``mllog.txt`` or ``train.log`` packaged or checked
``submission_files``  ROBUSTPERF_MAX_SUBMISSION_FILES  100000     entries of a submission folder checked
``zoo_cards``         ROBUSTPERF_MAX_ZOO_CARDS         10000      training cards read from one folder (``robustperf zoo cost --cards``)
``card_number``       ROBUSTPERF_MAX_CARD_NUMBER       100000000  a number of a training card (epochs, images per epoch, ...)
====================  ===============================  =========  ====================================================================
"""
from __future__ import annotations

import os
from typing import Dict, Tuple

from .errors import UserError

#: bound name -> (environment variable, default)
LIMITS: Dict[str, Tuple[str, int]] = {
    "yaml_nodes": ("ROBUSTPERF_MAX_YAML_NODES", 100_000),
    "recipe_bytes": ("ROBUSTPERF_MAX_RECIPE_BYTES", 1_000_000),
    "runs": ("ROBUSTPERF_MAX_RUNS", 100_000),
    "excludes": ("ROBUSTPERF_MAX_EXCLUDES", 10_000),
    "chain": ("ROBUSTPERF_MAX_CHAIN", 100),
    "bootstrap": ("ROBUSTPERF_MAX_BOOTSTRAP", 100_000),
    "bins": ("ROBUSTPERF_MAX_BINS", 10_000),
    "board_results": ("ROBUSTPERF_MAX_BOARD_RESULTS", 100_000),
    "json_bytes": ("ROBUSTPERF_MAX_JSON_BYTES", 16_000_000),
    "summary_bytes": ("ROBUSTPERF_MAX_SUMMARY_BYTES", 100_000_000),
    "record_bytes": ("ROBUSTPERF_MAX_RECORD_BYTES", 16_000_000),
    "targets": ("ROBUSTPERF_MAX_TARGETS", 100),
    "log_bytes": ("ROBUSTPERF_MAX_LOG_BYTES", 256_000_000),
    "submission_files": ("ROBUSTPERF_MAX_SUBMISSION_FILES", 100_000),
    "zoo_cards": ("ROBUSTPERF_MAX_ZOO_CARDS", 10_000),
    "card_number": ("ROBUSTPERF_MAX_CARD_NUMBER", 100_000_000),
}


def limit(name: str) -> int:
    """The bound ``name`` (see :data:`LIMITS`): its environment variable when set, else the default.

    Raises:
        UserError: the variable is set but is not a positive integer.
    """
    var, default = LIMITS[name]
    text = os.environ.get(var)
    if text is None or not text.strip():
        return default
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"environment variable {var}={text!r}: expected a positive integer (default {default})")
    return value


def over_limit_message(name: str, what: str, value: int) -> str:
    """``"<what> is <value>, above the limit of <n> (raise it with VAR=...)"``."""
    var, _ = LIMITS[name]
    return f"{what} is {value:,}, above the limit of {limit(name):,} (raise it with the environment variable {var})"
