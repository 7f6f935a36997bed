"""``robustperf board`` (issue 23, item 6) without a browser: the site's layout, its assets (plotly's own bundle,
no network), its escaping of every input, the provisional reading and scoring of submission folders, and how bad
inputs and unsafe site folders end (one line, exit 2, nothing written outside the site).

The real browser test is tests/submissions/test_board_browser.py.
"""
from __future__ import annotations

import csv
import filecmp
import json
import os
import re
import shutil

import pytest

from submissions.board import BoardError, load_inputs, read_submission
from submissions.board.columns import COLUMNS, REQUIRED
from submissions.board.site import MANIFEST, plotly_js
from tests.submissions.conftest import HOSTILE, board, one_line_error
from tests.submissions.synthetic import make_submission, summary_rows, write_summary

#: a script, stylesheet, image or frame fetched from the network (absolute or protocol-relative URL)
FETCHING = re.compile(r"""<(script|img|iframe|link)\b[^>]*\b(src|href)\s*=\s*["']?\s*(https?:)?//""", re.I)


def _pages(site):
    return sorted(site.rglob("*.html"))


def test_the_site_has_the_designed_layout(built_site, mixed_inputs):
    site = built_site
    assert (site / "index.html").is_file() and (site / MANIFEST).is_file()
    for benchmark, count in mixed_inputs["per_benchmark"].items():
        text = (site / f"{benchmark}.html").read_text("utf-8")
        assert text.count("<tr class=") == count, benchmark
    result_pages = list((site / "results").rglob("*.html"))
    assert len(result_pages) == sum(mixed_inputs["per_benchmark"].values())
    page = site / "results" / "digits-linf-0.2" / "open" / "acme" / "2xNVIDIA_H200.html"
    assert page.is_file()
    for k in range(5):
        run = page.with_suffix("") / f"run_{k}"
        for name in ("mllog.txt", "result.json", "train.log", "recipe.yaml"):
            source = mixed_inputs["root"] / "open" / "results" / "2xNVIDIA_H200" / "digits-linf-0.2" / f"run_{k}" / name
            assert filecmp.cmp(run / name, source, shallow=False), run / name
    assert filecmp.cmp(site / "assets" / "plotly.min.js", plotly_js(), shallow=False)
    manifest = json.loads((site / MANIFEST).read_text("utf-8"))
    on_disk = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert manifest["files"] == on_disk


def test_no_page_fetches_anything_and_plotly_is_copied_once(built_site):
    pages = _pages(built_site)
    assert len(pages) > 10
    offenders = {p.name: m.group(0) for p in pages for m in [FETCHING.search(p.read_text("utf-8"))] if m}
    assert offenders == {}
    bundles = [p for p in built_site.rglob("*.js") if "plotly" in p.name]
    assert [p.relative_to(built_site).as_posix() for p in bundles] == ["assets/plotly.min.js"]
    benchmark = (built_site / "digits-linf-0.2.html").read_text("utf-8")
    assert '<script src="assets/plotly.min.js"></script>' in benchmark
    deep = (built_site / "results" / "digits-linf-0.2" / "open" / "acme" / "2xNVIDIA_H200.html").read_text("utf-8")
    assert '<script src="../../../../assets/plotly.min.js"></script>' in deep
    for page in pages:  # no inline script: only data blocks and the two files of assets/
        for tag in re.findall(r"<script\b[^>]*>", page.read_text("utf-8")):
            assert 'type="application/json"' in tag or re.search(r'src="(\.\./)*assets/(board|plotly\.min)\.js"', tag)


def test_a_hostile_submitter_renders_as_text(built_site):
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    pages = {p: p.read_text("utf-8") for p in _pages(built_site)}
    assert [p for p, text in pages.items() if HOSTILE in text or "<script>alert" in text] == []
    page = built_site / "results" / "digits-linf-0.2" / "closed" / "script_alert_1_script" / "1xAMD_EPYC_2c.html"
    assert escaped in pages[page] and escaped in pages[built_site / "digits-linf-0.2.html"]


@pytest.fixture(scope="module")
def rendered():
    """Render a result's benchmark and result pages with a given submitter, system and energy source."""
    from submissions.board.inputs import _parse_row
    from submissions.board.model import Result
    from submissions.board.pages import benchmark_page
    from submissions.board.paths import assign
    from submissions.board.result_page import result_page

    def render(text):
        raw = dict(summary_rows(1)[0])
        raw.update(submitter=text, system=text, energy_source=text, result_id="")
        result = Result(row=_parse_row({k: str(v) for k, v in raw.items()}, "x.csv", 2), source="x.csv:2")
        assign([result])
        return benchmark_page("b", [result]) + result_page(result, "b.html")
    return render


