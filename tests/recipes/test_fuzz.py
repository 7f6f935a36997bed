"""Property: a malformed recipe always ends in RecipeError (CLI exit 2), never in another exception.

Each generated recipe starts from a valid one and receives at least one mistake that is invalid by
construction (an unknown key, a value of the wrong type, an out-of-range number, a broken structure or broken
YAML text), plus random valid noise.
"""
from __future__ import annotations

import math
import os
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustperf
from recipes import RecipeError, load_recipe
from recipes import all_paths

PATHS = all_paths()
TYPED = {p: s for p, s in PATHS.items() if s.get("kind") is None}

junk_scalar = st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                        st.booleans(), st.none())
junk = st.recursive(junk_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                    max_leaves=6)


def wrong_value(spec):
    """Values that the field's type, choices or range rule out."""
    import typing

    tp = spec["type"]
    optional = typing.get_origin(tp) is typing.Union
    base = next((a for a in typing.get_args(tp) if a is not type(None)), tp) if optional else tp
    containers = st.one_of(st.lists(junk_scalar, min_size=1, max_size=3),
                           st.dictionaries(st.text(min_size=1, max_size=5), junk_scalar, min_size=1, max_size=2))
    options = [containers]
    if base is bool:
        options.append(st.one_of(st.integers(), st.text(max_size=5).filter(lambda t: t not in ("true", "false"))))
    elif base is int:
        options.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
        options.append(st.text(min_size=1, max_size=6).filter(lambda t: not t.strip().lstrip("-+").isdigit()))
        if spec.get("min") is not None:
            options.append(st.integers(-10**6, int(spec["min"]) - 1))
    elif base is float:
        options.append(st.sampled_from([math.inf, -math.inf, math.nan, "abc", "1/0"]))
        if spec.get("min") is not None:
            options.append(st.floats(-1e6, spec["min"] - 1e-6, allow_nan=False))
    elif base is str:
        options.append(st.integers())
        if spec.get("choices"):
            options.append(st.text(max_size=8).filter(lambda t: t not in spec["choices"]))
    if not optional:
        options.append(st.none())
    return st.one_of(options)


@st.composite
def malformed(draw):
    recipe = {"name": "fuzz", "base": {"training": {"epochs": 2}}, "grid": {"training.loss": ["at", "trades"]}}
    mistake = draw(st.sampled_from(["unknown", "wrong", "structure", "text"]))
    if mistake == "unknown":
        where = draw(st.sampled_from(["top", "base", "section", "grid", "exclude", "launch"]))
        key = "zz_" + draw(st.text(alphabet="abcdefghij_", min_size=1, max_size=8))
        value = draw(junk)
        if where == "top":
            recipe[key] = value
        elif where == "base":
            recipe["base"][key] = value
        elif where == "section":
            section = draw(st.sampled_from(["data", "model", "training", "attack", "evaluation", "measurement"]))
            recipe["base"].setdefault(section, {})[key] = value
        elif where == "grid":
            recipe["grid"][f"training.{key}"] = [value]
        elif where == "exclude":
            recipe["exclude"] = [{f"model.{key}": value}]
        else:
            recipe["launch"] = {key: value}
    elif mistake == "wrong":
        path = draw(st.sampled_from(sorted(TYPED)))
        value = draw(wrong_value(TYPED[path]))
        if draw(st.booleans()) or path == "seed":
            if path == "seed":
                recipe["base"]["seed"] = value
            else:
                section, key = path.split(".")
                recipe["base"].setdefault(section, {})[key] = value
        else:
            recipe["grid"][path] = ["at", value] if path == "training.loss" else [value]
    elif mistake == "structure":
        choice = draw(st.integers(0, 6))
        if choice == 0:
            recipe["base"] = draw(st.one_of(st.lists(junk_scalar, max_size=2), st.text(max_size=4), st.integers()))
        elif choice == 1:
            recipe["grid"] = draw(st.one_of(st.lists(junk_scalar, min_size=1, max_size=2), st.text(min_size=1)))
        elif choice == 2:
            recipe["grid"]["attack.steps"] = draw(st.one_of(st.just([]), junk_scalar.filter(lambda v: v is not None)))
        elif choice == 3:
            recipe["repeats"] = draw(st.one_of(st.integers(-5, 0), st.text(max_size=3), st.floats(0.1, 0.9)))
        elif choice == 4:
            recipe["exclude"] = draw(st.one_of(st.text(min_size=1, max_size=3), st.just([{}]),
                                               st.lists(st.integers(), min_size=1, max_size=2)))
        elif choice == 5:
            recipe["base"]["model"] = draw(st.one_of(st.lists(junk_scalar, min_size=1, max_size=2), st.integers()))
        else:
            recipe["name"] = draw(st.one_of(st.just(""), st.integers(), st.lists(st.text(), max_size=2),
                                            st.just("two\nlines")))
    # valid noise that must not rescue the mistake
    attack = recipe["base"].get("attack") if isinstance(recipe["base"], dict) else None
    if isinstance(recipe["base"], dict) and (attack is None or "steps" not in attack) and draw(st.booleans()):
        recipe["base"].setdefault("attack", {})["steps"] = draw(st.integers(1, 10))   # never over a mistake
    text = yaml.safe_dump(recipe, allow_unicode=True)
    if mistake == "text":
        breaker = draw(st.sampled_from(["\n  bad: [unclosed\n", "\n\t: tab\n", "\n!!python/object:os.system x\n",
                                        "\nbase: !!python/name:os.system ''\n", "\n- list after mapping\n",
                                        "\n{{\n", "\nname: fuzz\n"]))
        text = text + breaker  # "name: fuzz" again is a duplicate top-level key
    return text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
          derandomize=True)
