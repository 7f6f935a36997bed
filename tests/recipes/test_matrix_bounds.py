"""Counting what exclude entries drop: exact, fast on the usual excludes, refused fast on hostile ones (issue 22).

Before: the count was memoised over (dimension, every entry still alive), which is 2^entries states when entries
tie axes together; a recipe of 27 two-valued axes and 26 excludes ran 140 s into a MemoryError (expand --count,
run --index). Now (recipes/excludes.py) a state holds only the entries spanning the boundary, merged when
interchangeable, and every step is charged to the ``exclude_work`` bound.
"""
from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustperf
from recipes import RecipeError, recipe_from_dict
from tests.recipes import _rss

#: 28 keys every run reads, two values each (the hostile recipes' axes)
AXES = [("data.batch_size", [16, 32]), ("data.augment", [True, False]), ("data.holdout_fraction", [0.0, 0.1]),
        ("attack.steps", [1, 2]), ("model.drop_rate", [0.0, 0.1]), ("training.epochs", [3, 4]),
        ("training.ema_decay", [None, 0.99]), ("training.lr", [0.1, 0.2]), ("training.lr_base_batch_size", [64, 128]),
        ("training.optimizer", ["sgd", "adamw"]), ("training.momentum", [0.9, 0.8]),
        ("training.weight_decay", [0.0005, 0.001]), ("training.scheduler", ["cosine", "step"]),
        ("training.warmup_epochs", [0, 1]), ("training.precision", ["fp32", "bf16"]),
        ("training.clip_grad", [None, 1.0]), ("training.select_on", ["validation", "test"]),
        ("training.select_subset", [64, 128]), ("training.select_pgd_steps", [5, 10]),
        ("training.select_pgd_step_size", [None, 0.01]), ("training.select_batch_size", [64, 128]),
        ("attack.norm", ["linf", "l2"]), ("attack.eps", [0.01, 0.02]), ("model.width", [1, 2]),
        ("model.depth", [10, 16]), ("model.activation", ["relu", "gelu"]), ("seed", [0, 100])]
BASE = {"training": {"epochs": 3, "warmup_epochs": 0}, "model": {"depth": 10, "width": 1}}


def hostile(pattern: str, n: int = 27) -> dict:
    axes = AXES[:n]
    if pattern == "star":  # entry i: axis i and the last axis
        exclude = [{axes[i][0]: axes[i][1][0], axes[-1][0]: axes[-1][1][0]} for i in range(n - 1)]
    elif pattern == "chain":  # entry i: axes i and i + 1
        exclude = [{axes[i][0]: axes[i][1][0], axes[i + 1][0]: axes[i + 1][1][0]} for i in range(n - 1)]
    else:  # "cross": both values of axis i with the same value of axis i + n/2: 2^(n/2) distinct states
        half = n // 2
        exclude = [{axes[i][0]: axes[i][1][j], axes[half + i][0]: axes[half + i][1][j]}
                   for i in range(half) for j in range(2)]
    return {"name": "hostile", "base": BASE, "grid": dict(axes), "exclude": exclude}


def fibonacci(k: int) -> int:
    a, b = 0, 1
    for _ in range(k):
        a, b = b, a + b
    return a


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pattern, expected", [("star", 2 ** 26 + 1), ("chain", fibonacci(29))])
def test_27_axes_and_26_excludes_count_and_index_in_seconds(pattern, expected, capsys, tmp_path):
    before = _rss.reset_peak()
    start = time.monotonic()
    recipe = recipe_from_dict(hostile(pattern), file="hostile.yaml")
    assert recipe.count() == expected
    last = recipe.run(expected - 1)  # what `run --index` builds
    assert recipe.run(0).index == 0 and last.index == expected - 1
    assert time.monotonic() - start < 15
    assert _rss.peak_kb() - before < 150 * 1024


@pytest.mark.timeout(60)
def test_the_hostile_recipe_through_the_command_line(tmp_path, capsys):
    import yaml

    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(hostile("star")))
    start = time.monotonic()
    assert robustperf.main(["expand", "--count", str(path)]) == 0
    assert capsys.readouterr().out.strip() == str(2 ** 26 + 1)
    assert time.monotonic() - start < 15


@pytest.mark.timeout(60)
def test_excludes_that_tie_many_axes_together_are_refused_fast_in_little_memory(tmp_path, capsys):
    import yaml

    path = tmp_path / "cross.yaml"
    path.write_text(yaml.safe_dump(hostile("cross", 26)))
    before = _rss.reset_peak()
    start = time.monotonic()
    assert robustperf.main(["expand", "--count", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ROBUSTPERF_MAX_EXCLUDE_WORK" in err and "key 'exclude'" in err and err.count("\n") == 1, err
    assert time.monotonic() - start < 20
    assert _rss.peak_kb() - before < 400 * 1024


def test_the_work_bound_can_be_raised_and_then_counts_exactly(monkeypatch):
    data = hostile("cross", 14)  # 7 pairs of axes: 2^7 states at the middle boundary
    monkeypatch.setenv("ROBUSTPERF_MAX_EXCLUDE_WORK", "300")
    with pytest.raises(RecipeError, match="ROBUSTPERF_MAX_EXCLUDE_WORK"):
        recipe_from_dict(data)
    monkeypatch.delenv("ROBUSTPERF_MAX_EXCLUDE_WORK")
    # a run is dropped when some pair (i, i + 7) takes equal values: kept = 2^7 (first half) x 1^7 (the other
    # value of each partner)
    assert recipe_from_dict(data).count() == 2 ** 7


def test_ten_thousand_excludes_on_a_long_axis_compile_without_a_pass_each():
    axis = list(range(1, 20001))
    data = {"base": BASE, "grid": {"attack.steps": axis, "training.select_pgd_steps": [1, 2]},
            "exclude": [{"attack.steps": v, "training.select_pgd_steps": 1} for v in range(1, 10001)]}
    start = time.monotonic()
    recipe = recipe_from_dict(data)
    assert recipe.count() == 20000 * 2 - 10000
    assert time.monotonic() - start < 20


# ------------------------------------------------------------------ the counter against brute force

@st.composite
def instances(draw):
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    entries = []
    for _ in range(draw(st.integers(0, 6))):
        dims = draw(st.lists(st.integers(0, len(sizes) - 1), unique=True, max_size=len(sizes)))
        entries.append({d: frozenset(draw(st.lists(st.integers(0, sizes[d] - 1), unique=True, max_size=sizes[d])))
                        for d in dims})
    return sizes, entries


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_the_counter_equals_brute_force(case):
    from recipes.excludes import ExcludeCounter  # here, so the other tests run (and fail) on the old code

    sizes, entries = case
    kept = [p for p in itertools.product(*[range(n) for n in sizes])
            if not any(all(p[d] in allowed for d, allowed in e.items()) for e in entries)]
    counter = ExcludeCounter(sizes, entries)
    assert counter.count() == len(kept)
    assert list(counter.points()) == kept
    assert [counter.choice(n) for n in range(len(kept))] == kept
    with pytest.raises(IndexError):
        counter.choice(len(kept))


def test_a_billion_repeats_cost_no_more_than_the_entries_that_name_them():
    from recipes.excludes import ExcludeCounter

    counter = ExcludeCounter([3, 10 ** 9], [{0: frozenset({1}), 1: frozenset({5, 7})}])
    assert counter.count() == 3 * 10 ** 9 - 2
    assert counter.choice(10 ** 9 + 5) == (1, 6)  # (1, 5) is dropped
    assert counter.choice(10 ** 9 + 4) == (1, 4)