def test_page_markup_does_not_depend_on_input_text(rendered):
    """The escaping holds for any text: the pages' markup (every '<') is the same whatever the names are."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    baseline = rendered("x").count("<")

    @hypothesis.settings(max_examples=150, deadline=None)
    @hypothesis.given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
                              min_size=1).filter(lambda s: s.strip()))
    def check(text):
        assert rendered(text.strip()).count("<") == baseline

    check()
    for text in (HOSTILE, '"><img src=x onerror=alert(1)>', "</script><script>alert(1)</script>", "&amp;<!--"):
        assert rendered(text).count("<") == baseline


def test_page_paths_stay_inside_the_site():
    """Any result id, benchmark or submitter name becomes safe relative page paths, unique without case."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    from submissions.board.model import Result
    from submissions.board.paths import assign, benchmark_pages

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=6))
    def check(names):
        results = [Result(row={"result_id": n, "benchmark": n, "division": n, "submitter": n, "system": n},
                          source="x") for n in names]
        assign(results)
        ids = [r.page_id for r in results]
        assert len({i.lower() for i in ids}) == len(ids)
        for i in ids + list(benchmark_pages(names).values()):
            parts = i.split("/")
            assert all(p and p not in (".", "..") and not p.startswith(".") for p in parts), i
            assert re.fullmatch(r"[A-Za-z0-9._/-]+", i), i
        assert not {p.lower() for p in benchmark_pages(names).values()} & {"index.html", "assets.html",
                                                                           "results.html"}

    check()
    check_one = Result(row={"result_id": "../../../etc/passwd", "benchmark": "b"}, source="x")
    assign([check_one])
    assert check_one.page_id == "etc/passwd"


def test_olympic_scoring_of_a_submission_folder_matches_a_hand_computation(tmp_path):
    folder = make_submission(tmp_path / "s", seconds=(30.0, 20.0, 25.0, 40.0, 22.0))
    result = read_submission(str(folder))
    row = result.row
    scored = [0, 2, 4]  # 20 s (run 1) and 40 s (run 3) are dropped
    assert [r.scored for r in result.runs] == [True, False, True, False, True]
    assert row["time_to_target_s"] == pytest.approx((30 + 25 + 22) / 3)
    assert row["time_to_target_s_min"] == 22 and row["time_to_target_s_max"] == 30
    assert row["robust_accuracy"] == pytest.approx(sum(50.5 + k for k in scored) / 3)
    assert row["kwh_to_target"] == pytest.approx(sum(s * 3e-4 for s in (30, 25, 22)) / 3)
    assert (row["runs"], row["scored_runs"], row["reached_runs"], row["confirmed"]) == (5, 3, 5, True)
    one_miss = read_submission(str(make_submission(tmp_path / "m1", seconds=(30.0, None, 25.0, 40.0, 22.0)))).row
    assert one_miss["time_to_target_s"] == pytest.approx((25 + 30 + 40) / 3) and one_miss["reached_runs"] == 4
    two_misses = read_submission(str(make_submission(tmp_path / "m2", seconds=(30.0, None, None, 40.0, 22.0)))).row
    assert two_misses["scored_runs"] is None and two_misses["time_to_target_s"] is None
    assert two_misses["confirmed"] is False
    unconfirmed = read_submission(str(make_submission(tmp_path / "u", confirmed=False))).row
    assert unconfirmed["scored_runs"] == 3 and unconfirmed["confirmed"] is False


def test_pareto_front_is_the_set_of_undominated_points():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    from submissions.board.charts import pareto_front

    point = st.tuples(st.integers(0, 20).map(float), st.integers(0, 20).map(float))

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(point, max_size=25))
    def check(points):
        front = pareto_front(points)
        undominated = {p for p in points
                       if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)}
        assert {points[i] for i in front} == undominated
        assert len(front) == len(undominated)  # duplicates once
        assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)

    check()


def test_the_charts_are_valid_plotly_figures(built_site):
    import plotly.graph_objects as go

    figures = re.findall(r'<script type="application/json" id="figure-\w+">(.*?)</script>',
                         (built_site / "digits-linf-0.2.html").read_text("utf-8"))
    assert len(figures) == 2
    for text in figures:
        figure = go.Figure(json.loads(text))  # raises on any property plotly does not know
        names = [t.name for t in figure.data]
        assert "Pareto front, closed" in names and "open" in names


def test_a_summary_only_result_says_its_logs_were_not_provided(built_site):
    page = built_site / "results" / "cifar10-linf-8" / "closed" / "lab0002" / "1xAMD_EPYC_2c.html"
    text = page.read_text("utf-8")
    assert "Logs were not provided" in text and "no system description was provided" in text
    assert not page.with_suffix("").exists()


