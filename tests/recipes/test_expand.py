"""Grid product, bundles, exclude, repeats, --set and run identity."""
from __future__ import annotations

import json

import pytest

from recipes import RecipeError, RunConfig, identity_json, load_recipe, recipe_from_dict, run_id_of
from recipes import all_paths


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASIC = """
name: basic
base:
  attack: {eps: 8/255}
grid:
  model: [{depth: 28, width: 10}, {depth: 70, width: 16, data.batch_size: 64}]
  training.loss: [at, trades]
  attack.steps: [1, 2, 5]
"""


def test_grid_is_cartesian_product_in_written_order(tmp_path):
    runs = load_recipe(write(tmp_path, BASIC)).runs()
    assert len(runs) == 2 * 2 * 3
    assert [r.index for r in runs] == list(range(12))
    combos = [(r.config["model"]["depth"], r.config["training"]["loss"], r.config["attack"]["steps"]) for r in runs]
    assert combos[:4] == [(28, "at", 1), (28, "at", 2), (28, "at", 5), (28, "trades", 1)]
    assert len(set(combos)) == 12


def test_bundle_sets_keys_together_including_absolute_paths(tmp_path):
    runs = load_recipe(write(tmp_path, BASIC)).runs()
    for r in runs:
        expected = 64 if r.config["model"]["depth"] == 70 else 128
        assert r.config["data"]["batch_size"] == expected
        assert (r.config["model"]["depth"], r.config["model"]["width"]) in {(28, 10), (70, 16)}


def test_eps_fraction_and_float_agree(tmp_path):
    a = load_recipe(write(tmp_path, "base: {attack: {eps: 8/255}}", "a.yaml")).runs()[0]
    b = load_recipe(write(tmp_path, f"base: {{attack: {{eps: {8 / 255!r}}}}}", "b.yaml")).runs()[0]
    assert a.config["attack"]["eps"] == pytest.approx(8 / 255)
    assert a.run_id == b.run_id


def test_run_id_independent_of_yaml_key_order(tmp_path):
    one = write(tmp_path, "base:\n  training: {loss: trades, epochs: 3}\n  model: {depth: 16, width: 2}\n", "1.yaml")
    two = write(tmp_path, "base:\n  model: {width: 2, depth: 16}\n  training: {epochs: 3, loss: trades}\n", "2.yaml")
    assert load_recipe(one).runs()[0].run_id == load_recipe(two).runs()[0].run_id


def test_changing_one_runs_value_changes_only_that_id(tmp_path):
    before = load_recipe(write(tmp_path, BASIC)).runs()
    changed = load_recipe(write(tmp_path, BASIC.replace("[1, 2, 5]", "[1, 2, 7]"), "c.yaml")).runs()
    assert len(before) == len(changed)
    for a, b in zip(before, changed):
        assert (a.run_id == b.run_id) == (a.config["attack"]["steps"] != 5)


def test_run_id_is_hash_of_what_changes_the_weights(tmp_path):
    run = load_recipe(write(tmp_path, BASIC)).runs()[3]
    assert run.run_id == run_id_of(run.config)
    assert len(run.run_id) == 12 and int(run.run_id, 16) >= 0
    identity = json.loads(identity_json(run.config))
    assert identity.keys() == {"seed", "data", "model", "training", "attack"}
    assert "num_workers" not in identity["data"] and "select_subset" in identity["training"]
    tracked = load_recipe(write(tmp_path, BASIC), ["tracking.wandb=offline"]).runs()[3]
    assert tracked.run_id == run.run_id and tracked.config["tracking"]["wandb"] == "offline"


