"""Upper bounds on what one command accepts, so huge or hostile input fails fast instead of exhausting memory.

Each bound has a default sized for real studies (the reference study is 320 runs) and can be raised (or
lowered) through an environment variable, never through the input it guards: a recipe cannot lift its own
limit. A value over a bound is a :class:`recipes.errors.UserError` (exit 2) naming the bound and its variable.

=================  ============================  =========  ============================================"""
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
