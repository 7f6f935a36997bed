"""One result's page (``results/<result_id>.html``): its status, the score of each figure with its spread and how
it was obtained, its configuration (submission.json, the recipe), its system, each run's figures with links to the
run's copied logs, and a chart of the runs' times to target.

A result read from a summary CSV alone shows its summary row and says that no logs were provided.
"""
from __future__ import annotations

import posixpath
from typing import Dict, List

from .charts import runs_figure
from .columns import COLUMNS, FIGURES, SCORED
from .markup import DASH, esc, flatten, json_script, key_values, number, page
from .model import Result

#: the per-run table: (figure key of the run, column whose unit and format it shares, header)
RUN_COLUMNS = (("seed", "", "seed"), ("reached", "", "reached"), ("epoch", "epochs_to_target", "epoch"),
               ("seconds", "time_to_target_s", "time (s)"), ("kwh", "kwh_to_target", "kWh"),
               ("usd", "usd_to_target", "$"), ("co2_kg", "co2_kg_to_target", "kg CO2eq"),
               ("train_flops", "train_flops_to_target", "training FLOPs"),
               ("robust_accuracy", "robust_accuracy", "robust accuracy (%)"),
               ("clean_accuracy", "clean_accuracy", "clean accuracy (%)"), ("confirmed", "", "confirmed"))


def run_file_path(result: Result, k: int, name: str) -> str:
    """Where a run's copied file lies, relative to the site's top."""
    return f"results/{result.page_id}/run_{k}/{name}"


def status(result: Result) -> str:
    row = result.row
    if not row.get("scored_runs"):
        return f"no score: {result.note}" if result.note else (
            "no score: too few runs reached the target (a result needs all but the slowest dropped run to reach it)")
    if result.ranked:
        return "confirmed: every scored run's checkpoint held the target on the test set; ranked"
    return "unconfirmed: a scored run's confirmation on the test set fell below the target; not ranked"


def _score_table(result: Result) -> str:
    row = result.row
    lines = ["<table class=\"scores\"><thead><tr><th>figure</th><th>score</th><th>min</th><th>max</th>"
             "<th>unit</th><th>how it was obtained</th></tr></thead><tbody>"]
    for column in SCORED:
        label, unit, how = FIGURES[column]
        if column == "kwh_to_target" and row.get("energy_source"):
            how += f"; energy source: {row['energy_source']}"
        lines.append(f"<tr><th scope=\"row\">{esc(label)}</th><td class=\"num\">{number(row.get(column), column)}"
                     f"</td><td class=\"num\">{number(row.get(f'{column}_min'), column)}</td>"
                     f"<td class=\"num\">{number(row.get(f'{column}_max'), column)}</td><td>{esc(unit)}</td>"
                     f"<td>{esc(how)}</td></tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def _runs_table(result: Result, here: str) -> str:
    heads = "".join(f"<th>{esc(h)}</th>" for _, _, h in RUN_COLUMNS)
    rows = []
    for run in result.runs:
        cells = "".join(f"<td class=\"num\">{number(run.figures.get(key), column)}</td>" for key, column, _ in
                        RUN_COLUMNS)
        scored = {True: "scored", False: "dropped", None: DASH}[run.scored]
        links = [f'<a href="{esc(posixpath.relpath(run_file_path(result, run.k, name), here))}">{esc(name)}</a>'
                 for name in run.files]
        missing = [f"{esc(name)} not provided" for name in ("mllog.txt", "train.log") if name not in run.files]
        notes = "; ".join([esc(p) for p in run.problems] + missing)
        rows.append(f"<tr><th scope=\"row\">run_{run.k}</th>{cells}<td>{scored}</td>"
                    f"<td class=\"logs\">{' · '.join(links)}{f' <small>({notes})</small>' if notes else ''}</td></tr>")
    return (f"<div class=\"scroll\"><table class=\"runs\"><thead><tr><th>run</th>{heads}<th>in score</th>"
            f"<th>logs</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def result_page(result: Result, benchmark_page: str) -> str:
    """The page of ``result``; ``benchmark_page`` is its benchmark page's file name at the site's top."""
    row = result.row
    here = posixpath.dirname(f"results/{result.page_id}.html")
    root = "../" * (result.page_id.count("/") + 1)
    parts: List[str] = [
        f"<p class=\"lede\"><strong>{esc(row.get('benchmark'))}</strong>, {esc(row.get('division') or DASH)} "
        f"division: {esc(status(result))}.</p>",
        "<h2 id=\"score\">Score</h2>",
        f"<p>{number(row.get('runs'))} runs, {number(row.get('scored_runs'))} scored, "
        f"{number(row.get('reached_runs'))} reached the target. Each score is the mean over the scored runs.</p>",
        _score_table(result),
        "<h2 id=\"configuration\">Configuration</h2>",
    ]
    if result.from_folder:
        parts.append(key_values(flatten(result.submission), caption="submission.json"))
        parts.append(f"<p>Submission folder: <code>{esc(result.source)}</code></p>")
        if result.recipe is not None:
            parts.append(f"<h3>Recipe (run_0)</h3><pre class=\"recipe\">{esc(result.recipe)}</pre>")
    else:
        pairs = [(c, row.get(c)) for c in COLUMNS if c not in SCORED and not c.endswith(("_min", "_max"))]
        parts.append(key_values([(k, DASH if v is None else v) for k, v in pairs],
                                caption=f"summary row ({result.source})"))
    parts.append("<h2 id=\"system\">System</h2>")
    if result.system is not None:
        parts.append(key_values(flatten(result.system), caption=f"systems/{row.get('system')}.json"))
    else:
        parts.append(f"<p>{esc(row.get('system') or DASH)}: no system description was provided"
                     f"{' (built from a summary CSV)' if not result.from_folder else ''}.</p>")
    parts.append("<h2 id=\"runs\">Runs</h2>")
    figure = runs_figure(result.runs)
    if result.runs:
        parts.append(_runs_table(result, here))
        if figure["data"]:
            parts.append(f'<div class="chart" id="chart-runs" data-figure="figure-runs"></div>'
                         f'{json_script("figure-runs", figure)}')
    else:
        parts.append("<p class=\"note\">Logs were not provided: this result was read from a summary CSV "
                     f"(<code>{esc(result.source)}</code>), which holds its scores but not its runs. Give the "
                     "submission folder to <code>robustperf board</code> to show each run and its logs.</p>")
    title = f"{row.get('submitter') or DASH} \u00b7 {row.get('system') or DASH}"
    crumbs = [("leaderboard", root + "index.html"), (str(row.get("benchmark")), root + benchmark_page),
              (title, None)]
    return page(title, "\n".join(parts), root=root, charts=bool(figure["data"]), crumbs=crumbs)


def files_to_copy(result: Result) -> Dict[str, str]:
    """site-relative path -> source path of every run file the page links to."""
    return {run_file_path(result, run.k, name): source for run in result.runs for name, source in run.files.items()}
