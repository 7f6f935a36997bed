"""Names other rooms define (optimizers, models) are checked when a recipe loads, naming the value's source."""
from __future__ import annotations

import json
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


# ---------------------------------------------------------------- run names: each method's own part

def test_run_names_carry_each_methods_attack_part_and_never_change_the_run_id():
    """standard runs no attack (no part); fgsm_rs one FGSM step; free m replays; at/trades/mart PGD-k. The name is
    not the run's identity: a config's run_id is computed without it."""
    from recipes import load_recipe, run_id_of
    from recipes import method_name_part, run_name
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "recipes" / "methods-digits.yaml"
    runs = load_recipe(str(path)).runs()
    names = {(r.config["training"]["loss"], bool(r.config["training"]["awp_gamma"])): r.name for r in runs}
    assert names[("standard", False)] == "wrn-10-1_relu_standard_e4_syn0_s0"
    assert names[("fgsm_rs", False)] == "wrn-10-1_relu_fgsm_rs_fgsm_e4_syn0_s0"
    assert names[("free", False)] == "wrn-10-1_relu_free_free-m3_e2_syn0_s0"
    assert names[("at", False)] == "wrn-10-1_relu_at_pgd3_e4_syn0_s0"
    assert names[("trades", False)] == "wrn-10-1_relu_trades_pgd3_e4_syn0_s0"
    assert names[("mart", False)] == "wrn-10-1_relu_mart_pgd3_e4_syn0_s0"
    assert names[("at", True)] == "wrn-10-1_relu_at_pgd3_e4_awp_syn0_s0"
    for r in runs:
        assert r.run_id == run_id_of(r.config)
        assert r.name not in json.dumps(r.config)  # the name is derived, never stored in the identity
    # the template is filled from the config: a different attack.steps changes the free and PGD parts only
    cfg = runs[0].config
    for loss, part in (("standard", ""), ("free", "free-m7"), ("at", "pgd7"), ("fgsm_rs", "fgsm")):
        changed = {**cfg, "training": {**cfg["training"], "loss": loss}, "attack": {**cfg["attack"], "steps": 7}}
        assert method_name_part(loss, changed) == part
        assert ("_" + part + "_" if part else "_" + loss + "_e") in run_name(changed)


def test_a_methods_name_part_comes_from_its_catalog_entry():
    """The name part is a fact of the method's entry: registering another entry under a taken name is refused, and
    an in-process method names its runs with its own template."""
    from recipes import catalog, method_name_part

    assert method_name_part("at", {"attack": {"steps": 2}}) == "pgd2"
    with pytest.raises(ValueError, match="already registered"):
        catalog.register(catalog.MethodEntry(name="at", impl="x:y", name_part="fgsm"))
    catalog.register(catalog.MethodEntry(name="test_named", impl="x:y", name_part="mix{attack.steps}"))
    try:
        assert method_name_part("test_named", {"attack": {"steps": 4}}) == "mix4"
    finally:
        catalog.unregister("methods", "test_named")
    assert "test_named" not in catalog.names("methods")