def test_ids_stable_across_processes(tmp_path, repo_root):
    import subprocess
    import sys

    code = ("import recipes,sys; print(','.join(r.run_id for r in recipes.load_recipe(sys.argv[1]).runs()))")
    path = str(repo_root / "recipes" / "scaling-cifar10.yaml")
    outs = {subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert outs.pop().strip().split(",")[:2] == [r.run_id for r in load_recipe(path).runs()[:2]]


def test_repeats_make_seeds(tmp_path):
    runs = load_recipe(write(tmp_path, "base: {seed: 5}\ngrid: {training.loss: [at, trades]}\nrepeats: 3")).runs()
    assert [(r.config["training"]["loss"], r.config["seed"]) for r in runs] == [
        ("at", 5), ("at", 6), ("at", 7), ("trades", 5), ("trades", 6), ("trades", 7)]
    assert len({r.run_id for r in runs}) == 6
    assert runs[0].name.endswith("_s5") and runs[2].name.endswith("_s7")


def test_exclude_drops_matching_runs_only(tmp_path):
    text = BASIC + "exclude:\n  - {training.loss: trades, model: {depth: 70}}\n  - {attack: {steps: 5}, model.depth: 28}\n"
    runs = load_recipe(write(tmp_path, text)).runs()
    keys = {(r.config["model"]["depth"], r.config["training"]["loss"], r.config["attack"]["steps"]) for r in runs}
    assert not any(d == 70 and loss == "trades" for d, loss, _ in keys)
    assert not any(d == 28 and s == 5 for d, _, s in keys)
    assert len(runs) == 12 - 3 - 2
    assert [r.index for r in runs] == list(range(len(runs)))


def test_set_overrides_base_grid_and_top_level(tmp_path):
    path = write(tmp_path, BASIC)
    runs = load_recipe(path, ["training.epochs=3", "attack.eps=4/255", "repeats=2", "name=renamed"]).runs()
    assert len(runs) == 24
    assert {r.config["training"]["epochs"] for r in runs} == {3}
    assert {r.config["attack"]["eps"] for r in runs} == {4 / 255}
    # A --set on a key a grid axis varies fixes it for every run; duplicates collapse.
    fixed = load_recipe(path, ["attack.steps=2"]).runs()
    assert len(fixed) == 4 and {r.config["attack"]["steps"] for r in fixed} == {2}
    recipe = load_recipe(path, ["launch.max_parallel=7", "launch.scheduler=slurm"])
    assert recipe.launch.max_parallel == 7 and recipe.launch.scheduler == "slurm"
    assert load_recipe(path, ["name=renamed"]).name == "renamed"


def test_launch_section_does_not_change_ids(tmp_path):
    a = load_recipe(write(tmp_path, BASIC)).runs()
    b = load_recipe(write(tmp_path, BASIC + "launch: {scheduler: slurm, max_parallel: 3}\n", "l.yaml")).runs()
    assert [r.run_id for r in a] == [r.run_id for r in b]


def test_run_config_roundtrip_and_step_sizes(tmp_path):
    spec = load_recipe(write(tmp_path, BASIC)).runs()[0]
    cfg = spec.run_config()
    assert isinstance(cfg, RunConfig) and cfg.to_dict() == spec.config
    assert cfg.train_step_size == pytest.approx(1.5 * (8 / 255) / 1)
    assert cfg.eval_step_size == pytest.approx(2.5 * (8 / 255) / 40)


def test_index_out_of_range_is_a_recipe_error(tmp_path):
    recipe = load_recipe(write(tmp_path, BASIC))
    with pytest.raises(RecipeError, match="12 runs"):
        recipe.run(12)


@pytest.mark.parametrize("path", sorted(all_paths()))
def test_every_documented_path_can_be_set(path, tmp_path):
    """Each fixed key path is addressable with --set (values are its default, so the run stays valid)."""
    spec = all_paths()[path]
    default = spec["default"]
    import yaml

    value = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
    # a division is entered with its benchmark (a division alone is refused)
    sets = ["benchmark.id=digits-linf-0.2", "training.epochs=5"] if path == "benchmark.division" else []
    recipe = recipe_from_dict({}, overrides=[f"{path}={value}", *sets])
    section, _, key = path.partition(".")
    got = recipe.runs()[0].config[section][key] if key else recipe.runs()[0].config[section]
    assert got == (list(default) if isinstance(default, tuple) else default)


FIXED_PATHS = """seed data.name data.root data.synthetic data.synthetic_fraction data.batch_size model.arch
model.depth model.width model.activation training.loss training.trades_beta training.epochs training.ema_decay
attack.eps attack.steps attack.step_size training.select_subset evaluation.pgd_steps evaluation.autoattack
evaluation.autoattack_n measurement.pue measurement.usd_per_kwh measurement.kg_co2_per_kwh tracking.wandb""".split()


def test_fixed_key_paths_exist():
    assert set(FIXED_PATHS) <= set(all_paths())


def test_shipped_reference_recipe_has_320_unique_runs(repo_root):
    runs = load_recipe(repo_root / "recipes" / "scaling-cifar10.yaml").runs()
    assert len(runs) == 320 and len({r.run_id for r in runs}) == 320
    depths = {(r.config["model"]["depth"], r.config["model"]["width"]) for r in runs}
    assert depths == {(28, 10), (34, 10), (34, 20), (70, 16)}
    assert {r.config["attack"]["steps"] for r in runs} == {1, 2, 5, 7, 10}
    assert {(r.config["training"]["epochs"], r.config["training"]["ema_decay"]) for r in runs} == {
        (100, None), (400, 0.995)}
    assert {r.config["data"]["synthetic_fraction"] for r in runs} == {0.0, 0.7}
    big = [r for r in runs if r.config["model"]["width"] >= 16]
    assert big and all(r.config["data"]["batch_size"] < 128 for r in big)
    assert all(r.config["attack"]["eps"] == pytest.approx(8 / 255) for r in runs)


@pytest.mark.parametrize("name", ["tiny-digits.yaml", "scaling-cifar10.yaml", "demo.yaml"])
def test_shipped_recipes_load(name, repo_root):
    path = repo_root / "recipes" / name
    if not path.exists():
        pytest.fail(f"recipes/{name} is missing")
    assert load_recipe(path).runs()


REFERENCE = "recipes/scaling-cifar10.yaml"


@pytest.mark.parametrize("overrides", [
    ["measurement.usd_per_kwh=0.2"], ["measurement.pue=1.1", "measurement.kg_co2_per_kwh=0.3"],
    ["measurement.cloud_usd_per_gpu_hour={H100: [1, 2]}"], ["measurement.energy_source=none"],
    ["evaluation.autoattack_n=1000"], ["evaluation.autoattack=plus", "evaluation.pgd_steps=100"],
    ["evaluation.batch_size=64", "evaluation.which=last"], ["tracking.wandb=disabled", "tracking.project=x"],
    ["launch.scheduler=lsf", "launch.results=elsewhere", "launch.max_parallel=1"], ["data.num_workers=8"],
    ["data.root=/scratch/cifar-10-batches-py"],  # CIFAR-10 is CIFAR-10 wherever it lies
], ids=lambda o: "+".join(o))
def test_evaluation_pricing_tracking_and_launch_change_no_id(repo_root, overrides):
    before = [r.run_id for r in load_recipe(str(repo_root / REFERENCE)).runs()]
    after = [r.run_id for r in load_recipe(str(repo_root / REFERENCE), overrides).runs()]
    assert len(before) == 320 and after == before


@pytest.mark.parametrize("key, value, affected", [
    ("training.select_subset", 512, lambda c: True),
    ("training.select_pgd_steps", 20, lambda c: True),
    ("training.warmup_epochs", 5, lambda c: True),
    ("training.ema_decay", 0.999, lambda c: c["training"]["ema_decay"] is not None),
    # keys only some methods read change only those methods' runs (none of this recipe's, for mart_beta)
    ("training.trades_beta", 3.0, lambda c: c["training"]["loss"] == "trades"),
    ("attack.random_start", False, lambda c: c["training"]["loss"] == "at"),
    ("training.mart_beta", 3.0, lambda c: False),
    ("training.fgsm_alpha", 1.0, lambda c: False),
    # a setting its switch leaves off: val_size without select_on: validation, awp_warmup without awp_gamma
    ("training.val_size", 512, lambda c: False),
    ("training.awp_warmup", 5, lambda c: False),
])
def test_changing_one_training_key_changes_exactly_the_affected_ids(tmp_path, repo_root, key, value, affected):
    """Changing a key in the base changes the runs that take it from the base, and only those."""
    import yaml

    data = yaml.safe_load((repo_root / REFERENCE).read_text())
    section, sub = key.split(".")
    if key == "training.ema_decay":  # set where the grid sets it: the EMA runs of the epochs axis
        data["grid"]["training"][1]["ema_decay"] = value
    else:
        data["base"][section][sub] = value
    changed_path = tmp_path / "changed.yaml"
    changed_path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = load_recipe(str(repo_root / REFERENCE)).runs()
    after = load_recipe(str(changed_path)).runs()
    assert len(before) == len(after) == 320
    moved = 0
    for a, b in zip(before, after):
        assert (a.run_id != b.run_id) == affected(a.config), (a.name, key)
        moved += a.run_id != b.run_id
    assert moved == sum(affected(r.config) for r in before) <= 320


@pytest.mark.parametrize("key, value, affected", [
    ("training.trades_beta", 3, lambda c: c["training"]["loss"] == "trades"),
    ("attack.random_start", "false", lambda c: c["training"]["loss"] == "at"),
    # the generated data's file is read by the runs that mix it in only
    ("data.synthetic", "/scratch/other.npz", lambda c: c["data"]["synthetic_fraction"] > 0),
])
def test_set_of_a_key_some_runs_read_changes_exactly_their_ids(repo_root, key, value, affected):
    """`--set training.trades_beta=3` on the reference study moves its 160 TRADES runs and none of its AT runs."""
    before = load_recipe(str(repo_root / REFERENCE)).runs()
    after = load_recipe(str(repo_root / REFERENCE), [f"{key}={value}"]).runs()
    assert len(before) == len(after) == 320
    moved = [a.run_id != b.run_id for a, b in zip(before, after)]
    assert moved == [affected(a.config) for a in before] and sum(moved) == 160


def test_another_familys_or_methods_keys_stay_out_of_the_id(tmp_path):
    runs = {}
    for sets in (["training.loss=standard"], ["training.loss=standard", "attack.steps=3", "training.trades_beta=1",
                                              "attack.random_start=false", "attack.step_size=0.01"],
                 ["model.arch=cifar_resnet18"], ["model.arch=cifar_resnet18", "model.depth=16", "model.width=4"],
                 ["model.arch=resnet18"], ["model.arch=resnet18", "model.activation=gelu"]):
        runs[tuple(sets)] = load_recipe(write(tmp_path, "name: one\n"), sets).run(0)
    ids = [r.run_id for r in runs.values()]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[4] == ids[5] and len(set(ids)) == 3
    identity = json.loads(identity_json(runs[("training.loss=standard",)].config))
    assert set(identity["attack"]) == {"eps", "norm"} and "trades_beta" not in identity["training"]
    # a family that reads a key keeps it: the WRN's depth, a timm model's input_size
    wrn = [load_recipe(write(tmp_path, "name: one\n"), [f"model.depth={d}"]).run(0).run_id for d in (10, 16)]
    timm = [load_recipe(write(tmp_path, "name: one\n"), ["model.arch=resnet18", f"model.input_size={n}"]).run(0)
            .run_id for n in (64, 224)]
    assert wrn[0] != wrn[1] and timm[0] != timm[1]


COUPLED = """
name: coupled
base: {training: {epochs: 2}}
grid:
  training.loss: [at, trades]
  model.width: [1, 2]
  training.trades_beta: [1.0, 3.0, 6.0]
"""


def test_a_method_parameter_on_its_own_axis_is_merged_with_the_method_axis(tmp_path):
    """AT reads no trades_beta: the three betas are one AT run per width, and three TRADES runs per width."""
    recipe = load_recipe(write(tmp_path, COUPLED))
    runs = recipe.runs()
    got = [(r.config["training"]["loss"], r.config["model"]["width"], r.config["training"]["trades_beta"])
           for r in runs]
    assert got == [("at", 1, 1.0), ("at", 2, 1.0)] + [("trades", w, b) for w in (1, 2) for b in (1.0, 3.0, 6.0)]
    assert recipe.count() == 8 and len({r.run_id for r in runs}) == 8
    assert [recipe_from_dict(_yaml(COUPLED)).run(n).run_id for n in range(8)] == [r.run_id for r in runs]
    # an exclude entry on trades_beta matches the runs that read it only
    text = COUPLED + "exclude:\n  - {training.trades_beta: 1.0}\n"
    left = [(r.config["training"]["loss"], r.config["training"]["trades_beta"]) for r in load_recipe(
        write(tmp_path, text, "x.yaml")).runs()]
    assert left.count(("at", 1.0)) == 2 and ("trades", 1.0) not in left and len(left) == 6


def _yaml(text):
    import yaml

    return yaml.safe_load(text)


def test_an_axis_of_a_parameter_no_run_reads_is_refused(tmp_path):
    text = "name: r\ngrid:\n  training.trades_beta: [1.0, 3.0]\n"
    unread = r"differ only in training\.trades_beta, which these runs do not read.*same grid entry"
    with pytest.raises(RecipeError, match=unread) as info:
        load_recipe(write(tmp_path, text)).runs()
    assert info.value.key == "grid.training.trades_beta"
    # with the method in the same entry it is two runs
    text = "name: r\ngrid:\n  training: [{loss: trades, trades_beta: 1.0}, {loss: trades, trades_beta: 3.0}]\n"
    assert len({r.run_id for r in load_recipe(write(tmp_path, text, "ok.yaml")).runs()}) == 2


def test_runs_differing_only_in_evaluation_are_one_run(tmp_path):
    path = write(tmp_path, BASIC.replace("grid:\n", "grid:\n  evaluation.autoattack_n: [100, 1000]\n"), "e.yaml")
    with pytest.raises(RecipeError, match="evaluation.autoattack_n"):
        load_recipe(path).runs()
