"""Property: a recipe of any YAML shape (nesting deep in any position, wide mappings, aliases) ends in an answer
or in one RecipeError line, fast; never RecursionError, TypeError or a message spanning pages (issue 22).

Before: a list nested 990 levels under launch.setup, a grid axis, an exclude entry, an AutoAttack list, prices,
search objectives, ... ended in ``RecursionError`` from the error message's repr (expand and launch), a value
nested under ``name`` or ``repeats`` printed as a 7 kB line, and a mapping as a search objective's direction in
``TypeError: unhashable type``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustperf
from recipes import RecipeError, load_recipe
from recipes.limits import LIMITS
from tests.conftest import ROOT

#: where a nested value goes: a template with {X}, in flow style (so any depth fits in one line)
POSITIONS = {
    "name": "name: {X}\n",
    "base": "base: {X}\n",
    "section": "base: {{training: {X}}}\n",
    "key": "base: {{training: {{epochs: {X}}}}}\n",
    "autoattack": "base: {{evaluation: {{autoattack: {X}}}}}\n",
    "slowdown": "base: {{evaluation: {{slowdown: {X}}}}}\n",
    "slowdown.rads": "base: {{evaluation: {{slowdown: {{rads: {X}}}}}}}\n",
    "prices": "base: {{measurement: {{cloud_usd_per_gpu_hour: {{A100: {X}}}}}}}\n",
    "devices": "base: {{measurement: {{device_table: {{A100: {X}}}}}}}\n",
    "grid": "grid: {X}\n",
    "axis": "grid: {{training.epochs: {X}}}\n",
    "axis value": "grid: {{training.epochs: [{X}]}}\n",
    "section axis": "grid: {{training: [{X}]}}\n",
    "exclude": "grid: {{training.epochs: [2, 3]}}\nexclude: {X}\n",
    "exclude key": "grid: {{training.epochs: [2, 3]}}\nexclude: [{{training.epochs: {X}}}]\n",
    "exclude section": "grid: {{training.epochs: [2, 3]}}\nexclude: [{{training: {X}}}]\n",
    "launch": "launch: {X}\n",
    "launch.setup": "launch: {{setup: {X}}}\n",
    "launch.directives": "launch: {{directives: {X}}}\n",
    "repeats": "repeats: {X}\n",
    "search": "search: {X}\n",
    "search.choice": ("search: {{trials: 2, objectives: {{accuracy.clean: max}}, "
                      "space: {{training.loss: {{choice: {X}}}}}}}\n"),
    "search.objective": ("search: {{trials: 2, objectives: {{accuracy.clean: {X}}}, "
                         "space: {{training.lr: {{uniform: [0.1, 0.2]}}}}}}\n"),
    "search.objectives": "search: {{trials: 2, objectives: {X}, space: {{training.lr: {{uniform: [0.1, 0.2]}}}}}}\n",
}
BASE = "base: {training: {epochs: 2, warmup_epochs: 0}}\n"


def nested(depth: int, kinds: str, leaf: str = "1") -> str:
    """A flow value nested ``depth`` levels: kinds cycles through l (list) and m (mapping)."""
    opening, closing = [], []
    for i in range(depth):
        if kinds[i % len(kinds)] == "l":
            opening.append("[")
            closing.append("]")
        else:
            opening.append("{k: ")
            closing.append("}")
    return "".join(opening) + leaf + "".join(reversed(closing))


def wide(width: int, leaf: str = "1") -> str:
    return "{" + ", ".join(f"k{i}: {leaf}" for i in range(width)) + "}"


def aliased(depth: int) -> str:
    """A value whose aliases repeat one anchored list (expanded: 2^depth leaves)."""
    return "[&a0 [1, 2]" + "".join(f", &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, depth)) + "]"


@st.composite
def shapes(draw):
    position = draw(st.sampled_from(sorted(POSITIONS)))
    kind = draw(st.sampled_from(["deep", "deep", "wide", "alias"]))
    if kind == "deep":
        value = nested(draw(st.sampled_from([2, 5, 31, 32, 33, 100, 499, 990])), draw(st.sampled_from(["l", "m", "lm",
                                                                                                      "mml"])),
                       leaf=draw(st.sampled_from(["1", "x", "null", "[]", "{}", "1.5"])))
    elif kind == "wide":
        value = wide(draw(st.sampled_from([1, 50, 3000])), leaf=draw(st.sampled_from(["1", "[1]", "{a: 1}"])))
    else:
        value = aliased(draw(st.integers(2, 22)))
    text = POSITIONS[position].format(X=value)
    return (text if position in ("name", "base", "section", "key") else BASE + text), position, kind


def _one_line(message: str) -> None:
    assert "\n" not in message, message[:300]
    assert len(message) < 1200, f"{len(message)} characters: {message[:300]}"


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(case=shapes())
def test_any_yaml_shape_loads_or_ends_in_one_recipe_error_line(case, tmp_path_factory):
    text, position, kind = case
    path = tmp_path_factory.mktemp("shape") / "r.yaml"
    path.write_text(text)
    start = time.monotonic()
    try:
        recipe = load_recipe(path)
        recipe.count()
    except RecipeError as err:
        _one_line(str(err))
    assert time.monotonic() - start < 10


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.sampled_from([33, 100, 990]), kinds=st.sampled_from(["l", "m", "lm"]),
       key=st.sampled_from(["training.epochs", "evaluation.autoattack", "launch.setup", "search", "repeats",
                            "evaluation.slowdown"]))
def test_a_deep_set_value_ends_in_one_recipe_error_line(depth, kinds, key, tmp_path_factory):
    path = tmp_path_factory.mktemp("set") / "r.yaml"
    path.write_text(BASE)
    with pytest.raises(RecipeError) as err:
        load_recipe(path, [f"{key}={nested(depth, kinds)}"])
    _one_line(str(err.value))
    assert "<--set>" in str(err.value)


@pytest.mark.parametrize("command", [["expand"], ["expand", "--count"], ["launch", "--dry-run"]])
@pytest.mark.parametrize("position", ["launch.setup", "axis value", "exclude key", "autoattack", "search.objective",
                                      "repeats"])
def test_deeply_nested_recipes_exit_2_in_one_line(command, position, tmp_path, capsys):
    """990 levels (libyaml accepts up to 1000) in the positions that raised RecursionError or printed pages."""
    path = tmp_path / "deep.yaml"
    path.write_text(BASE + POSITIONS[position].format(X=nested(990, "lm")))
    argv = [command[0], str(path), *command[1:]] + (["--results", str(tmp_path / "r")] if command[0] == "launch"
                                                    else [])
    assert robustperf.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 600, err[:400]
    assert "ROBUSTPERF_MAX_YAML_DEPTH" in err


def test_the_depth_bound_is_the_limit_and_its_variable_can_raise_it(tmp_path, monkeypatch):
    path = tmp_path / "r.yaml"
    # 32 levels: the top mapping, base, training, then a value nested 29 lists deep
    path.write_text("base: {training: {epochs: " + nested(29, "l") + "}}\n")
    with pytest.raises(RecipeError, match="expected an integer"):
        load_recipe(path)
    path.write_text("base: {training: {epochs: " + nested(30, "l") + "}}\n")
    with pytest.raises(RecipeError, match="above the limit of 32"):
        load_recipe(path)
    monkeypatch.setenv("ROBUSTPERF_MAX_YAML_DEPTH", "64")
    with pytest.raises(RecipeError, match="expected an integer"):
        load_recipe(path)


TINY = str(ROOT / "recipes" / "tiny-digits.yaml")


@pytest.mark.parametrize("value", ["-1", "0", "1e6", "unlimited", "99999999999999999999", " -5 ", "１０"])
@pytest.mark.parametrize("var", [var for var, _ in LIMITS.values()])
def test_a_bad_limit_variable_is_refused_before_any_work(var, value, monkeypatch, capsys):
    """ROBUSTPERF_MAX_YAML_NODES=-1 used to be ignored by every recipe without an alias (the bound was only read
    when the text held '&'): a limit variable that is set is checked when robustperf starts, whatever the input."""
    monkeypatch.setenv(var, value)
    assert robustperf.main(["expand", "--count", TINY]) == 2
    err = capsys.readouterr().err
    assert var in err and err.count("\n") == 1, err


def test_a_misspelt_limit_variable_is_named_with_the_nearest_bound(monkeypatch, capsys):
    monkeypatch.setenv("ROBUSTPERF_MAX_RUN", "5")
    assert robustperf.main(["expand", "--count", TINY]) == 2
    assert "ROBUSTPERF_MAX_RUNS" in capsys.readouterr().err


def test_the_depth_bound_has_a_ceiling(monkeypatch, capsys):
    monkeypatch.setenv("ROBUSTPERF_MAX_YAML_DEPTH", "100000")
    assert robustperf.main(["expand", "--count", TINY]) == 2
    assert "1 to 500" in capsys.readouterr().err
    monkeypatch.setenv("ROBUSTPERF_MAX_YAML_DEPTH", "500")
    assert robustperf.main(["expand", "--count", TINY]) == 0


def test_a_bad_limit_variable_is_refused_by_the_installed_command_too():
    done = subprocess.run([sys.executable, "-m", "robustperf", "expand", "--count", TINY], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "ROBUSTPERF_MAX_YAML_NODES": "-1"},
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "ROBUSTPERF_MAX_YAML_NODES" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_shipped_recipes_are_far_inside_the_depth_bound():
    def depth(value):
        if isinstance(value, dict):
            return 1 + max((depth(v) for v in value.values()), default=0)
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        return 0

    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        assert depth(yaml.safe_load(path.read_text())) <= 8, path
