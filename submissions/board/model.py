"""What the board shows: a :class:`Result` (one summary row, and what its submission folder adds) and its
:class:`Run` s (the summarizer's, :class:`submissions.summary.Run`). Inputs become these (:mod:`.inputs`); pages
are rendered from them (:mod:`.pages`)."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from ..summary import RUN_FILES, Run

__all__ = ["RUN_FILES", "Result", "Run"]


@dataclasses.dataclass
class Result:
    """One result: N runs of one configuration, as one summary row."""

    #: column (:data:`.columns.COLUMNS`) -> value: float or int for the numbers, bool for ``confirmed``, str or None
    row: Dict[str, Any]
    #: where it came from: ``FILE.csv:LINE`` or the submission folder
    source: str
    #: its runs; empty when the result came from a summary CSV alone
    runs: List[Run] = dataclasses.field(default_factory=list)
    #: submission.json, when read from a submission folder
    submission: Optional[Dict[str, Any]] = None
    #: systems/<system>.json, when read from a submission folder
    system: Optional[Dict[str, Any]] = None
    #: run_0's recipe.yaml text, when read from a submission folder
    recipe: Optional[str] = None
    #: why the result has no score (the scoring's reason), when read from a submission folder
    note: Optional[str] = None
    #: the page's path under results/ without ``.html`` (safe slugs joined by ``/``), set by :func:`.paths.assign`
    page_id: str = ""

    @property
    def from_folder(self) -> bool:
        return self.submission is not None

    @property
    def ranked(self) -> bool:
        """Scored and confirmed: the results the Pareto fronts and the rank count."""
        return self.row.get("confirmed") is True