def test_a_result_without_a_score_says_why(built_site):
    page = built_site / "results" / "digits-linf-0.2" / "closed" / "slowlab" / "1xAMD_EPYC_2c.html"
    assert "no score: 2 of 5 runs missed the target: the benchmark&#x27;s rules allow 1" in page.read_text("utf-8")


def test_rebuilding_removes_the_old_boards_pages_and_keeps_other_files(mixed_inputs, tmp_path, cli):
    site = tmp_path / "site"
    assert cli(str(mixed_inputs["summary"]), str(mixed_inputs["folders"][1]), "-o", str(site)).returncode == 0
    acme = site / "results" / "digits-linf-0.2" / "open" / "acme" / "2xNVIDIA_H200.html"
    assert acme.is_file()
    (site / "notes.txt").write_text("mine", encoding="utf-8")
    proc = cli(str(mixed_inputs["summary"]), "-o", str(site))
    assert proc.returncode == 0, proc.stderr
    assert not acme.exists() and not acme.with_suffix("").exists()
    assert (site / "notes.txt").read_text("utf-8") == "mine"


@pytest.fixture
def cli(console):
    """``robustperf board ARGS`` in this process (tests/submissions/conftest.py's ``console``)."""
    return lambda *args: console("board", *args)


def test_bad_summaries_end_in_one_line_and_exit_2(tmp_path, cli):
    rows = summary_rows(3)
    cases = {}
    write_summary(tmp_path / "missing.csv", rows, [c for c in COLUMNS if c not in ("kwh_to_target", "confirmed")])
    cases["missing.csv"] = ("missing columns kwh_to_target, confirmed",)
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    cases["empty.csv"] = ("empty file",)
    write_summary(tmp_path / "header.csv", [])
    cases["header.csv"] = ("no rows",)
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01" * 50)
    cases["binary.csv"] = ("not UTF-8",)
    write_summary(tmp_path / "nul.csv", rows)
    with open(tmp_path / "nul.csv", "a", encoding="utf-8") as fh:
        fh.write('"unterminated\n' + "x" * 200_000 + "\n")
    cases["nul.csv"] = ("unreadable CSV",)
    bad = [dict(r) for r in rows]
    bad[1]["kwh_to_target"] = "lots"
    write_summary(tmp_path / "word.csv", bad)
    cases["word.csv"] = ("line 3, column kwh_to_target", "'lots' is not a number")
    for name, words in cases.items():
        one_line_error(cli(str(tmp_path / name), "-o", str(tmp_path / f"site-{name}")), name, *words)
        assert not (tmp_path / f"site-{name}").exists(), name
    one_line_error(board(str(tmp_path / "nowhere.csv"), "-o", str(tmp_path / "s")), "no such file")
    assert REQUIRED[-1] == "confirmed"


def test_bad_submission_folders_end_in_one_line_and_exit_2(tmp_path, cli):
    (tmp_path / "plain").mkdir()
    one_line_error(cli(str(tmp_path / "plain"), "-o", str(tmp_path / "s1")), "no submission.json")
    folder = make_submission(tmp_path / "broken")
    record = folder / "results" / "1xAMD_EPYC_2c" / "digits-linf-0.2" / "run_3" / "result.json"
    record.write_text("{not json", encoding="utf-8")
    one_line_error(cli(str(folder), "-o", str(tmp_path / "s2")), "run_3/result.json", "not JSON")
    record.write_text(json.dumps({"run_id": "x"}), encoding="utf-8")
    one_line_error(cli(str(folder), "-o", str(tmp_path / "s3")), "run_3/result.json", "key to_target")
    record.write_text(json.dumps({"to_target": {"seconds": "fast"}}), encoding="utf-8")
    one_line_error(cli(str(folder), "-o", str(tmp_path / "s4")), "key to_target.seconds", "'fast'")
    meta = json.loads((folder / "submission.json").read_text("utf-8"))
    meta["system"] = "../../etc"
    (folder / "submission.json").write_text(json.dumps(meta), encoding="utf-8")
    one_line_error(cli(str(folder), "-o", str(tmp_path / "s5")), "submission.json", "key system")
    assert not any((tmp_path / f"s{i}").exists() for i in range(1, 6))


def test_a_huge_json_file_fails_fast(tmp_path):
    folder = make_submission(tmp_path / "big")
    (folder / "submission.json").write_text(" " * 2_000 + "{}", encoding="utf-8")
    proc = board(str(folder), "-o", str(tmp_path / "site"), ROBUSTPERF_MAX_JSON_BYTES="1000")
    one_line_error(proc, "submission.json", "ROBUSTPERF_MAX_JSON_BYTES")
    assert not (tmp_path / "site").exists()


