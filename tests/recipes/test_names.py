"""Names other rooms define (optimizers, models) are checked when a recipe loads, naming the value's source."""
from __future__ import annotations

import os

import pytest

import robustperf
from recipes import RecipeError, load_recipe


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(autouse=True, scope="module")
def name_checks():
    import benchmarks.names  # noqa: F401 - registers the checks, as the CLI does


@pytest.mark.parametrize("text, sets, source, key, hint", [
    ("base:\n  training: {optimizer: sgdd}\n", [], "file:2", "base.training.optimizer", "'sgd'"),
    ("grid:\n  training.optimizer: [sgd, adamw, adamx]\n", [], "file:2", "grid.training.optimizer[2]", "'adamax'"),
    ("name: ok\n", ["training.optimizer=lookahead_adamq"], "<--set>", "training.optimizer", "'adam"),
    ("grid:\n  model.arch: [wrn, resnett18]\n", [], "file:2", "grid.model.arch[1]", "'resnet18'"),
    ("name: ok\n", ["model.arch=not_a_model"], "<--set>", "model.arch", None),
])
def test_unknown_names_are_refused_at_load_time(tmp_path, text, sets, source, key, hint, capsys):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, sets)
    err = info.value
    where = f"{err.file}:{err.line}" if err.line else err.file
    assert where == (source.replace("file", str(path))), str(err)
    assert err.key == key
    if hint:
        assert hint in str(err)
    assert robustperf.main(["expand", str(path), "--count", *[a for s in sets for a in ("--set", s)]]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_valid_names_pass_and_a_set_value_replaces_the_recipes(tmp_path):
    path = write(tmp_path, "base:\n  training: {optimizer: sgdd}\ngrid:\n  training.optimizer: [sgd, AdamW]\n")
    with pytest.raises(RecipeError):
        load_recipe(path)
    # --set fixes the key for every run: the recipe's misspelt values are never used, so they do not block
    assert load_recipe(path, ["training.optimizer=lookahead_adamw"]).count() == 1
    ok = write(tmp_path, "grid:\n  model.arch: [wrn, resnet18, cifar_resnet18]\n  training.optimizer: [sgd, nadamw]\n",
               "ok.yaml")
    assert load_recipe(ok).count() == 6  # a suite family, a timm model, a registered optimizer


def test_cuda_on_a_node_without_one_is_a_flag_error(tmp_path, tiny_recipe, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this node has a CUDA device")
    results = tmp_path / "res"
    code = robustperf.main(["run", str(tiny_recipe), "--index", "0", "--device", "cuda", "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and "--device" in err and "no CUDA device" in err and str(tiny_recipe) not in err
    assert not os.path.exists(results)  # nothing written
