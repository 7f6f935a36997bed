"""Every user mistake in a recipe is a RecipeError naming file, key, line and value; the CLI exits 2."""
from __future__ import annotations

import subprocess
import sys

import pytest

import robustperf
from recipes import RecipeError, load_recipe


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, key, fragment", [
    ("base:\n  training:\n    los: at\n", "base.training.los", "did you mean 'training.loss'"),
    ("bse: {}\n", "bse", "did you mean 'base'"),
    ("grid:\n  training.lose: [at]\n", "grid.training.lose[0]", "did you mean 'training.loss'"),
    ("base:\n  modle: {depth: 28}\n", "base.modle", "did you mean 'model'"),
    ("base:\n  training: {loss: pgd}\n", "base.training.loss", "allowed: standard, at, trades"),
    ("base:\n  model: {depth: 27}\n", "model.depth", "6n+4"),
    ("base:\n  attack: {eps: 8}\n", "attack.eps", "8/255"),
    ("base:\n  attack: {eps: eight}\n", "base.attack.eps", "fraction such as 8/255"),
    ("base:\n  data: {batch_size: 0}\n", "base.data.batch_size", ">= 1"),
    ("base:\n  data: {batch_size: 12.5}\n", "base.data.batch_size", "integer"),
    ("base:\n  data: {synthetic_fraction: 0.7}\n", "data.synthetic_fraction", "data.synthetic"),
    ("base:\n  data: {name: cifar10}\n", "data.root", "needs data.root"),
    ("base:\n  training: {ema_decay: 1.5}\n", "base.training.ema_decay", "<= 1"),
    ("base:\n  evaluation: {autoattack: [apgd-ce, apgd-xx]}\n", "base.evaluation.autoattack", "apgd-t"),
    ("grid:\n  training.loss: []\n", "grid.training.loss", "non-empty list"),
    ("grid:\n  training.loss: at\n", "grid.training.loss", "non-empty list"),
    ("grid:\n  model: [{depth: 16}]\n  model.depth: [22]\n", "model.depth", "two grid axes"),
    ("repeats: 0\n", "repeats", ">= 1"),
    ("exclude: [{training.los: at}]\n", "exclude[0].training.los", "did you mean"),
    ("launch: {scheduler: pbs}\n", "launch.scheduler", "local, slurm, lsf"),
    ("base:\n  training: {loss: at}\n  training: {loss: trades}\n", "base.training", "duplicate key"),
])
def test_mistakes_name_file_key_and_line(tmp_path, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert fragment in str(err)
    assert str(path) in str(err)


def test_line_number_points_at_the_key(tmp_path):
    path = write(tmp_path, "name: x\nbase:\n  seed: 1\n  training:\n    epochs: 0\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.line == 5 and f"{path}:5" in str(info.value)


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo pwned > /tmp/rp-pwned']\n",
    "base: !!python/object:collections.OrderedDict {}\n",
    "name: [unclosed\n",
    "base:\n\t- tab\n",
    "- a list\n- not a mapping\n",
    "42\n",
])
def test_unsafe_or_broken_yaml_is_rejected(tmp_path, text):
    with pytest.raises(RecipeError):
        load_recipe(write(tmp_path, text))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="directory"):
        load_recipe(tmp_path)


@pytest.mark.parametrize("item, fragment", [
    ("nokey", "KEY=VALUE"),
    ("training.los=at", "did you mean"),
    ("training.epochs=many", "integer"),
    ("attack.eps=[1", "not valid YAML"),
])
def test_bad_set_overrides(tmp_path, item, fragment):
    with pytest.raises(RecipeError, match=fragment) as info:
        load_recipe(write(tmp_path, "name: x\n"), [item])
    assert info.value.file == "<--set>"


def test_cli_prints_error_without_traceback_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, "base:\n  training: {loss: pgd}\n")
    assert robustperf.main(["expand", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "training.loss" in err and str(path) in err


def test_console_script_exit_code(tmp_path, repo_root):
    path = write(tmp_path, "base: {attack: {eps: 8}}\n")
    exe = repo_root / ".venv" / "bin" / "robustperf"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "robustperf"]
    proc = subprocess.run(cmd + ["expand", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "attack.eps" in proc.stderr


# ---------------------------------------------------------------- issue 12: values, sources, empty files

def test_scientific_notation_is_a_number_in_recipes_and_set(tmp_path):
    path = write(tmp_path, "base:\n  training: {lr: 1e-3, weight_decay: 5E-4, epochs: 1e1, warmup_epochs: 0}\n")
    cfg = load_recipe(path, ["training.momentum=9e-1", "measurement.pue=+1.5e0"]).run(0).config
    assert cfg["training"]["lr"] == 0.001 and cfg["training"]["weight_decay"] == 0.0005
    assert cfg["training"]["epochs"] == 10 and isinstance(cfg["training"]["epochs"], int)
    assert cfg["training"]["momentum"] == 0.9 and cfg["measurement"]["pue"] == 1.5
    # strings that only look numeric stay strings, and the YAML 1.1 reading of other scalars is unchanged
    assert load_recipe(path, ["name=1e3x", "tracking.project=e5"]).name == "1e3x"
    import yaml

    assert yaml.safe_load("a: 1e-3")["a"] == "1e-3"  # the global SafeLoader is left alone


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n", "---\n...\n"])
def test_empty_recipe_file_is_refused(tmp_path, text, capsys):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError, match="the recipe is empty"):
        load_recipe(path)
    assert robustperf.main(["expand", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("override, key", [
    ("training.optimiser=sgd", "training.optimiser"),
    ("training.loss=pgd", "training.loss"),
    ("training.lr=fast", "training.lr"),
    ("data.name=cifar10", "data.root"),          # a cross-field rule the override breaks
    ("repeats=0", "repeats"),
    ("name=", "name"),
    ("launch.max_parallel=0", "launch.max_parallel"),
    ("launch.chain=100000", "launch.chain"),
])
def test_set_mistakes_name_the_flag_not_the_recipe(tmp_path, override, key, capsys):
    path = write(tmp_path, "base:\n  training: {epochs: 2}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path, [override])
    assert info.value.file == "<--set>" and info.value.key == key, str(info.value)
    assert robustperf.main(["expand", str(path), "--set", override]) == 2
    err = capsys.readouterr().err
    assert "<--set>" in err and str(path) not in err


def test_launch_flags_are_named_as_typed(tmp_path, capsys):
    path = write(tmp_path, "base:\n  training: {epochs: 2}\n")
    assert robustperf.main(["launch", str(path), "--dry-run", "--results", str(tmp_path), "--chain", "5000"]) == 2
    err = capsys.readouterr().err
    assert "--chain" in err and "ROBUSTPERF_MAX_CHAIN" in err and str(path) not in err


def test_set_on_one_launch_key_keeps_the_recipes_other_launch_keys(tmp_path):
    path = write(tmp_path, "launch: {scheduler: slurm, max_parallel: 3, chain: 2}\n")
    launch = load_recipe(path, ["launch.max_parallel=7"]).launch
    assert (launch.scheduler, launch.max_parallel, launch.chain) == ("slurm", 7, 2)