def test_unsafe_site_folders_are_refused_and_nothing_is_written_outside(mixed_inputs, tmp_path, cli):
    summary = str(mixed_inputs["summary"])
    (tmp_path / "file").write_text("x", encoding="utf-8")
    one_line_error(cli(summary, "-o", str(tmp_path / "file")), "not a folder")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    one_line_error(cli(summary, "-o", str(tmp_path / "link")), "symbolic link")
    (elsewhere / "precious.txt").write_text("keep", encoding="utf-8")
    one_line_error(cli(summary, "-o", str(elsewhere)), "not empty")
    assert sorted(os.listdir(elsewhere)) == ["precious.txt"]
    site = tmp_path / "site"
    assert cli(summary, "-o", str(site)).returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(site / "results" / "cifar10-linf-8")
    (site / "results" / "cifar10-linf-8").symlink_to(outside, target_is_directory=True)
    one_line_error(cli(summary, "-o", str(site)), "symbolic link")
    assert os.listdir(outside) == []


def test_a_summary_row_given_again_as_its_folder_is_shown_once(tmp_path):
    folder = make_submission(tmp_path / "sub", submitter="acme")
    row = {c: "" for c in COLUMNS}
    row.update(benchmark="digits-linf-0.2", division="closed", submitter="acme", system="1xAMD_EPYC_2c", runs=5,
               scored_runs=3, confirmed=True, submission=str(folder))
    write_summary(tmp_path / "summary.csv", [row])
    results = load_inputs([str(tmp_path / "summary.csv"), str(folder)])
    assert len(results) == 1 and results[0].from_folder
    with pytest.raises(BoardError, match="no input"):
        load_inputs([])


def test_summary_cells_keep_full_precision(tmp_path):
    rows = summary_rows(2)
    write_summary(tmp_path / "s.csv", rows)
    results = load_inputs([str(tmp_path / "s.csv")])
    assert results[0].row["time_to_target_s"] == float(rows[0]["time_to_target_s"])
    assert results[0].row["runs"] == 5 and isinstance(results[0].row["runs"], int)
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == list(COLUMNS)


def test_the_bench_figure_is_measured_on_a_few_results():
    """``make bench``'s board_1k_results_seconds, on 10 results instead of 1,000."""
    from tests.bench import bench_board
    from tests.bench.__main__ import TARGETS

    figures = bench_board.run(10)
    assert figures["board_1k_results_seconds"] == pytest.approx(
        figures["board_1k_summarize_seconds"] + figures["board_1k_summary_seconds"], abs=0.02)
    assert figures["board_1k_copied_files"] == 10 * 5 * 2 and "board_1k_results_seconds" in TARGETS


def test_a_broken_estimates_file_is_one_line(mixed_inputs, tmp_path):
    """--zoo takes only robustperf zoo cost's file; a measured-looking entry is refused, not mixed in."""
    from tests.submissions.conftest import board

    bad = tmp_path / "estimates.json"
    bad.write_text(json.dumps({"format": "robustperf-zoo-estimates/1", "estimates": [
        {"basis": "measured", "model": "X", "benchmark": "cifar10-linf-8", "train_flops": {"low": 1, "high": 2}}]}))
    proc = board(str(mixed_inputs["summary"]), "-o", str(tmp_path / "site"), "--zoo", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert str(bad) in line and "estimates[0]" in line and "'basis'" in line, line
    bad.write_text("{")
    proc = board(str(mixed_inputs["summary"]), "-o", str(tmp_path / "site"), "--zoo", str(bad))
    assert proc.returncode == 2 and str(bad) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_benchmark_with_estimates_only_gets_its_page(mixed_inputs, tmp_path):
    from tests.submissions.conftest import board

    est = tmp_path / "estimates.json"
    est.write_text(json.dumps({"format": "robustperf-zoo-estimates/1", "estimates": [
        {"basis": "estimated-from-card", "model": "M", "benchmark": "cifar100-linf-8", "method": "trades",
         "card": "/x/M.yaml", "train_flops": {"low": 1e18, "high": 2e18}}]}))
    proc = board(str(mixed_inputs["summary"]), "-o", str(tmp_path / "site"), "--zoo", str(est))
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "site" / "cifar100-linf-8.html").read_text()
    assert 'id="zoo-estimates"' in page and "1e+18\u20132e+18" in page and 'data-model="M"' in page
    assert "cifar100-linf-8.html" in (tmp_path / "site" / "index.html").read_text()
