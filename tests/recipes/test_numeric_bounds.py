"""Property: every numeric recipe key, given any number or non-number, is accepted within its documented range or
refused in one RecipeError line (issue 22).

Before: batch sizes, epochs, widths, ``autoattack_n``, ``launch.time_min`` and ``max_parallel`` of 10^20-10^40
were accepted silently (no upper bound), and so were ``tune`` spaces of ``{int: [1, 10^30]}``.
"""
from __future__ import annotations

import math
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustperf
from recipes import RecipeError, all_paths, recipe_from_dict
from recipes.fields import field_specs
from recipes.sections import LaunchConfig
from recipes.slowdown import SlowdownConfig

BASE = {"training": {"epochs": 2, "warmup_epochs": 0}}


def _numeric(spec) -> bool:
    tp = spec["type"]
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    return args[0] in (int, float) or spec.get("kind") in ("fraction", "floats")


#: (where, key) -> spec: run keys (base sections), slowdown keys, launch keys
KEYS = {("run", p): s for p, s in all_paths().items() if _numeric(s)}
KEYS.update({("slowdown", k): s for k, s in field_specs(SlowdownConfig).items() if _numeric(s)})
KEYS.update({("launch", k): s for k, s in field_specs(LaunchConfig).items() if _numeric(s)})
#: keys bounded by a limit of recipes/limits.py instead of the schema
LIMITED = {("launch", "chain")}

HOSTILE = [10 ** 20, 10 ** 40, 2 ** 63, 1e20, 1e308, -1, -10 ** 20, -1e-9, 0, 0.5, math.nan, math.inf, -math.inf, True,
           False, "1e20", "abc", "", "8/255", "1/0", None, [1], {"a": 1}]


def recipe_with(where: str, key: str, value) -> dict:
    data = {"name": "bounds", "base": {"training": dict(BASE["training"])}}
    if where == "run":
        if key == "seed":
            data["base"]["seed"] = value
        else:
            section, name = key.split(".")
            data["base"].setdefault(section, {})[name] = value
    elif where == "slowdown":
        data["base"]["evaluation"] = {"slowdown": {key: value}}
    else:
        data["launch"] = {key: value}
    return data


def test_every_numeric_key_has_an_upper_bound():
    unbounded = [k for k, s in KEYS.items() if s.get("max") is None and k not in LIMITED]
    assert unbounded == []
    # and each bound is one of the documented ones (recipes/bounds.py, rendered into the docs)
    from recipes.bounds import BOUNDS  # here, so the other tests run (and fail) on the code before issue 22

    documented = {value for value, _, _ in BOUNDS.values()}
    undocumented = [(k, s["max"]) for k, s in KEYS.items() if s.get("max") is not None and s["max"] not in documented
                    and s["max"] not in (0.99, 0.5, 1.0, 99.99, 1000.0, 2 ** 32 - 1)]
    assert undocumented == []


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(sorted(KEYS, key=str)), value=st.one_of(
    st.sampled_from(HOSTILE), st.integers(-10 ** 30, 10 ** 30), st.floats(allow_nan=True, allow_infinity=True)))
def test_a_numeric_key_is_accepted_within_its_range_or_refused_in_one_line(case, value):
    where, key = case
    spec = KEYS[case]
    try:
        recipe = recipe_from_dict(recipe_with(where, key, value), file="bounds.yaml")
    except RecipeError as err:
        text = str(err)
        assert "\n" not in text and len(text) < 600 and text.startswith("bounds.yaml"), text
        return
    if where == "run" and key == "seed":
        got = recipe.base["seed"]
    elif where == "run":
        section, name = key.split(".")
        got = recipe.base[section][name]
    elif where == "slowdown":
        got = recipe.base["evaluation"]["slowdown"][key]
    else:
        got = getattr(recipe.launch, key)
    for number in (got if isinstance(got, (list, tuple)) else [got]):
        if number is None:
            continue
        assert not isinstance(number, bool) and math.isfinite(number), (case, value, got)
        if spec.get("min") is not None:
            assert number >= spec["min"], (case, value, got)
        assert number <= (spec["max"] if case not in LIMITED else 100), (case, value, got)


@pytest.mark.parametrize("argv, words", [
    (["expand", "{tiny}", "--set", "training.epochs=1e20"], "training.epochs"),
    (["expand", "{tiny}", "--set", "data.batch_size=100000000000000000000"], "data.batch_size"),
    (["expand", "{tiny}", "--set", "model.width=1000000000000"], "model.width"),
    (["expand", "{tiny}", "--set", "evaluation.autoattack_n=10000000000000000000000000000000000000000"],
     "evaluation.autoattack_n"),
    (["launch", "{tiny}", "--dry-run", "--time-min", "1" + "0" * 40, "--results", "{tmp}/r"], "--time-min"),
    (["launch", "{tiny}", "--dry-run", "--max-parallel", "1" + "0" * 20, "--results", "{tmp}/r"], "--max-parallel"),
    (["expand", "{tiny}", "--set", "launch.max_parallel=1e20"], "launch.max_parallel"),
])
def test_absurd_values_from_the_command_line_exit_2(argv, words, tmp_path, capsys, tiny_recipe):
    assert robustperf.main([a.format(tiny=tiny_recipe, tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


@pytest.mark.parametrize("space", [
    "{training.epochs: {int: [1, 1000000000000000000000000000000]}}",
    "{data.batch_size: {int_log_uniform: [1, 100000000000000000000]}}",
    "{evaluation.autoattack_n: {int: [1, 1000000000000]}}",
    "{training.lr: {log_uniform: [0.0001, 1e30]}}",
])
def test_tune_spaces_with_absurd_ranges_are_refused(space, tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text("base: {training: {epochs: 2, warmup_epochs: 0}}\n"
                    f"search: {{trials: 4, objectives: {{accuracy.clean: max}}, space: {space}}}\n")
    assert robustperf.main(["tune", str(path), "--results", str(tmp_path / "r"), "--status"]) == 2
    err = capsys.readouterr().err
    assert "must be <=" in err and "search.space" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("option, value", [("--trials", "100000000000000000000"), ("--max-parallel", "10000000"),
                                           ("--trials", "0")])
def test_tune_options_are_bounded(option, value, tmp_path, capsys, repo_root):
    argv = ["tune", str(repo_root / "recipes" / "tune-digits.yaml"), "--results", str(tmp_path / "r"), "--status",
            option, value]
    assert robustperf.main(argv) == 2
    assert option in capsys.readouterr().err
