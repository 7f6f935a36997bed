"""``--indices``: the part of a run matrix a launch selects, e.g. ``'0-9,15'``."""
from __future__ import annotations

import re
from typing import List, Tuple

from recipes.limits import limit, over_limit_message

from .errors import LaunchError

__all__ = ["parse_indices"]


def parse_indices(spec: str, total: int) -> List[int]:
    """``'0-9,15'`` -> ``[0, 1, ..., 9, 15]`` (sorted, unique), checked against a matrix of ``total`` runs.

    Raises:
        recipes.UserError (LaunchError): a malformed spec or an index outside ``0..total-1``.
    """
    ranges: List[Tuple[int, int]] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match:
            raise LaunchError(f"--indices: cannot read {part!r}; expected a list like 0-9,15")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise LaunchError(f"--indices: range {part!r} is reversed; expected low-high, e.g. 0-9")
        if hi >= total:
            raise LaunchError(f"--indices: index {hi} is outside the matrix of {total} runs (0..{total - 1})")
        ranges.append((lo, hi))
    if not ranges:
        raise LaunchError(f"--indices: {spec!r} selects no run; expected a list like 0-9,15")
    selected = sum(hi - lo + 1 for lo, hi in ranges)
    if selected > limit("runs"):
        raise LaunchError("--indices: " + over_limit_message("runs", "the number of runs selected", selected))
    return sorted({i for lo, hi in ranges for i in range(lo, hi + 1)})

