"""What the board shows: a :class:`Result` (one summary row, and what its submission folder adds) and its
:class:`Run` s. Inputs become these (:mod:`.inputs`); pages are rendered from them (:mod:`.pages`)."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

#: the files of a run folder the board copies into the site and links to, in the order it lists them
RUN_FILES = ("mllog.txt", "result.json", "train.log", "recipe.yaml")


@dataclasses.dataclass
class Run:
    """One run of a result (one seed), from its ``result.json``'s ``to_target`` group."""

    #: k of ``run_<k>``
    k: int
    #: seed, reached, epoch, seconds, kwh, usd, co2_kg, train_flops, robust_accuracy, clean_accuracy, confirmed,
    #: attack (None where the record does not say)
    figures: Dict[str, Any]
    #: True: counted in the score; False: dropped (fastest or slowest); None: the result has no score
    scored: Optional[bool] = None
    #: file name (:data:`RUN_FILES`) -> its path in the submission folder, for the regular files present
    files: Dict[str, str] = dataclasses.field(default_factory=dict)
    #: what could not be read (a missing or unreadable record, a log that is a symlink), shown on its page
    problems: List[str] = dataclasses.field(default_factory=list)


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
    #: the page's path under results/ without ``.html`` (safe slugs joined by ``/``), set by :func:`.paths.assign`
    page_id: str = ""

    @property
    def from_folder(self) -> bool:
        return self.submission is not None

    @property
    def ranked(self) -> bool:
        """Scored and confirmed: the results the Pareto fronts and the rank count."""
        return self.row.get("confirmed") is True
