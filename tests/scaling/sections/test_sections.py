"""Analysis sections are catalog plug-ins: every registered section runs or is skipped with a reason, a section
registered from a test (or by an entry) runs in ``analyze`` with no other edit, a broken one is skipped."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import robustperf
from recipes import catalog
from recipes.catalog import SectionEntry
from scaling.analysis import Options, analyze, run_analysis
from scaling.errors import InsufficientDataError
from scaling.mapping import Mapping
from scaling.report import render_markdown
from scaling.sections import Section, get_section, list_sections, register_section, unregister_section

from tests.scaling.conftest import PUBLISHED, PUBLISHED_ARGS

BUILT_IN = ["envelope", "laws", "backtest", "electricity", "co2", "kwh", "quantile", "quantile_trend", "gbr",
            "factors", "forecast", "law_forecast", "repeats"]


class LossSlope(Section):
    """Test-only: the slope of the training loss against log10 FLOPs, with one figure."""

    name = "loss_slope"
    title = "Training loss against FLOPs"
    order = 700
    needs = ("envelope",)
    option_keys = {"column": "the loss column"}

    def columns(self, ctx):
        return [ctx.section_options(self.name).get("column", "train_loss")]

    def fit(self, ctx):
        column = self.columns(ctx)[0]
        loss = ctx.numeric(column, "loss", frame=ctx.frame).to_numpy()
        ok = np.isfinite(loss)
        if ok.sum() < 3:
            raise InsufficientDataError("loss slope", 3, int(ok.sum()))
        slope, intercept = np.polyfit(np.log10(ctx.x[ok]), loss[ok], 1)
        return {"slope": slope, "intercept": intercept, "n": int(ok.sum()), "column": column}

    def summary(self, fitted, ctx):
        return dict(fitted)

    def figures(self, fitted, ctx, save):
        from matplotlib.figure import Figure

        fig = Figure()
        fig.subplots().plot([1, 2], [fitted["intercept"], fitted["intercept"] + fitted["slope"]])
        save(fig, "loss_slope")

    def markdown(self, part, report):
        return [f"## {self.title}", "", f"loss slope per decade of FLOPs: {part['slope']:.4f} (n = {part['n']})", ""]


@pytest.fixture
def loss_section():
    register_section(LossSlope)
    yield get_section("loss_slope")
    unregister_section("loss_slope")


def test_built_in_sections_are_registered_in_order():
    assert [n for n in list_sections() if n in BUILT_IN] == BUILT_IN
    others = ["trends", "slowdown", "survival", "inference", "methods"]
    assert not any(get_section(name).required for name in BUILT_IN + others)  # each runs when its columns are there


def test_sections_are_the_catalogs_in_order_of_their_entries():
    entries = catalog.entries("sections")
    assert sorted(list_sections()) == sorted(entries)
    assert list_sections() == sorted(entries, key=lambda n: (entries[n].order, n))
    for name, entry in entries.items():
        section = get_section(name)
        assert isinstance(section, Section) and section.name == name and section.order == entry.order
        assert entry.doc, f"section {name} has no one-line doc"


def _needs(name: str) -> list:
    """``name`` and every section it needs, transitively, in analysis order."""
    wanted, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in wanted:
            wanted.add(n)
            todo.extend(get_section(n).needs)
    return [n for n in list_sections() if n in wanted]


def _bare_table(n: int = 40) -> pd.DataFrame:
    """FLOPs and accuracy only: every optional section lacks its columns."""
    rng = np.random.default_rng(0)
    flops = 10 ** rng.uniform(15, 19, n)
    return pd.DataFrame({"flops": flops, "acc": 20 * (flops / 1e15) ** 0.05 + rng.normal(0, 1, n)})


@pytest.mark.parametrize("name", catalog.names("sections"))
def test_each_section_runs_or_is_skipped_with_a_reason(name):
    report, _ = run_analysis(_bare_table(), Mapping(flops="flops", acc="acc"), Options(n_boot=10),
                             sections=_needs(name))
    if name in report["sections"]:
        assert name not in report["skipped_sections"] and "skipped" not in (report[name] or {})
    else:
        reason = report["skipped_sections"][name]
        assert isinstance(reason, str) and reason and report[name] == {"skipped": reason}
    report["source"], report["figures"], report["problems"] = "bare.csv", [], []
    render_markdown(json.loads(json.dumps(report, default=float)))


def test_a_section_registered_from_a_test_runs_with_no_other_edit(loss_section, tmp_path, capsys, published):
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path), *PUBLISHED_ARGS, "--no-figures",
                            "--bootstrap", "20"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    part = report["loss_slope"]
    alive = published.dropna(subset=["train_loss"])
    expected = np.polyfit(np.log10(alive["train_flops"] * alive["epochs"]), alive["train_loss"], 1)[0]
    assert part["slope"] == pytest.approx(expected) and part["n"] == len(alive)
    order = report["sections"]
    assert order.index("forecast") < order.index("loss_slope") == order.index("repeats") - 1  # order 700 < 800
    md = (tmp_path / "report.md").read_text()
    assert "## Training loss against FLOPs" in md and f"{part['slope']:.4f}" in md
    assert md.index("## Training loss") > md.index("## Forecast")
    # its figure is drawn and listed like the built-ins'
    report = analyze(published, Mapping(flops="train_flops*epochs", acc="aa_robust_acc"), str(tmp_path / "fig"),
                     Options(n_boot=10), sections=["envelope", "loss_slope"])
    assert {"loss_slope.png", "loss_slope.pdf", "envelope.png"} <= set(report["figures"])
    assert (tmp_path / "fig" / "loss_slope.png").stat().st_size > 1000


def test_a_section_whose_columns_are_missing_is_skipped_with_one_line(loss_section, tmp_path, capsys, published):
    table = tmp_path / "t.csv"
    published.drop(columns=["train_loss"]).to_csv(table, index=False)
    assert robustperf.main(["analyze", str(table), "-o", str(tmp_path / "o"), *PUBLISHED_ARGS[:4], "--no-figures",
                            "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "loss_slope" in line]
    assert lines == ["skipped section loss_slope: no column 'train_loss'"]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["loss_slope"] == {"skipped": "no column 'train_loss'"} and "loss_slope" not in report["sections"]
    assert report["skipped_sections"]["loss_slope"] == "no column 'train_loss'"
    assert "- loss_slope: no column 'train_loss'" in (tmp_path / "o" / "report.md").read_text()


def test_a_failed_optional_fit_is_skipped_with_a_note(loss_section, published):
    table = published.copy()
    table["train_loss"] = np.nan
    table.loc[:1, "train_loss"] = 1.0
    report, _ = run_analysis(table, Mapping(flops="train_flops*epochs", acc="aa_robust_acc"), Options(n_boot=10),
                             sections=["envelope", "loss_slope"])
    assert report["loss_slope"]["skipped"] == "loss slope: needs at least 3 usable points, got 2"
    assert "loss_slope: loss slope: needs at least 3 usable points, got 2" in report["notes"]


def test_a_section_that_needs_a_skipped_section_is_skipped(loss_section, published):
    report, _ = run_analysis(published, Mapping(flops="train_flops*epochs", acc="aa_robust_acc"), Options(n_boot=10),
                             sections=["loss_slope"])
    assert report["skipped_sections"] == {"loss_slope": "needs section 'envelope', which did not run"}


def test_mapping_settings_reach_the_section_and_are_checked(loss_section, tmp_path, capsys):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("flops: train_flops*epochs\nacc: aa_robust_acc\nsections:\n  loss_slope:\n"
                       "    column: eval_loss\n")
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path / "o"), "--mapping", str(mapping),
                            "--no-figures", "--bootstrap", "10"]) == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["loss_slope"]["column"] == "eval_loss"
    mapping.write_text("flops: train_flops\nsections:\n  loss_slope:\n    colum: test_loss\n")
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path / "o"), "--mapping", str(mapping)]) == 2
    err = capsys.readouterr().err
    assert "m.yaml: sections.loss_slope: unknown key 'colum'; valid keys: column" in err
    mapping.write_text("sections:\n  nonesuch: {}\n")
    assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path / "o"), "--mapping", str(mapping)]) == 2
    err = capsys.readouterr().err
    assert "unknown analysis section 'nonesuch'; registered: " in err and "envelope, laws" in err


def test_two_sections_cannot_share_a_name():
    class Other(Section):
        name = "envelope"

    with pytest.raises(ValueError, match="'envelope' is already registered by EnvelopeSection"):
        register_section(Other)


class Slope(LossSlope):
    """A section declared by an entry: its name and order are the entry's."""


