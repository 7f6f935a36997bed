"""The analysis-section contract: what a section declares and does, and how one is run.

A section is one part of ``robustperf analyze``: it declares the table columns it needs, fits, summarises
into its part of ``report.json`` (``report[section.name]``), draws its figures and renders its part of
``report.md``. ``run_analysis`` runs the registered sections (:mod:`scaling.sections.registry`) in ``order``; a
section whose columns are missing is skipped with one line saying why (``report["skipped_sections"]``, the
report's "Skipped" list and one line of ``robustperf analyze``'s output).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import ScalingError, TableError
from ..table import numeric_column, parse_expression, row_labels


class SkipSection(Exception):
    """Raised by a section's :meth:`Section.columns` or :meth:`Section.fit` to skip it; the message says why."""


@dataclass
class AnalysisContext:
    """What every section sees: the table, the rows with FLOPs and accuracy, settings and earlier fits.

    Attributes:
        table: the whole table (all rows, as read).
        mapping: the column mapping (:class:`scaling.table.Mapping`).
        options: the analysis settings (:class:`scaling.analysis.Options`).
        columns: resolved core columns by role (``flops``, ``acc``, ``cost``, ``co2``, ``kwh``, ``facet``;
            ``None`` = not mapped).
        x_all, valid_x: FLOPs of every row, and which rows have positive finite FLOPs.
        frame, x, y: the rows with valid FLOPs and an accuracy, their FLOPs and accuracies.
        unusable: the core columns (``flops``, ``acc``) the analysis cannot use, role -> why (absent, switched
            off, or no row with a value); a section reading one (``Section.core``) is skipped with that reason.
        fits: fitted objects of the sections run so far, by section name (a later section reads an earlier
            one's fit here, after declaring it in ``Section.needs``).
        report: the report built so far (read only, by convention).
        notes: messages for the reader (failed optional fits); sections may append.
    """

    table: pd.DataFrame
    mapping: Any
    options: Any
    columns: Dict[str, Optional[str]]
    x_all: pd.Series
    valid_x: pd.Series
    frame: pd.DataFrame
    x: np.ndarray
    y: np.ndarray
    unusable: Dict[str, str] = field(default_factory=dict)
    fits: Dict[str, Any] = field(default_factory=dict)
    report: Dict[str, Any] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def flops_label(self) -> str:
        return f"training FLOPs ({self.columns['flops']})"

    @property
    def acc_label(self) -> str:
        return f"AutoAttack accuracy (%) ({self.columns['acc']})"

    def labels(self, frame: Optional[pd.DataFrame] = None) -> pd.Series:
        """Human names of the rows of ``frame`` (default the used rows): run_id, name or ``row N``."""
        return row_labels(self.frame if frame is None else frame)

    def numeric(self, expr: str, role: str, option: str = "--mapping", frame: Optional[pd.DataFrame] = None):
        """Float values of a column expression over ``frame`` (default the whole table); TableError if bad."""
        return numeric_column(self.table if frame is None else frame, expr, role, option)

    def section_options(self, name: str) -> Dict[str, Any]:
        """The mapping file's settings of section ``name`` (its ``sections: {name: {...}}`` entry)."""
        return dict((getattr(self.mapping, "sections", None) or {}).get(name) or {})


