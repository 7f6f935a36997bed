"""Names taken from inputs made safe as path components and unique: the summary's ``result_id`` and the board's
page paths (a slug of ``[A-Za-z0-9._-]`` cannot climb out of a folder or hide as a dot file)."""
from __future__ import annotations

import re
from typing import Set

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: a slug's longest length (a path component stays far below the usual 255-byte limit)
MAX_SLUG = 80


def slug(text: object, fallback: str = "unnamed") -> str:
    """``text`` as one safe path component: runs of other characters become ``_``, no leading dot or dash."""
    out = _UNSAFE.sub("_", str(text if text is not None else "")).strip("._-")[:MAX_SLUG].rstrip("._-")
    return out or fallback


def unique(base: str, taken: Set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first not in ``taken`` (compared without case: some file
    systems ignore it), which is added to ``taken``."""
    candidate, n = base, 2
    while candidate.lower() in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate.lower())
    return candidate
