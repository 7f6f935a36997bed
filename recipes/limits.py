"""Upper bounds on what one command accepts, so huge or hostile input fails fast instead of exhausting memory.

Each bound has a default sized for real studies (the reference study is 320 runs) and can be raised (or
lowered) through an environment variable, never through the input it guards: a recipe cannot lift its own
limit. A value over a bound is a :class:`recipes.errors.UserError` (exit 2) naming the bound and its variable.

=====================  ===========================  =========  =====================================================
bound                  variable                     default    guards
=====================  ===========================  =========  =====================================================
``yaml_nodes``         ROBUSTPERF_MAX_YAML_NODES    100000     YAML nodes after alias expansion (recipe or --set)
``recipe_bytes``       ROBUSTPERF_MAX_RECIPE_BYTES  1000000    size of a recipe file
``runs``               ROBUSTPERF_MAX_RUNS          100000     runs listed, launched or checked at once
``excludes``           ROBUSTPERF_MAX_EXCLUDES      10000      entries of a recipe's ``exclude`` list
``chain``              ROBUSTPERF_MAX_CHAIN         100        ``launch.chain`` follow-up jobs per array
``bootstrap``          ROBUSTPERF_MAX_BOOTSTRAP     100000     ``robustperf analyze --bootstrap``
``bins``               ROBUSTPERF_MAX_BINS          10000      ``robustperf analyze --bins``
``image_pixels``       ROBUSTPERF_MAX_IMAGE_PIXELS  89478485   pixels of one image (at least (32 x data.image_size)^2)
``synthetic_mb``       ROBUSTPERF_MAX_SYNTHETIC_MB  32000      MB (10^6 bytes) of one array of ``data.synthetic``
``line_bytes``         ROBUSTPERF_MAX_LINE_BYTES    65536      one line of a dataset's annotation file
=====================  ===========================  =========  =====================================================
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
    # Pillow's own warning threshold (Image.MAX_IMAGE_PIXELS, about 9459^2: more than any ImageNet photo); a run at
    # a larger data.image_size reads images up to (32 x image_size)^2 (benchmarks.datasets.images.pixel_bound)
    "image_pixels": ("ROBUSTPERF_MAX_IMAGE_PIXELS", 89_478_485),
    # 10 M generated 32x32 RGB images as uint8 (DeepMind's 1 M set is 3.1 GB), held in memory whole
    "synthetic_mb": ("ROBUSTPERF_MAX_SYNTHETIC_MB", 32_000),
    "line_bytes": ("ROBUSTPERF_MAX_LINE_BYTES", 65_536),
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
