"""The lazy run matrix: same runs as building the product, counted and indexed without building it."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustperf
from recipes import RecipeError, load_recipe, recipe_from_dict, run_id_of
from recipes import applies, apply_patch, copy_config
from tests.conftest import ROOT


def product_reference(recipe):
    """The matrix by brute force: product x repeats, overrides, excludes, then duplicates (by run id) dropped."""
    out, seen = [], set()
    for combo in itertools.product(*[patches for _, patches in recipe.axes]):
        cfg = copy_config(recipe.base)
        for patch in combo:
            apply_patch(cfg, patch)
        apply_patch(cfg, recipe.post)
        seed0 = cfg["seed"]
        for repeat in range(recipe.repeats):
            run = copy_config(cfg)
            run["seed"] = seed0 + repeat
            if any(all(_excludes(run, s, k, v) for s, k, v in ex) for ex in recipe.exclude):
                continue
            rid = run_id_of(run)
            if rid not in seen:
                seen.add(rid)
                out.append((rid, run))
    return out


def _excludes(run, section, key, want):
    """An exclude entry's key matches a run that reads it (see schema.applies) and holds that value."""
    if (run[section] if key is None else run[section][key]) != want:
        return False
    return key is None or section == "seed" or applies(section, key, lambda s, k: run[s][k])


AXES = {
    "training.loss": st.lists(st.sampled_from(["at", "trades", "standard", "fgsm_rs"]), min_size=1, max_size=3),
    # keys read by some methods only: coupled with a training.loss axis (one merged axis), refused without one
    "training.trades_beta": st.lists(st.sampled_from([1.0, 3.0, 6.0]), min_size=1, max_size=3),
    "attack.random_start": st.lists(st.booleans(), min_size=1, max_size=2),
    "attack.steps": st.lists(st.integers(1, 4), min_size=1, max_size=4),
    "training.epochs": st.lists(st.integers(2, 4), min_size=1, max_size=3),
    "seed": st.lists(st.sampled_from([0, 5, 10, 20]), min_size=1, max_size=3),
    "model": st.lists(st.fixed_dictionaries({"depth": st.sampled_from([10, 16])},
                                            optional={"width": st.integers(1, 2),
                                                      "data.batch_size": st.sampled_from([32, 64])}),
                      min_size=1, max_size=3),
    # a key outside the run identity may be set by an axis, but two of its values would be one run (refused;
    # test_expand.test_runs_differing_only_in_evaluation_are_one_run)
    "tracking.project": st.lists(st.sampled_from(["p", "q"]), min_size=1, max_size=1),
}
EXCLUDE_KEYS = {"training.loss": st.sampled_from(["at", "trades", "standard"]),
                "training.trades_beta": st.sampled_from([1.0, 3.0]), "attack.steps": st.integers(1, 4),
                "training.epochs": st.integers(2, 4), "seed": st.integers(0, 22), "model.depth": st.sampled_from([10, 16]),
                "model.width": st.integers(1, 2), "data.batch_size": st.sampled_from([32, 64, 128])}
SETS = {"attack.steps": st.integers(1, 4), "seed": st.integers(0, 3), "training.epochs": st.integers(2, 4),
        "training.loss": st.sampled_from(["at", "trades"])}


@st.composite
def recipes(draw):
    names = draw(st.lists(st.sampled_from(sorted(AXES)), unique=True, max_size=4))
    grid = {name: draw(AXES[name]) for name in names}
    exclude = draw(st.lists(st.dictionaries(st.sampled_from(sorted(EXCLUDE_KEYS)), st.integers(0, 0), min_size=1,
                                            max_size=3).flatmap(
        lambda d: st.fixed_dictionaries({k: EXCLUDE_KEYS[k] for k in d})), max_size=4))
    sets = draw(st.dictionaries(st.sampled_from(sorted(SETS)), st.integers(0, 0), max_size=2).flatmap(
        lambda d: st.fixed_dictionaries({k: SETS[k] for k in d})))
    data = {"base": {"training": {"epochs": 3, "warmup_epochs": 0}, "model": {"depth": 10, "width": 1}},
            "grid": grid, "repeats": draw(st.integers(1, 4))}
    if exclude:
        data["exclude"] = exclude
    return data, [f"{k}={v}" for k, v in sets.items()]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(recipes())
