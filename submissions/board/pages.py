"""The index and the benchmark pages of the board (the result pages are :mod:`.result_page`).

A benchmark page holds one table row per result, sortable by any column (``assets/board.js`` reads each cell's
``data-value``: full-precision numbers, empty last) and filtered by division and by system (each row's
``data-division`` and ``data-system``), then the Pareto charts of robust accuracy against kWh and $ to target.
Rows start ranked: confirmed results by time to target (MLPerf's ranking), then the unconfirmed, then those with
no score; the ``rank`` column counts the confirmed results within their division.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

from .charts import pareto_figure
from .columns import FIGURES, LABELS, SCORED, TABLE
from .markup import DASH, esc, json_script, number, page, sort_value
from .model import Result
from .zoo import zoo_section

#: columns whose first click sorts from the highest value down (higher is better)
DESCENDING_FIRST = ("robust_accuracy", "clean_accuracy", "runs", "scored_runs", "confirmed")


def result_href(result: Result) -> str:
    """A result page's URL relative to the site's top."""
    return f"results/{result.page_id}.html"


def ranked_order(results: Sequence[Result]) -> List[Result]:
    """Confirmed results by time to target, then unconfirmed ones with a score, then those with no score."""
    def key(r: Result):
        time = r.row.get("time_to_target_s")
        scored = r.row.get("scored_runs") not in (None, 0) and isinstance(time, (int, float))
        return (0 if r.ranked and scored else 1 if scored else 2, time if scored else math.inf,
                str(r.row.get("submitter") or ""), r.page_id)
    return sorted(results, key=key)


def ranks(results: Sequence[Result]) -> Dict[str, int]:
    """page_id -> rank within its division, for the ranked (confirmed, scored) results."""
    out: Dict[str, int] = {}
    counts: Dict[str, int] = {}
    for r in ranked_order(results):
        if r.ranked and isinstance(r.row.get("time_to_target_s"), (int, float)):
            division = str(r.row.get("division") or "")
            counts[division] = counts.get(division, 0) + 1
            out[r.page_id] = counts[division]
    return out


def index_page(by_benchmark: Dict[str, List[Result]], pages: Dict[str, str]) -> str:
    """The list of benchmarks: results per division, how many are confirmed, the best confirmed time."""
    rows = []
    for benchmark in sorted(by_benchmark):
        results = by_benchmark[benchmark]
        divisions = sorted({str(r.row.get("division") or "") for r in results})
        per = ", ".join(f"{esc(d or 'none')}: {sum(str(r.row.get('division') or '') == d for r in results)}"
                        for d in divisions)
        times = [r.row["time_to_target_s"] for r in results if r.ranked
                 and isinstance(r.row.get("time_to_target_s"), (int, float))]
        rows.append(f'<tr><td><a href="{esc(pages[benchmark])}">{esc(benchmark)}</a></td>'
                    f'<td data-value="{len(results)}">{len(results)}</td><td>{per}</td>'
                    f'<td data-value="{sum(r.ranked for r in results)}">{sum(r.ranked for r in results)}</td>'
                    f'<td data-value="{sort_value(min(times) if times else None)}">'
                    f'{number(min(times) if times else None, "time_to_target_s")}</td></tr>')
    total = sum(len(v) for v in by_benchmark.values())
    heads = "".join(f'<th data-type="{kind}" aria-sort="none"><button type="button">{label}</button></th>'
                    for kind, label in (("text", "benchmark"), ("number", "results"), ("text", "divisions"),
                                        ("number", "confirmed"), ("number", "best confirmed time to target (s)")))
    body = f"""<p class="lede">{_count(total, "result")} in {_count(len(by_benchmark), "benchmark")}. Each
