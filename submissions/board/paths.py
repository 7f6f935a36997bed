"""Where each page lands in the site, as safe relative paths: every name taken from an input (benchmark id,
result id) becomes a slug of ``[A-Za-z0-9._-]`` that cannot climb out of the site, hide as a dot file, or take
the name of the site's own files (``index``, ``assets``, ``results``), and is unique.
"""
from __future__ import annotations

from typing import Dict, Iterable, List

from ..slugs import slug, unique
from .model import Result

#: the most folders a result id makes under results/ (the design's ids have four parts)
MAX_DEPTH = 6
#: top-level names of the site that a benchmark page must not take
RESERVED = frozenset(("index", "assets", "results", ".robustperf-board"))


def benchmark_pages(benchmarks: Iterable[str]) -> Dict[str, str]:
    """benchmark id -> its page's file name (``<slug>.html``), unique and never a reserved name."""
    out: Dict[str, str] = {}
    taken = set()
    for name in sorted(set(benchmarks)):
        base = slug(name, "benchmark")
        if base.lower() in RESERVED:
            base = f"{base}-benchmark"
        out[name] = f"{unique(base, taken)}.html"
    return out


def assign(results: List[Result]) -> None:
    """Set each result's ``page_id``: its ``result_id`` (or ``benchmark/division/submitter/system``) made of slugs,
    unique in the site (a second one gets ``-2``, compared without case: some file systems ignore it)."""
    taken = set()
    for result in results:
        row = result.row
        given = row.get("result_id")
        parts = str(given).split("/") if given else [row.get(k) for k in ("benchmark", "division", "submitter",
                                                                         "system")]
        parts = [s for s in (slug(p, "") for p in parts if p is not None) if s][:MAX_DEPTH] or ["result"]
        result.page_id = unique("/".join(parts), taken)
