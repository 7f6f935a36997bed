"""Benchmark definitions and divisions: every shipped definition loads and accepts its own reference recipe; a closed
recipe that sets a governed key against its rule - in the base, on a grid axis, in an exclude entry or with --set,
fixed or outside its bounds - fails at load time naming the place, the key and the rule; the open division may
change the model; entering a benchmark gives runs ids of their own and leaves every other id alone."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes import RecipeError, all_paths, catalog, load_recipe, recipe_from_dict
from recipes.benchmark import benchmark_from_dict, get_benchmark
from tests.conftest import ROOT

BENCHMARKS = catalog.names("benchmarks")
PLACES = ("base", "grid", "exclude", "set")


def _reference(name):
    return ROOT / "recipes" / f"benchmark-{name}.yaml"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_shipped_benchmark_loads_and_accepts_its_reference_recipe(name):
    bench = get_benchmark(name)
    assert bench.id == name and bench.file.endswith(f"{name}.yaml")
    assert 0 < bench.target < 100 and bench.repeats >= 1 and set(bench.divisions) == {"closed", "open"}
    assert bench.rules("closed")["attack.eps"].value == bench.eps
    recipe = load_recipe(str(_reference(name)))
    assert (recipe.benchmark, recipe.division) == (name, "closed") and recipe.count() == bench.repeats
    for run in recipe.runs():
        cfg = run.config
        assert cfg["benchmark"] == {"id": name, "division": "closed"}
        assert cfg["tracking"]["submission_division"] == "closed"
        for path, rule in bench.rules("closed").items():
            section, key = path.split(".", 1)
            assert rule.allows(cfg[section][key]), (path, cfg[section][key])
    # the target's comments cite where it comes from
    text = (ROOT / "recipes" / "benchmarks" / f"{name}.yaml").read_text()
    assert "Target:" in text and "reach" in text


def _other(path, value):
    """A value the schema accepts for ``path`` that differs from ``value``."""
    spec = all_paths()[path]
    choices = [c for c in (spec.get("choices") or ()) if c != value]
    if choices:
        return choices[0]
    specials = {"model.arch": "cifar_resnet18", "data.synthetic": "synthetic.npz", "model.input_size": 32,
                "training.select_pgd_step_size": 0.01, "data.image_size": 64,
                "training.select_attack": "test_check_attack"}
    if path in specials and specials[path] != value:
        return specials[path]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 6  # keeps a WideResNet depth of the form 6n+4
    if isinstance(value, float):
        return value + 0.1
    raise AssertionError(f"no other value for {path}={value!r}")


def _breaking(bench):
    """(path, value that breaks the closed rule, rule) for every governed key of the closed division."""
    out = []
    for path, rule in bench.rules("closed").items():
        if rule.kind == "fixed":
            out.append((path, _other(path, rule.value), rule))
        else:
            out.append((path, int(rule.bound.max) + 1, rule))
    return out


CASES = [(name, path, value) for name in BENCHMARKS for path, value, _ in _breaking(get_benchmark(name))]


@pytest.fixture(autouse=True, scope="module")
def check_attack():
    """A second attack with the check role, so training.select_attack has another allowed value."""
    entry = catalog.AttackEntry(name="test_check_attack", impl="x:y", doc="test", roles=("check",))
    catalog.register(entry)
    yield
    catalog.unregister("attacks", "test_check_attack")


def _recipe_text(name, path, value, place):
    data = yaml.safe_load(_reference(name).read_text())
    section, key = path.split(".", 1)
    sets = []
    if place == "base":
        data["base"].setdefault(section, {})[key] = value
    elif place == "grid":
        data["grid"] = {path: [value]}
    elif place == "exclude":
        data["exclude"] = [{path: value}]
    else:
        sets = [f"{path}={json.dumps(value)}"]
    return data, sets


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("name,path,value", CASES, ids=[f"{n}:{p}" for n, p, _ in CASES])
def test_a_closed_recipe_that_breaks_a_rule_fails_naming_the_place_key_and_rule(name, path, value, place, tmp_path):
    data, sets = _recipe_text(name, path, value, place)
    file = tmp_path / "closed.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(RecipeError) as info:
        load_recipe(str(file), sets)
    err = info.value
    rule = get_benchmark(name).rules("closed")[path]
    verb = "fixes" if rule.kind == "fixed" else "bounds"
    assert f"closed division of {name} {verb} {path} to " in err.message, str(err)
    expected_key = {"base": f"base.{path}", "grid": f"grid.{path}[0]", "exclude": f"exclude[0].{path}",
                    "set": path}[place]
    assert err.key == expected_key and err.value == value
    assert err.file == (str(file) if place != "set" else "<--set>")
    if place in ("base", "grid", "exclude"):
        assert err.line is not None and str(err).startswith(f"{file}:{err.line}: key '{expected_key}'")


def test_a_bound_the_default_breaks_is_named_unless_every_run_sets_the_key(tmp_path):
    file = tmp_path / "r.yaml"
    file.write_text("name: r\nbenchmark: digits-linf-0.2\n")
    with pytest.raises(RecipeError, match="bounds training.epochs to 1..30.*the default is outside them") as info:
        load_recipe(str(file))
    assert info.value.key == "base.training.epochs" and info.value.value == 100
    assert load_recipe(str(file), ["training.epochs=5"]).count() == 5  # repeats: the benchmark's
    file.write_text("name: r\nbenchmark: digits-linf-0.2\ngrid:\n  training.epochs: [3, 6]\nrepeats: 1\n")
    assert [r.config["training"]["epochs"] for r in load_recipe(str(file)).runs()] == [3, 6]


def test_the_open_division_may_change_the_model_but_not_the_protocol():
    ref = str(_reference("digits-linf-0.2"))
    runs = load_recipe(ref, ["division=open", "model.depth=16", "model.width=2"]).runs()
    assert all(r.config["model"]["depth"] == 16 and r.config["model"]["width"] == 2 for r in runs)
    assert {r.config["benchmark"]["division"] for r in runs} == {"open"}
    assert {r.config["tracking"]["submission_division"] for r in runs} == {"open"}
    # the reference configuration is the open division's default: unset model keys stay the reference model's
    assert load_recipe(ref, ["division=open", "model.depth=16"]).run(0).config["model"]["width"] == 1
    # the training data may grow (synthetic data is declared in the config), beyond the closed bounds too
    assert load_recipe(ref, ["division=open", "training.epochs=100"]).run(0).config["training"]["epochs"] == 100
    for override, rule in (("attack.eps=0.3", "fixes attack.eps to 0.2 (the threat model)"),
                           ("training.select_on=test", "fixes training.select_on to 'validation'"),
                           ("tracking.submission_division=closed", "fixes tracking.submission_division")):
        with pytest.raises(RecipeError, match=re.escape(f"open division of digits-linf-0.2 {rule}")):
            load_recipe(ref, ["division=open", override])


def test_benchmark_runs_have_ids_of_their_own_and_other_ids_stay(tmp_path):
    ref = str(_reference("digits-linf-0.2"))
    closed = load_recipe(ref).run(0)
    open_ = load_recipe(ref, ["division=open"]).run(0)
    plain_training = {k: v for k, v in closed.config["training"].items() if k != "stop_at_target"}
    plain_base = {**{k: v for k, v in closed.config.items() if k != "benchmark"}, "training": plain_training}
    plain = recipe_from_dict({"base": plain_base}).run(0)
    assert len({closed.run_id, open_.run_id, plain.run_id}) == 3
    assert "benchmark" not in json.loads(_identity(plain.config)) and closed.name == plain.name
    assert json.loads(_identity(closed.config))["benchmark"] == {"id": "digits-linf-0.2"}
    assert json.loads(_identity(open_.config))["benchmark"] == {"id": "digits-linf-0.2", "division": "open"}
    # training.stop_at_target is in the id only when on (every run written before keeps its id)
    older = recipe_from_dict({"base": {**closed.config, "training": plain_training}}).run(0)  # written before 0.2
    off = recipe_from_dict({"base": {**closed.config, "training": {**plain_training, "stop_at_target": False}}}).run(0)
    on = recipe_from_dict({"base": {**closed.config, "training": {**plain_training, "stop_at_target": True}}}).run(0)
    assert off.run_id == older.run_id != on.run_id
    assert "stop_at_target" not in json.loads(_identity(off.config))["training"]
    assert json.loads(_identity(on.config))["training"]["stop_at_target"] is True


def _identity(cfg):
    from recipes import identity_json

    return identity_json(cfg)


def test_the_benchmark_is_named_once_per_recipe(tmp_path):
    """The top-level keys name it; the run config's spelling (--set benchmark.id=, a resolved config as the base,
    as robustperf tune writes its waves) means the same; it cannot vary between runs."""
    ref = load_recipe(str(_reference("digits-linf-0.2")))
    file = tmp_path / "r.yaml"
    file.write_text(yaml.safe_dump({"name": "r", "base": ref.base_config()}))
    again = load_recipe(str(file))
    assert (again.benchmark, again.division) == ("digits-linf-0.2", "closed")
    assert [r.run_id for r in again.runs()] == [r.run_id for r in ref.runs()]
    base = ref.base_config()
    plain = {**base, "benchmark": {"id": None, "division": "closed"},
             "training": {**base["training"], "stop_at_target": False}}
    file.write_text(yaml.safe_dump({"name": "r", "base": plain}))
    assert load_recipe(str(file)).benchmark is None
    aliased = load_recipe(str(_reference("digits-linf-0.2")), ["benchmark.division=open"])
    assert aliased.division == "open"
    for text, key in (("grid:\n  benchmark.division: [open, closed]\n", "grid.benchmark.division[0]"),
                      ("benchmark: digits-linf-0.2\nbase: {benchmark: {id: cifar10-linf-8}}\n", "benchmark")):
        file.write_text("name: r\n" + text)
        with pytest.raises(RecipeError, match="top-level keys benchmark: and division:|disagree") as info:
            load_recipe(str(file))
        assert info.value.key == key
    file.write_text("name: r\ndivision: open\n")
    with pytest.raises(RecipeError, match="a division needs a benchmark") as info:
        load_recipe(str(file))
    assert info.value.line == 2
    file.write_text("name: r\nbenchmark: digits-linf-0.2\ndivision: half-open\nbase: {training: {epochs: 3}}\n")
    with pytest.raises(RecipeError, match="not a division") as info:
        load_recipe(str(file))
    file.write_text("name: r\nbenchmark: cifar10-linf8\n")
    with pytest.raises(RecipeError, match="no such benchmark .did you mean 'cifar10-linf-8'") as info:
        load_recipe(str(file))
    assert info.value.key == "benchmark" and info.value.line == 2


VALID = yaml.safe_load((ROOT / "recipes" / "benchmarks" / "digits-linf-0.2.yaml").read_text())


@pytest.mark.parametrize("edit,key,message", [
    ({"quality": {"target": 150, "check": {"val_size": 10}}}, "quality.target", "expected a number in"),
    ({"threat_model": {"norm": "l7", "eps": 0.1}}, "threat_model.norm", "not an allowed value"),
    ({"threat_model": {"norm": "linf", "eps": "8/0"}}, "threat_model.eps", "expected a number"),
    ({"confirmation": {"autoattack": "fast", "n": 10, "tolerance": 1}}, "confirmation.autoattack",
     "not an AutoAttack version"),
    ({"scoring": {"drop": ["fastest", "median"]}}, "scoring.drop", "distinct values"),
    ({"scoring": {"max_missed": 5}}, "scoring.max_missed", "expected an integer in"),
    ({"divisions": {"closed": {"fixed": {"model.dept": 28}}}}, "divisions.closed.fixed.model.dept",
     "did you mean 'model.depth'"),
    ({"divisions": {"closed": {"fixed": {"attack.eps": 0.3}}}}, "divisions.closed.fixed.attack.eps",
     "fixed by the benchmark itself"),
    ({"divisions": {"closed": {"fixed": {"seed": 3}}}}, "divisions.closed.fixed.seed", "not a run key"),
    ({"divisions": {"closed": {"bounds": {"training.epochs": {"min": 9, "max": 2}}}}},
     "divisions.closed.bounds.training.epochs", "min is above max"),
    ({"divisions": {"open": {"bounds": {"training.epochs": {"max": 2}}}, "closed": {}}}, "divisions.open.bounds",
     "only the closed division has bounds"),
    ({"colour": "red"}, "colour", "unknown key"),
])
def test_an_invalid_definition_names_its_file_and_key(edit, key, message, tmp_path):
    data = {**VALID, **edit}
    file = tmp_path / "bench.yaml"
    text = yaml.safe_dump(data, sort_keys=False)
    from recipes import parse_yaml

    parsed, lines = parse_yaml(text, str(file))
    with pytest.raises(RecipeError, match=message) as info:
        benchmark_from_dict(parsed, file=str(file), lines=lines)
    assert info.value.key == key and info.value.file == str(file)


def _robustperf(*args):
    return subprocess.run([sys.executable, "-m", "robustperf", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_robustperf_benchmarks_lists_every_definition_without_torch():
    out = _robustperf("benchmarks", "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["benchmarks"]
    assert [b["id"] for b in listed] == list(BENCHMARKS)
    for b in listed:
        bench = get_benchmark(b["id"])
        assert b["quality"]["target"] == bench.target and b["repeats"] == bench.repeats
        assert b["divisions"]["closed"]["fixed"] == dict(bench.divisions["closed"].fixed)
    code = "import sys, robustperf; robustperf.main(['benchmarks']); print('torch' in sys.modules, file=sys.stderr)"
    table = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and table.stderr.strip().endswith("False"), table.stderr
    for name in ("cifar10-linf-8", "cifar10-l2-0.5", "cifar100-linf-8", "imagenet-linf-4", "digits-linf-0.2"):
        assert name in table.stdout
    assert "linf 8/255" in table.stdout and "linf 4/255" in table.stdout


@settings(max_examples=80, deadline=None)
@given(epochs=st.integers(min_value=1, max_value=200), batch=st.integers(min_value=1, max_value=2048),
       steps=st.integers(min_value=1, max_value=40), division=st.sampled_from(["closed", "open"]))
def test_the_closed_bounds_accept_exactly_the_values_inside_them(epochs, batch, steps, division):
    sets = [f"division={division}", f"training.epochs={epochs}", f"data.batch_size={batch}", f"attack.steps={steps}"]
    inside = 1 <= epochs <= 30 and 16 <= batch <= 512 and 1 <= steps <= 20
    if inside or division == "open":
        run = load_recipe(str(_reference("digits-linf-0.2")), sets).run(0)
        assert (run.config["training"]["epochs"], run.config["data"]["batch_size"]) == (epochs, batch)
    else:
        with pytest.raises(RecipeError, match="closed division of digits-linf-0.2 bounds"):
            load_recipe(str(_reference("digits-linf-0.2")), sets)
