"""Upper bounds on what one command accepts, so huge or hostile input fails fast instead of exhausting memory.

Each bound has a default sized for real studies (the reference study is 320 runs) and can be raised (or
lowered) through an environment variable, never through the input it guards: a recipe cannot lift its own
limit. A value over a bound is a :class:`recipes.errors.UserError` (exit 2) naming the bound and its variable.

====================  ===============================  =========  ====================================================================
bound                 variable                         default    guards
====================  ===============================  =========  ====================================================================
``yaml_nodes``        ROBUSTPERF_MAX_YAML_NODES        100000     YAML nodes after alias expansion (recipe or --set)
``yaml_depth``        ROBUSTPERF_MAX_YAML_DEPTH        32         nesting levels of a recipe or ``--set`` value (at most 500)
``recipe_bytes``      ROBUSTPERF_MAX_RECIPE_BYTES      1000000    size of a recipe file, read no further (and ``submit --system``'s file)
``runs``              ROBUSTPERF_MAX_RUNS              100000     runs listed, launched or checked at once
``excludes``          ROBUSTPERF_MAX_EXCLUDES          10000      entries of a recipe's ``exclude`` list
``exclude_work``      ROBUSTPERF_MAX_EXCLUDE_WORK      1000000    steps counting what the ``exclude`` list drops
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
``image_pixels``      ROBUSTPERF_MAX_IMAGE_PIXELS      89478485   pixels of one image (at least (32 x data.image_size)^2)
``synthetic_mb``      ROBUSTPERF_MAX_SYNTHETIC_MB      32000      MB (10^6 bytes) of one array of ``data.synthetic``
``line_bytes``        ROBUSTPERF_MAX_LINE_BYTES        65536      one line of a dataset's annotation file
``zoo_cards``         ROBUSTPERF_MAX_ZOO_CARDS         10000      training cards read from one folder (``robustperf zoo cost --cards``)
``card_number``       ROBUSTPERF_MAX_CARD_NUMBER       100000000  a number of a training card (epochs, images per epoch, ...)
``hypervolume_work``  ROBUSTPERF_MAX_HYPERVOLUME_WORK  10000000   points^(objectives-1) of an exact hypervolume in 3+ objectives
``epoch_series``      ROBUSTPERF_MAX_EPOCH_SERIES      512        rows of a record's per-epoch energy series (``energy.epochs``)
``groups``            ROBUSTPERF_MAX_GROUPS            100        distinct values of ``robustperf analyze --by`` (each refits the laws)
``budgets``           ROBUSTPERF_MAX_BUDGETS           100        ``robustperf analyze --budgets`` values
====================  ===============================  =========  ====================================================================

A variable that is set must hold a positive integer (digits only) no larger than its bound's ceiling
(:data:`CEILINGS`; :data:`MAX_VALUE` for the others): ``-1``, ``0``, ``1e6`` or ``unlimited`` is an error, never
"no limit". ``robustperf`` checks every ``ROBUSTPERF_MAX_*`` variable when it starts (:func:`check_environment`),
so a bad one is reported at once whether or not the command would have consulted it, and a misspelt one (an
unknown name) is reported with the nearest valid name.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

from .errors import UserError, nearest

#: bound name -> (environment variable, default)
LIMITS: Dict[str, Tuple[str, int]] = {
    "yaml_nodes": ("ROBUSTPERF_MAX_YAML_NODES", 100_000),
    "yaml_depth": ("ROBUSTPERF_MAX_YAML_DEPTH", 32),
    "recipe_bytes": ("ROBUSTPERF_MAX_RECIPE_BYTES", 1_000_000),
    "runs": ("ROBUSTPERF_MAX_RUNS", 100_000),
    "excludes": ("ROBUSTPERF_MAX_EXCLUDES", 10_000),
    "exclude_work": ("ROBUSTPERF_MAX_EXCLUDE_WORK", 1_000_000),
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
    # Pillow's own warning threshold (Image.MAX_IMAGE_PIXELS, about 9459^2: more than any ImageNet photo); a run at
    # a larger data.image_size reads images up to (32 x image_size)^2 (benchmarks.datasets.images.pixel_bound)
    "image_pixels": ("ROBUSTPERF_MAX_IMAGE_PIXELS", 89_478_485),
    # 10 M generated 32x32 RGB images as uint8 (DeepMind's 1 M set is 3.1 GB), held in memory whole
    "synthetic_mb": ("ROBUSTPERF_MAX_SYNTHETIC_MB", 32_000),
    "line_bytes": ("ROBUSTPERF_MAX_LINE_BYTES", 65_536),
    "zoo_cards": ("ROBUSTPERF_MAX_ZOO_CARDS", 10_000),
    "card_number": ("ROBUSTPERF_MAX_CARD_NUMBER", 100_000_000),
    # n^(d-1) for an exact hypervolume of n non-dominated points in d >= 3 objectives (scaling.hypervolume):
    # about 3,000 points in 3-D, 200 in 4-D, each computed in seconds
    "hypervolume_work": ("ROBUSTPERF_MAX_HYPERVOLUME_WORK", 10_000_000),
    # a record stays small (~15 kB): a longer run keeps every k-th epoch, summed over the k it closes
    "epoch_series": ("ROBUSTPERF_MAX_EPOCH_SERIES", 512),
    "groups": ("ROBUSTPERF_MAX_GROUPS", 100),
    "budgets": ("ROBUSTPERF_MAX_BUDGETS", 100),
}
#: bound name -> the largest value its variable may raise it to, where the code past it would fail another way
#: (nested values deeper than 500 levels exhaust Python's recursion in repr, json and comparisons)
CEILINGS: Dict[str, int] = {"yaml_depth": 500}
#: the largest value any other bound's variable may hold (2^31 - 1: beyond it "a bound" means "none")
MAX_VALUE = 2**31 - 1
PREFIX = "ROBUSTPERF_MAX_"


def _parse(var: str, text: str, default: int, ceiling: int) -> int:
    digits = text.strip()
    if not digits.isdigit() or not digits.isascii() or int(digits) < 1 or int(digits) > ceiling:
        raise UserError(f"environment variable {var}={text!r}: expected a whole number from 1 to {ceiling:,} "
                        f"(default {default:,}); there is no value that switches a bound off")
    return int(digits)


def limit(name: str) -> int:
    """The bound ``name`` (see :data:`LIMITS`): its environment variable when set, else the default.

    Raises:
        UserError: the variable is set but is not a whole number from 1 to the bound's ceiling.
    """
    var, default = LIMITS[name]
    text = os.environ.get(var)
    if text is None or not text.strip():
        return default
    return _parse(var, text, default, CEILINGS.get(name, MAX_VALUE))


def check_environment(environ: Optional[Dict[str, str]] = None) -> None:
    """Check every ``ROBUSTPERF_MAX_*`` variable of ``environ`` (default ``os.environ``) at once.

    Raises:
        UserError: a variable that is not a valid bound, or a name that is no bound's (nearest name suggested).
    """
    env = os.environ if environ is None else environ
    by_var = {var: name for name, (var, _) in LIMITS.items()}
    for var in sorted(v for v in env if v.startswith(PREFIX)):
        name = by_var.get(var)
        if name is None:
            hint = nearest(var, by_var)
            raise UserError(f"environment variable {var}: no such bound" + (f" (did you mean {hint}?)" if hint else "")
                            + "; bounds: " + ", ".join(by_var))
        if env[var].strip():
            _parse(var, env[var], LIMITS[name][1], CEILINGS.get(name, MAX_VALUE))


def over_limit_message(name: str, what: str, value: Optional[int]) -> str:
    """``"<what> is <value>, above the limit of <n> (raise it with VAR=...)"`` (``value`` None: not counted to
    the end, only known to be above)."""
    var, _ = LIMITS[name]
    amount = " is" if value is None else f" is {value:,},"
    return f"{what}{amount} above the limit of {limit(name):,} (raise it with the environment variable {var})"
