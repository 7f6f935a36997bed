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
from recipes.schema import all_paths

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
