"""The documentation cannot drift: the site (mkdocs.yml, docs/) builds strictly, offline, and its generated reference
covers what the code has; the tutorial's shell blocks run as written; README.md stays short and its links resolve.

What the reference must contain is computed here from the code (the CLI parser, the recipe schema, the record
groups, the plug-in catalog), not listed by hand, so a new subcommand, key, field or plug-in that the site misses
fails this test. The plug-in guides' example packages are built from their pages and run by
``tests/test_docs_plugins.py``.
"""
from __future__ import annotations

import dataclasses
import html
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
from typing import List

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial" / "first-study.md"
#: the opening fence of a shell block the tests run (the hook renders it as a plain bash block)
DOCTEST_FENCE = re.compile(r"^```bash doctest[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
README_MAX_LINES = 250


def _env() -> dict:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg")
    # the interpreter running the tests is the one whose robustperf and python the docs' commands use
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _page(site: pathlib.Path, name: str) -> str:
    return (site / name).read_text(encoding="utf-8")


def _codes(text: str) -> set:
    """The text of every <code> element of a page."""
    return {html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", text, re.DOTALL)}


def test_no_page_fetches_anything_from_the_network(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    fetching = re.compile(r"""<(script|img|iframe)\b[^>]*\bsrc=["']?(https?:)?//|<link\b[^>]*\bhref=["']?(https?:)?//"""
                          r"""|@import\s+url\(["']?(https?:)?//|https://fonts\.(googleapis|gstatic)\.com""", re.I)
    offenders = {str(p.relative_to(site)): m.group(0) for p in pages for m in [fetching.search(p.read_text("utf-8"))]
                 if m}
    assert offenders == {}
    for css in site.rglob("*.css"):
        assert "fonts.googleapis.com" not in css.read_text("utf-8", errors="replace"), css


def test_cli_reference_lists_every_subcommand_and_option(site):
    """Every command, however deep it nests (``robustperf zoo cost``), has its section and every option."""
    import argparse

    import robustperf

    text = _page(site, "reference/cli.html")
    codes = _codes(text)

    def commands(path, parser):
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        for name, child in (sub.choices.items() if sub else ()):
            yield f"{path} {name}", child
            yield from commands(f"{path} {name}", child)

    found = dict(commands("robustperf", robustperf.build_parser()))
    assert len(found) >= 15 and {"robustperf zoo list", "robustperf zoo eval", "robustperf zoo cost"} <= set(found)
    for path, parser in found.items():
        assert f'id="{path.replace(" ", "-")}"' in text, f"no section for {path}"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            for option in action.option_strings:
                assert any(option in [part.split(" ")[0] for part in c.split(", ")] for c in codes), \
                    f"{path} {option} is missing from the CLI reference"


def _recipe_key_paths() -> List[str]:
    import recipes

    paths = list(recipes.all_paths())
    paths += [f"launch.{key}" for key in recipes.section_fields("launch")]
    paths += [f"evaluation.slowdown.{f.name}" for f in dataclasses.fields(recipes.SlowdownConfig)]
    return paths


def test_recipe_reference_lists_every_key(site):
    codes = _codes(_page(site, "reference/recipe-keys.html"))
    paths = _recipe_key_paths()
    assert {"training.loss", "training.select_attack", "evaluation.attack", "launch.max_parallel",
            "evaluation.slowdown.rule"} <= set(paths)
    assert [p for p in paths if p not in codes] == []


def test_record_reference_lists_every_field(site):
    from results import FIELDS, Flops

    codes = _codes(_page(site, "reference/record.html"))
    assert Flops.path("train_total") in FIELDS
    assert [f for f in FIELDS if f not in codes] == []


def test_record_field_meanings_match_the_typed_groups():
    """docs/reference/record-fields.yml documents exactly the fields and groups of ``results.GROUPS`` (the docs
    build warns too; this says which without building), and never contradicts a field's declared unit."""
    import yaml

    from results import FIELDS, GROUPS
    from results.groups import TOP_TYPES, UNIT

    documented = yaml.safe_load((DOCS / "reference" / "record-fields.yml").read_text(encoding="utf-8"))
    groups = documented.pop("groups")
    assert sorted(set(documented) ^ (set(FIELDS) | set(TOP_TYPES))) == [] and set(groups) <= set(GROUPS)
    for key, group in GROUPS.items():
        for f in dataclasses.fields(group):
            entry = documented[group.path(f.name)]
            if UNIT in f.metadata and isinstance(entry, dict) and "unit" in entry:
                assert entry["unit"] == f.metadata[UNIT], group.path(f.name)


def test_plugin_reference_follows_the_catalog(site):
    """Every registered entry is in its kind's table, with its package; one heading per kind."""
    from recipes import catalog

    text = _page(site, "reference/plugins.html")
    tables = dict(zip(catalog.KINDS, re.split(r'<h2 id="(?:' + "|".join(catalog.KINDS) + ')"', text)[1:]))
    assert list(tables) == list(catalog.KINDS)
    missing = [(e.kind, e.name) for e in catalog.all_entries()
               if f"<code>{e.name}</code>" not in tables[e.kind] or html.escape(e.source) not in tables[e.kind]]
    assert len(list(catalog.all_entries())) > 50 and missing == []


def test_shipped_recipes_page_lists_every_recipe(site):
    codes = _codes(_page(site, "reference/recipes.html"))
    recipes = sorted(f"recipes/{p.name}" for p in (ROOT / "recipes").glob("*.yaml"))
    assert len(recipes) >= 9 and [r for r in recipes if r not in codes] == []


def test_benchmark_page_names_every_target():
    from tests.bench.__main__ import TARGETS

    text = (DOCS / "reference" / "benchmarks.md").read_text(encoding="utf-8")
    assert [name for name in TARGETS if f"`{name}" not in text] == []


def test_the_doctest_marker_is_not_rendered(site):
    text = _page(site, "tutorial/first-study.html")
    assert "doctest" not in text and text.count('<div class="highlight">') >= len(_doctest_blocks())


def test_an_unknown_placeholder_is_a_warning(caplog):
    spec = importlib.util.spec_from_file_location("robustperf_docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)

    class Page:
        class file:
            src_uri = "x.md"

    with caplog.at_level("WARNING", logger="mkdocs.hooks.robustperf"):
        out = hooks.on_page_markdown("a\n<!-- reference: nonsense -->\n", page=Page, config=None, files=None)
    assert "<!-- reference: nonsense -->" in out and "unknown reference placeholder" in caplog.text


def test_the_reference_is_generated_without_torch():
    """The CLI parser and the recipe and record schemas are torch-free; so is documenting them."""
    code = ("import sys; sys.path.insert(0, 'docs'); import hooks\n"
            "for generate in hooks.GENERATORS.values(): generate()\n"
            "assert 'torch' not in sys.modules, 'generating the reference imported torch'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link.split("#")[0] for link in links if not re.match(r"^[a-z]+:", link) and not link.startswith("#")]
    assert len(relative) >= 20
    assert [link for link in relative if not (ROOT / link).exists()] == []
    for command in ("make demo", "make test", "make test-all", "make docs"):
        assert command in text


def _doctest_blocks() -> List[str]:
    return DOCTEST_FENCE.findall(TUTORIAL.read_text(encoding="utf-8"))


def test_the_tutorial_covers_the_pipeline():
    blocks = "\n".join(_doctest_blocks())
    for command in ("plugins", "expand", "run", "launch", "status", "collect", "analyze"):
        assert f"robustperf {command} " in blocks, command


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_tutorial_runs_as_written(tmp_path):
    """Every ```bash doctest block of the tutorial, in order, in one empty folder, exits 0."""
    blocks = _doctest_blocks()
    assert len(blocks) >= 6
    env = _env()
    for number, block in enumerate(blocks, 1):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (f"tutorial block {number} exited {proc.returncode}:\n{block}\n"
                                      f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    assert (tmp_path / "report" / "report.json").is_file()