def test_lazy_matrix_equals_the_built_product(case):
    data, sets = case
    try:
        recipe = recipe_from_dict(data, overrides=sets)
        count = recipe.count()  # noqa: F841 - the refusal may come from either
    except RecipeError as err:
        # The refusals: a seed axis whose repeats would overlap (the product silently merged them), and an axis
        # of a key that no method of the recipe reads (no training.loss axis to couple it with).
        conditional = {"training.trades_beta", "attack.random_start", "attack.steps"}
        assert ("apart" in str(err) and "seed" in data["grid"] and data["repeats"] > 1) or \
            ("do not read" in str(err) and err.key[len("grid."):] in conditional
             and ("training.loss" not in data["grid"] or any(x.startswith("training.loss=") for x in sets))), str(err)
        return
    expected = product_reference(recipe)
    runs = recipe.runs()
    assert count == len(expected)
    assert [r.run_id for r in runs] == [rid for rid, _ in expected]
    assert [r.config for r in runs] == [cfg for _, cfg in expected]
    assert [r.index for r in runs] == list(range(count))
    fresh = recipe_from_dict(data, overrides=sets)  # nothing built yet: each index computed on its own
    for n in range(count):
        assert fresh.run(n).run_id == runs[n].run_id


def test_billion_run_grid_counts_and_indexes_without_building(tmp_path):
    axis = list(range(1, 1001))
    text = ("base: {training: {epochs: 2, warmup_epochs: 0}}\n"
            f"grid:\n  attack.steps: {axis}\n  training.select_pgd_steps: {axis}\n  training.select_subset: {axis}\n"
            "exclude:\n  - {attack.steps: 1}\n  - {training.select_pgd_steps: 7, training.select_subset: 9}\n")
    path = tmp_path / "big.yaml"
    path.write_text(text)
    start = time.monotonic()
    recipe = load_recipe(path)
    # 1000^3 minus the 1000^2 of steps 1, minus 999 (steps != 1) with pgd 7 / subset 9
    assert recipe.count() == 1000 ** 3 - 1000 ** 2 - 999
    first, last = recipe.run(0), recipe.run(recipe.count() - 1)
    assert first.config["attack"]["steps"] == 2 and first.config["training"]["select_subset"] == 1
    assert (last.config["attack"]["steps"], last.config["training"]["select_pgd_steps"]) == (1000, 1000)
    # the run after (2, 7, 8) skips the excluded (2, 7, 9)
    n = 6 * 1000 + 7  # steps 2 is the first block; pgd 7 is its 7th row, subset 8 the 8th column
    assert recipe.run(n).config["training"]["select_subset"] == 8
    assert recipe.run(n + 1).config["training"]["select_subset"] == 10
    with pytest.raises(RecipeError, match="ROBUSTPERF_MAX_RUNS"):
        recipe.runs()
    assert time.monotonic() - start < 10


def test_every_command_on_a_huge_matrix_ends_fast_in_little_memory(tmp_path):
    """A 10^12-run grid: count answers, listing and launching refuse (exit 2), run --index builds one run."""
    axis = list(range(1, 1001))
    path = tmp_path / "huge.yaml"
    path.write_text(f"grid:\n  attack.steps: {axis}\n  training.select_pgd_steps: {axis}\n"
                    f"  training.select_subset: {axis}\n  training.select_batch_size: {axis}\n")
    script = (
        "import contextlib, io, json, sys, robustperf\n"
        "from tests.recipes import _rss\n"
        "_rss.reset_peak()  # a child of a large pytest process starts with the parent's high-water mark\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    codes = [robustperf.main(['expand', sys.argv[1], '--count']),\n"
        "             robustperf.main(['expand', sys.argv[1]]),\n"
        "             robustperf.main(['launch', sys.argv[1], '--dry-run', '--results', sys.argv[2]]),\n"
        "             robustperf.main(['launch', sys.argv[1], '--dry-run', '--results', sys.argv[2],\n"
        "                              '--indices', '0-99999999999'])]\n"
        "print(json.dumps({'codes': codes, 'count': out.getvalue().split()[0],\n"
        "                  'rss_kb': _rss.peak_kb()}))\n")
    env = dict(os.environ, ROBUSTPERF_MAX_RUNS="1000",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "res")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["codes"] == [0, 2, 2, 2], proc.stderr
    assert int(got["count"]) == 1000 ** 4
    assert proc.stderr.count("ROBUSTPERF_MAX_RUNS") == 3
    assert got["rss_kb"] < 400 * 1024, f"peak RSS {got['rss_kb']} kB"
    assert time.monotonic() - start < 60


def test_seed_axis_with_overlapping_repeats_is_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("grid: {seed: [0, 1]}\nrepeats: 3\n")
    with pytest.raises(RecipeError, match="grid.seed.*less than repeats=3 apart"):
        load_recipe(path)
    path.write_text("grid: {seed: [0, 10]}\nrepeats: 3\n")
    assert load_recipe(path).count() == 6
    assert robustperf.main(["expand", str(path), "--count"]) == 0
