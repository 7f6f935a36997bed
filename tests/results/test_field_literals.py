"""No record field path is spelled out as a string: code names it through the typed groups
(``Flops.path("train_total")``) or the recipe schema (``config_path("training.loss")``), so a renamed field fails
at import. The paths looked for are computed from the same types, so this scan cannot drift from them.

A literal counts when it is a record path (``"flops.train_total"``, ``"config.training.loss"``), a path into
one (``"slowdown.by_rad."``, ``"config.measurement.device_table."``), or the start of one that goes past the
group or ``config`` (``"config.training."``, ``"config.training.select"``). Docstrings are prose and do not count;
nor does a recipe key (``"training.epochs"`` names the recipe's key, which three record fields share).
"""
from __future__ import annotations

import ast
import pathlib
from typing import Iterator, List, Set, Tuple

from recipes import all_paths
from results import GROUPS
from results.config_paths import config_paths

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: The source rooms other than results/, and the top-level modules.
ROOMS = ("benchmarks", "launchers", "scaling", "recipes")
TOP_LEVEL = "robustperf*.py"
#: Literal record paths allowed in the rooms outside results/ (see the module docstring): none. Issue 21 item 4
#: replaced the 87 there were by their ``Group.path(...)`` / ``config_path(...)`` expressions.
LEFT_OUTSIDE_RESULTS = 0


def record_paths() -> Set[str]:
    """Every record field path: the typed groups' fields and the run config's keys."""
    return {p for group in GROUPS.values() for p in group.paths()} | set(config_paths())


def _is_record_path(text: str, paths: Set[str], recipe_keys: Set[str]) -> bool:
    if text in recipe_keys or "." not in text:
        return False
    head, _, rest = text.partition(".")
    if not rest or head not in {p.split(".", 1)[0] for p in paths}:
        return False
    return any(text == p or text.startswith(p + ".") or p.startswith(text) for p in paths)


def _docstrings(tree: ast.AST) -> Set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def source_files(rooms: Tuple[str, ...], top_level: bool) -> List[pathlib.Path]:
    files = [p for room in rooms for p in sorted((ROOT / room).rglob("*.py"))]
    return files + (sorted(ROOT.glob(TOP_LEVEL)) if top_level else [])


def path_literals(files: List[pathlib.Path]) -> Iterator[Tuple[str, int, str]]:
    """``(file, line, literal)`` of every string literal in ``files`` that spells out a record path."""
    paths, recipe_keys = record_paths(), set(all_paths())
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        found = [(node.lineno, node.value) for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                 and _is_record_path(node.value, paths, recipe_keys)]
        for line, text in sorted(found):
            yield str(path.relative_to(ROOT)), line, text


def test_the_scan_finds_what_it_should():
    paths, keys = record_paths(), set(all_paths())
    for text in ("flops.train_total", "config.training.loss", "config.training.", "config.training.select",
                 "slowdown.by_rad.", "config.measurement.device_table.", "evaluation.inference.fp32"):
        assert _is_record_path(text, paths, keys), text
    for text in ("training.loss", "training.epochs", "flops.", "config.", "flops", "survival.t0", "a.b",
                 "result.json", "flops.train_totall"):
        assert not _is_record_path(text, paths, keys), text


def test_results_names_every_path_through_the_types():
    found = list(path_literals(source_files(("results",), top_level=False)))
    assert found == [], "\n".join(f"{f}:{line}: {text!r}" for f, line, text in found)


def test_no_literal_record_paths_outside_results():
    found = list(path_literals(source_files(ROOMS, top_level=True)))
    assert found == [], f"{len(found)} literal record paths:\n" + "\n".join(
        f"{f}:{line}: {text!r}" for f, line, text in found)


def test_the_count_of_literals_left_is_current():
    """No room outside results/ spells out more record paths than LEFT_OUTSIDE_RESULTS allows."""
    assert len(list(path_literals(source_files(ROOMS, top_level=True)))) <= LEFT_OUTSIDE_RESULTS


def _constant_definitions(files: List[pathlib.Path], name: str) -> List[str]:
    out = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return out


def test_results_defines_joules_per_kwh_once():
    found = _constant_definitions(source_files(("results",), top_level=False), "J_PER_KWH")
    assert [where.split(":")[0] for where in found] == ["results/keys.py"]


def test_no_other_room_defines_joules_per_kwh():
    assert _constant_definitions(source_files(ROOMS, top_level=True), "J_PER_KWH") == []