def test_a_section_declared_by_one_entry_runs_with_the_entrys_name_and_order(published):
    entry = SectionEntry(name="slope", impl=f"{__name__}:Slope", doc="loss slope", order=810)
    catalog.register(entry)
    try:
        assert list_sections().index("slope") == list_sections().index("repeats") + 1
        section = get_section("slope")
        assert (type(section), section.name, section.order) == (Slope, "slope", 810)
        report, _ = run_analysis(published, Mapping(flops="train_flops*epochs", acc="aa_robust_acc"),
                                 Options(n_boot=10), sections=["envelope", "slope"])
        assert report["slope"]["n"] > 3 and report["sections"] == ["envelope", "slope"]
    finally:
        catalog.unregister("sections", "slope")
    assert "slope" not in list_sections()


@pytest.mark.parametrize("impl, why", [("robustperf_no_such_package.sections:Broken", "cannot import"),
                                       ("scaling.sections.base:SkipSection", "is not a scaling.sections.Section")])
def test_a_broken_section_is_skipped_in_one_line_and_the_others_run(impl, why, tmp_path, capsys):
    catalog.register(SectionEntry(name="broken", impl=impl, doc="broken on purpose", order=120))
    try:
        assert robustperf.main(["analyze", str(PUBLISHED), "-o", str(tmp_path), *PUBLISHED_ARGS, "--no-figures",
                                "--bootstrap", "10"]) == 0
    finally:
        catalog.unregister("sections", "broken")
    lines = [line for line in capsys.readouterr().out.splitlines() if "section broken" in line]
    assert len(lines) == 1 and lines[0].startswith("skipped section broken: section 'broken' (registered "
                                                   "in-process)") and why in lines[0], lines
    report = json.loads((tmp_path / "report.json").read_text())
    assert why in report["skipped_sections"]["broken"] and "broken" not in report["sections"]
    assert {"envelope", "laws", "forecast", "gbr"} <= set(report["sections"])