@given(malformed())
def test_malformed_recipes_end_in_recipe_error(text):
    fd, path = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            load_recipe(path).runs()
        except RecipeError as err:
            assert path in str(err)
        else:
            raise AssertionError(f"accepted a malformed recipe:\n{text}")
        assert robustperf.main(["expand", path, "--count"]) == 2
    finally:
        os.unlink(path)


# ---------------------------------------------------------------- hostile input: bounded time and memory
#
# Each input below is valid YAML that asks for far more work than its size: nested aliases ("billion laughs",
# in the recipe or in a --set value), self-referencing aliases, absurd nesting, grids of 10^9+ runs, huge
# repeats and --indices, many exclude entries, long chains. Every one must end in exit 2 (or, for counting, an
# answer) within seconds, and the process's peak memory must not grow by more than a bound.

from tests.recipes import _rss  # noqa: E402
import time  # noqa: E402

#: growth of the peak RSS allowed for one hostile input (the unbounded versions grew by gigabytes)
RSS_GROWTH_KB = 150 * 1024
SECONDS = 10.0


def alias_bomb(fanout, depth, scalar="x", top="base"):
    lines = [f"l0: &l0 [{', '.join([scalar] * fanout)}]"]
    for level in range(1, depth):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    return lines


@st.composite
def hostile(draw):
    """(recipe text, --set list, a fragment the error must contain)."""
    kind = draw(st.sampled_from(["bomb", "bomb-set", "bomb-grid", "cycle", "nest", "grid", "repeats",
                                 "excludes", "chain", "indices"]))
    fanout, depth = draw(st.integers(8, 12)), draw(st.integers(7, 9))  # >= 2 million nodes expanded
    if kind == "bomb":
        lines = alias_bomb(fanout, depth)
        return "\n".join(lines) + "\n", [], "ROBUSTPERF_MAX_YAML_NODES"
    if kind == "bomb-set":
        value = "{" + ", ".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "1"] * fanout) + "]"
                                for i in range(depth)) + "}"
        return "name: ok\n", [f"training.lr={value}"], "ROBUSTPERF_MAX_YAML_NODES"
    if kind == "bomb-grid":
        lines = alias_bomb(fanout, depth, scalar="1")
        return ("anchors: &anchors\n" + "\n".join("  " + l for l in lines) + "\n"), [], "ROBUSTPERF_MAX_YAML_NODES"
    if kind == "cycle":
        return draw(st.sampled_from(["base: &a {training: *a}\n", "grid: &g {training.loss: [*g]}\n",
                                     "exclude: &e [*e]\n"])), [], "itself"
    if kind == "nest":
        n = draw(st.integers(2000, 20000))
        return "base: " + "[" * n + "]" * n + "\n", [], "not valid YAML"
    if kind == "grid":
        axes = draw(st.integers(4, 8))
        values = list(range(1, draw(st.integers(60, 400))))
        keys = ["attack.steps", "training.select_pgd_steps", "training.select_subset", "training.select_batch_size",
                "model.width", "data.batch_size", "training.lr_base_batch_size", "seed"][:axes]
        return "grid:\n" + "".join(f"  {k}: {values}\n" for k in keys), [], "ROBUSTPERF_MAX_RUNS"
    if kind == "repeats":
        return f"repeats: {draw(st.integers(10**6, 10**15))}\n", [], "ROBUSTPERF_MAX_RUNS"
    if kind == "excludes":
        n = draw(st.integers(10001, 12000))
        return "exclude:\n" + "".join(f"  - {{attack.steps: {i + 1}}}\n" for i in range(n)), [], \
            "ROBUSTPERF_MAX_EXCLUDES"
    if kind == "chain":
        return "name: ok\n", [f"launch.chain={draw(st.integers(101, 10**12))}"], "ROBUSTPERF_MAX_CHAIN"
    return "grid: {attack.steps: [1, 2]}\n", ["@indices"], "outside the matrix"


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(case=hostile())
def test_hostile_inputs_end_fast_in_little_memory(case, tmp_path_factory, capsys):
    text, sets, fragment = case
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "hostile.yaml"
    path.write_text(text)
    before = _rss.reset_peak()
    start = time.monotonic()
    if sets == ["@indices"]:
        code = robustperf.main(["launch", str(path), "--dry-run", "--results", str(folder / "r"),
                                "--indices", "0-99999999999999"])
    else:
        argv = ["expand", str(path)] + [a for s in sets for a in ("--set", s)]
        code = robustperf.main(argv)
    elapsed = time.monotonic() - start
    grown = _rss.peak_kb() - before
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err  # one clear line
    assert elapsed < SECONDS, f"{elapsed:.1f} s"
    assert grown < RSS_GROWTH_KB, f"peak RSS grew by {grown} kB"


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--bins", "--bootstrap"]), value=st.integers(10**5 + 1, 10**15))
def test_huge_analysis_counts_are_refused_at_once(flag, value, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("analyze")
    table = folder / "t.csv"
    table.write_text("flops,acc\n1,2\n")
    before = _rss.reset_peak()
    start = time.monotonic()
    code = robustperf.main(["analyze", str(table), "-o", str(folder / "out"), flag, str(value), "--no-figures"])
    err = capsys.readouterr().err
    assert code == 2 and "ROBUSTPERF_MAX_" in err and flag in err, err
    assert time.monotonic() - start < SECONDS
    assert _rss.peak_kb() - before < RSS_GROWTH_KB