benchmark's page ranks its results by time to the benchmark's robustness target (the olympic mean of the runs: the
fastest and the slowest dropped) and charts robust accuracy against the energy and the dollars it took.</p>
<table class="board sortable" id="benchmarks-table">
<thead><tr>{heads}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>"""
    return page("robustperf leaderboard", body, root="",
                crumbs=[("leaderboard", None)])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _cell(result: Result, column: str) -> str:
    row = result.row
    if column == "submitter":
        return (f'<td data-value="{esc(row.get("submitter") or "")}"><a href="{esc(result_href(result))}">'
                f'{esc(row.get("submitter") or DASH)}</a></td>')
    if column in ("system", "division"):
        return f'<td data-value="{esc(row.get(column) or "")}">{esc(row.get(column) or DASH)}</td>'
    value = row.get(column)
    text = number(value, column)
    if column in SCORED and value is not None and row.get(f"{column}_min") is not None \
            and row.get(f"{column}_max") is not None:
        text += (f'<span class="spread" title="spread over the scored runs">'
                 f'{number(row[f"{column}_min"], column)}\u2013{number(row[f"{column}_max"], column)}</span>')
    return f'<td class="num" data-value="{esc(sort_value(value))}">{text}</td>'


def benchmark_page(benchmark: str, results: Sequence[Result], links_root: str = "", zoo: Sequence[dict] = ()) -> str:
    """One benchmark: filters, the sortable table (one row per result), the two Pareto charts, and the published
    models' estimated cost (``zoo``, :func:`.zoo.zoo_section`) apart from them."""
    ordered = ranked_order(results)
    rank = ranks(results)
    divisions = sorted({str(r.row.get("division") or "") for r in results})
    systems = sorted({str(r.row.get("system") or "") for r in results})
    options = {
        "division": "".join(f'<option value="{esc(d)}">{esc(d or "none")}</option>' for d in divisions),
        "system": "".join(f'<option value="{esc(s)}">{esc(s or "none")}</option>' for s in systems),
    }
    heads = ['<th data-column="rank" data-type="number" aria-sort="none" title="rank among the confirmed '
             'results of its division, by time to target"><button type="button">rank</button></th>']
    for column in TABLE:
        kind = "text" if column in ("submitter", "system", "division") else "number"
        first = "desc" if column in DESCENDING_FIRST else "asc"
        title = FIGURES[column][2] if column in FIGURES else ""
        heads.append(f'<th data-column="{column}" data-type="{kind}" data-first="{first}" aria-sort="none"'
                     f'{f" title={chr(34)}{esc(title)}{chr(34)}" if title else ""}>'
                     f'<button type="button">{esc(LABELS[column])}</button></th>')
    rows = []
    for r in ordered:
        cells = [f'<td class="num" data-value="{rank.get(r.page_id, "")}">{rank.get(r.page_id, DASH)}</td>']
        cells += [_cell(r, column) for column in TABLE]
        status = "ranked" if r.page_id in rank else "unconfirmed" if r.row.get("scored_runs") else "unscored"
        rows.append(f'<tr class="{status}" data-division="{esc(r.row.get("division") or "")}" '
                    f'data-system="{esc(r.row.get("system") or "")}" data-result="{esc(r.page_id)}">'
                    f'{"".join(cells)}</tr>')
    links = {r.page_id: links_root + result_href(r) for r in results}
    charts, drawn = [], False
    for column, label, name in (("kwh_to_target", "energy to target (kWh)", "kwh"),
                                ("usd_to_target", "cost to target ($)", "usd")):
        figure = pareto_figure(results, column, label, links)
        if figure["data"]:
            drawn = True
            charts.append(f'<figure><figcaption>Robust accuracy against {esc(label)}</figcaption>'
                          f'<div class="chart" id="chart-{name}" data-figure="figure-{name}"></div>'
                          f'{json_script(f"figure-{name}", figure)}</figure>')
        else:
            charts.append(f'<p class="note">No result has both a robust accuracy and {esc(label)}.</p>')
    n = len(results)
    body = f"""<p class="lede">{_count(n, "result")}; {len(rank)} confirmed and ranked. Scores are
olympic means over each result's runs (the fastest and the slowest dropped); the small range under a score is its
spread over the scored runs. Click a column header to sort, a submitter to see the result.</p>
<section class="filters" aria-label="filters">
<label>division <select id="division-filter" data-filter="division"><option value="">all</option>
{options["division"]}</select></label>
<label>system <select id="system-filter" data-filter="system"><option value="">all</option>
{options["system"]}</select></label>
<span id="shown-count" aria-live="polite">{n} of {n} results shown</span>
</section>
<div class="scroll"><table class="board sortable" id="results-table" data-filtered="true">
<thead><tr>{"".join(heads)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table></div>
<section class="charts">
<h2>Pareto fronts</h2>
<p>Each point is a result; a division's dotted staircase joins its confirmed results that no other confirmed
result of the division beats on both robust accuracy and cost. Open markers are unconfirmed results (not ranked).
Click a point to open its page.</p>
{chr(10).join(charts)}
</section>
{zoo_section(zoo)}"""
    return page(f"Benchmark {benchmark}", body, root="", charts=drawn,
                crumbs=[("leaderboard", "index.html"), (benchmark, None)])