class Section:
    """Base class of an analysis section. Subclasses set ``title`` and override what they need.

    Attributes:
        name: registry key and the key of this section's part in report.json; set from the section's catalog
            entry (:class:`recipes.catalog.SectionEntry`), or declared here for :func:`register_section`.
        title: heading of its part in report.md.
        order: position in the analysis and the reports, likewise from the entry (built-ins: envelope 100, costs
            200-220, quantile 300, gradient boosting 400, factor figures 450, forecast 600, repeats 800).
        required: a failure aborts the analysis instead of skipping the section (no built-in section is
            required: each runs when its columns are there).
        core: the core columns this section reads through ``ctx.x``, ``ctx.y``, ``ctx.frame``, ``ctx.x_all`` or
            ``ctx.valid_x`` (``"flops"``, ``"acc"``); skipped, with the reason, when the table has no usable one.
            Default both; a section reading only its own columns of ``ctx.table`` declares ``()``.
        needs: names of sections whose fits (``ctx.fits[name]``) this one uses; skipped when one was skipped.
        option_keys: the settings a mapping file may give this section (``sections: {name: {key: value}}``),
            key -> one-line description; read them with ``ctx.section_options(name)``.
    """

    name: str = ""
    title: str = ""
    order: int = 500
    required: bool = False
    core: Sequence[str] = ("flops", "acc")
    needs: Sequence[str] = ()
    option_keys: Dict[str, str] = {}
    per_group: bool = False
    """fitted again per group under ``--by`` (:mod:`scaling.groups`): the sections that fit laws"""

    def named_columns(self, ctx: AnalysisContext) -> Dict[str, str]:
        """Columns the user named in this section's settings (``sections: {name: {key: column}}``), where ->
        column expression. Each must exist in the table: the analysis stops (TableError, exit 2) before any fit
        when one does not, whether or not the section would run. Default: none."""
        return {}

    def columns(self, ctx: AnalysisContext) -> Sequence[str]:
        """Column expressions this section reads (``a`` or ``a*b``); any missing -> skipped with their names.
        Raise :class:`SkipSection` for a reason of your own (an unmapped optional column)."""
        return ()

    def fit(self, ctx: AnalysisContext) -> Any:
        """Fit on ``ctx``; return the fitted state (kept in ``ctx.fits[name]`` for figures and later sections).
        A :class:`~scaling.errors.ScalingError` skips the section with its message (unless ``required``)."""
        return None

    def summary(self, fitted: Any, ctx: AnalysisContext) -> Any:
        """This section's part of report.json (JSON-able: numpy values are converted)."""
        return {}

    def figures(self, fitted: Any, ctx: AnalysisContext, save: Callable[[Any, str], None]) -> None:
        """Draw figures; ``save(fig, stem)`` writes ``stem.png`` and ``stem.pdf`` and lists them in the report."""

    def console(self, part: Any) -> List[str]:
        """Lines ``robustperf analyze`` prints for this section (its headline numbers); default none."""
        return []

    def markdown(self, part: Any, report: Dict[str, Any]) -> List[str]:
        """Lines of report.md for this section's (JSON) part; the default prints the part's scalars."""
        lines = [f"## {self.title or self.name}", ""]
        if isinstance(part, dict):
            for key, value in part.items():
                if isinstance(value, (str, int, float, bool)) or value is None:
                    lines.append(f"- {key}: {value}")
            lines.append("")
        return lines


def missing_columns(table: pd.DataFrame, exprs: Sequence[str]) -> List[str]:
    """The column names of ``exprs`` absent from ``table`` (in order, once each)."""
    out: List[str] = []
    for expr in exprs:
        for name in parse_expression(expr):
            if name not in table.columns and name not in out:
                out.append(name)
    return out


def run_section(section: Section, ctx: AnalysisContext) -> Optional[str]:
    """Run one section on ``ctx``: fit, and put its part in ``ctx.report``. Returns the skip reason or None."""
    absent = [n for n in section.needs if n not in ctx.fits]
    unusable = [ctx.unusable[role] for role in section.core if role in ctx.unusable]
    try:
        if unusable:
            raise SkipSection(unusable[0])
        if absent:
            raise SkipSection(f"needs section '{absent[0]}', which did not run")
        missing = missing_columns(ctx.table, section.columns(ctx))
        if missing:
            raise SkipSection("no column " + ", ".join(f"'{m}'" for m in missing))
        fitted = section.fit(ctx)
    except SkipSection as err:
        if section.required:
            raise TableError(f"{section.title or section.name}: {err}") from None
        ctx.report[section.name] = {"skipped": str(err)}
        return str(err)
    except ScalingError as err:
        if section.required or isinstance(err, TableError):
            raise
        ctx.report[section.name] = {"skipped": str(err)}
        ctx.notes.append(f"{section.name}: {err}")
        return str(err)
    ctx.fits[section.name] = fitted
    ctx.report[section.name] = section.summary(fitted, ctx)
    return None


__all__ = ["AnalysisContext", "Section", "SkipSection", "missing_columns", "run_section"]
