"""Transferability (DeepSloth section 5): attacks crafted on surrogate runs, measured on the victim run."""
from __future__ import annotations

import json

import pytest

from recipes import RecipeError, load_recipe
from tests.benchmarks._training_helpers import run_cli
from tests.conftest import ROOT

RECIPE = ROOT / "recipes" / "deepsloth-transfer-digits.yaml"


def test_the_recipe_names_its_own_surrogates_and_an_unknown_surrogate_is_one_clear_error(tmp_path):
    from benchmarks.slowdown.transfer import KEY, find_run

    runs = load_recipe(str(RECIPE)).runs()
    victim = runs[-1].config["evaluation"]["slowdown"]
    assert [r.config["evaluation"]["slowdown"] for r in runs[:-1]] == [None, None]
    assert victim["surrogates"] == [r.run_id for r in runs[:-1]]          # the ids of the surrogate runs above
    assert len({r.run_id for r in runs}) == 3
    (tmp_path / "victim").mkdir()
    with pytest.raises(RecipeError) as err:
        find_run("no-such-run", str(tmp_path / "victim"))
    assert err.value.key == KEY and "no-such-run" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_transferred_attacks_are_recorded_with_both_run_ids(tmp_path, cached_run):
    runs = load_recipe(str(RECIPE)).runs()
    for i in range(3):   # the surrogates and the victim, trained (cached); the victim evaluated here
        cached_run(["run", RECIPE, "--index", i, "--no-eval", "--no-progress", "--results", tmp_path])
    victim = runs[-1].run_id
    done = run_cli(["evaluate", tmp_path / victim, "--which", "last"], timeout=1100)
    assert done.returncode == 0, done.stderr
    group = json.loads((tmp_path / victim / "result.json").read_text())["slowdown"]
    clean = group["clean"]
    white = group["attacks"]["deepsloth_linf"]
    for surrogate in (r.run_id for r in runs[:-1]):
        moved = group["attacks"][f"deepsloth_linf@{surrogate}"]
        assert moved["transfer"]["surrogate_run_id"] == surrogate and moved["transfer"]["victim_run_id"] == victim
        assert "transferred" in moved["transfer"]["source"]
        # crafted elsewhere, measured here: slower than clean, not as slow as the white-box attack
        assert white["efficacy"] < moved["efficacy"] < clean["efficacy"]
        assert moved["crafting_flops"] > 0 and moved["victim_extra_flops"] > 0
    assert group["attacks"][f"deepsloth_linf@{runs[0].run_id}"]["transfer"]["surrogate_arch"] == "sdn_wrn"
    assert "transfer" not in white
