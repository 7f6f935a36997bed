"""The plug-in catalog: found through entry points (the built-ins too), listed by ``robustperf plugins``, robust to
a broken third-party package, and the one source of the schema's choices and of the keys a plug-in adds."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

from recipes import RecipeError, RunConfig, catalog, load_recipe, section_fields
from tests.conftest import ROOT


def _robustperf(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "robustperf", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_plugins_json_names_the_same_set_as_the_entry_points():
    out = _robustperf("plugins", "--json")
    assert out.returncode == 0, out.stderr
    listed = {(p["kind"], p["name"]) for p in json.loads(out.stdout)["plugins"]}
    declared = {(kind, ep.name) for kind, group in catalog.GROUPS.items() for ep in entry_points(group=group)}
    assert listed == declared
    assert {kind for kind, _ in listed} == set(catalog.KINDS)
    sources = {p["source"].split()[0] for p in json.loads(out.stdout)["plugins"]}
    assert sources == {"robustperf"}


@pytest.mark.parametrize("kind", list(catalog.KINDS))
def test_every_entry_of_every_kind_is_well_formed(kind):
    entries = catalog.entries(kind)
    assert entries, kind
    for name, entry in entries.items():
        assert entry.name == name and entry.kind == kind and entry.doc and entry.source
        assert isinstance(entry.impl, str) and ":" in entry.impl
        assert set(entry.all_reads()) <= set(_paths()), (kind, name)


def _paths():
    from recipes import all_paths

    return list(all_paths())


def test_plugins_lists_without_importing_torch():
    code = "import sys, robustperf; robustperf.main(['plugins']); print('torch' in sys.modules, file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr.strip().endswith("False"), out.stderr
    assert "methods" in out.stdout and "executors" in out.stdout


def _broken_distribution(site):
    """A real installed-distribution folder whose plug-ins are broken: a missing module, a wrong object, a name
    taken from the built-ins."""
    info = site / "brokenpkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [robustperf.methods]
        ghost = brokenpkg_missing.catalog:GHOST
        wrong = json:dumps
        [robustperf.attacks]
        pgd = brokenpkg_catalog:PGD
        """))
    (site / "brokenpkg_catalog.py").write_text(
        "from recipes.catalog import AttackEntry\nPGD = AttackEntry(name='pgd', impl='brokenpkg_catalog:nothing')\n")


def test_a_broken_third_party_plugin_is_named_in_one_line_and_the_builtins_keep_working(tmp_path):
    _broken_distribution(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    out = _robustperf("plugins", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    problems = data["problems"]
    assert len(problems) == 3 and all("brokenpkg 1.0" in line for line in problems)
    assert any("'ghost'" in p and "ModuleNotFoundError" in p for p in problems)
    assert any("'wrong'" in p and "MethodEntry" in p for p in problems)
    assert any("'pgd'" in p and "taken" in p for p in problems)
    names = {(p["kind"], p["name"]) for p in data["plugins"]}
    assert ("methods", "at") in names and ("methods", "ghost") not in names
    pgd = next(p for p in data["plugins"] if (p["kind"], p["name"]) == ("attacks", "pgd"))
    assert pgd["source"].startswith("robustperf ")
    # a command that needs the catalog still works, with one warning line per broken plug-in
    run = _robustperf("expand", str(ROOT / "recipes" / "tiny-digits.yaml"), "--count", env=env)
    assert run.returncode == 0 and run.stdout.strip() == "2"
    warnings = [line for line in run.stderr.splitlines() if "brokenpkg" in line]
    assert len(warnings) == 3 and all(line.startswith("robustperf: warning:") for line in warnings)


def test_unknown_names_are_plugin_errors_with_near_matches():
    with pytest.raises(catalog.PluginError, match="did you mean 'trades'") as info:
        catalog.get("methods", "trade")
    assert info.value.exit_code == 2
    assert catalog.find("models", "resnet50").name == "timm"   # any other arch is a timm model
    assert catalog.find("methods", ["unhashable"]) is None


def test_a_plugin_key_is_validated_and_enters_only_its_runs_ids(tiny_recipe):
    """A method may add a recipe key; it is checked like the schema's own, read (and in the id) only by the runs
    of that method, and gone once the method is."""
    entry = catalog.MethodEntry(name="test_keyed", impl="x:y", doc="test",
                                keys={"training.test_beta": catalog.Key(1.0, "test weight", min=0.0)})
    catalog.register(entry)
    try:
        assert section_fields("training")["test_beta"]["default"] == 1.0
        ids = {sets: load_recipe(str(tiny_recipe), list(sets)).run(0).run_id for sets in (
            ("training.loss=test_keyed",), ("training.loss=test_keyed", "training.test_beta=2"),
            ("training.loss=at",), ("training.loss=at", "training.test_beta=2"))}
        assert len(set(ids.values())) == 3
        assert ids[("training.loss=at",)] == ids[("training.loss=at", "training.test_beta=2")]
        with pytest.raises(RecipeError, match="must be >= 0") as info:
            load_recipe(str(tiny_recipe), ["training.test_beta=-1"])
        assert info.value.key == "training.test_beta"
        cfg = RunConfig.from_dict({"training": {"loss": "test_keyed", "test_beta": 3}})
        assert cfg.training.test_beta == 3.0 and cfg.to_dict()["training"]["test_beta"] == 3.0
    finally:
        catalog.unregister("methods", "test_keyed")
    assert "test_beta" not in section_fields("training")
    with pytest.raises(RecipeError, match="unknown key"):
        load_recipe(str(tiny_recipe), ["training.test_beta=2"])


def test_choices_follow_the_catalog_at_once():
    before = tuple(section_fields("attack")["norm"]["choices"])
    catalog.register(catalog.AttackEntry(name="test_l1_check", impl="x:y", doc="test", norms=("l1",),
                                         roles=("check",)))
    try:
        assert "l1" in section_fields("attack")["norm"]["choices"]
        assert "test_l1_check" in section_fields("training")["select_attack"]["choices"]
    finally:
        catalog.unregister("attacks", "test_l1_check")
    assert tuple(section_fields("attack")["norm"]["choices"]) == before


def test_an_attack_that_does_not_support_the_threat_model_is_refused(tiny_recipe):
    catalog.register(catalog.AttackEntry(name="test_linf_only", impl="x:y", doc="test", norms=("linf",),
                                         roles=("evaluation",)))
    try:
        load_recipe(str(tiny_recipe), ["evaluation.attack=test_linf_only"]).runs()
        with pytest.raises(RecipeError, match="supports linf") as info:
            load_recipe(str(tiny_recipe), ["evaluation.attack=test_linf_only", "attack.norm=l2",
                                           "attack.eps=0.5"]).runs()
        assert info.value.key == "attack.norm"
    finally:
        catalog.unregister("attacks", "test_linf_only")


def test_a_methods_training_attack_must_have_the_train_role(tiny_recipe):
    catalog.register(catalog.MethodEntry(name="test_fgm_trained", impl="x:y", doc="test", train_attack="fgm"))
    try:
        with pytest.raises(RecipeError, match="train role") as info:
            load_recipe(str(tiny_recipe), ["training.loss=test_fgm_trained"]).runs()
        assert info.value.key == "training.loss"
    finally:
        catalog.unregister("methods", "test_fgm_trained")


def test_one_autoattack_attack_given_as_a_name_says_to_write_a_list(tiny_recipe):
    with pytest.raises(RecipeError, match=r"list of one, \[apgd-ce\]") as info:
        load_recipe(str(tiny_recipe), ["evaluation.autoattack=apgd-ce"])
    assert info.value.key == "evaluation.autoattack" and "did you mean" not in str(info.value)


def _benchmark_distribution(site, target="40.0"):
    """A real installed distribution adding two benchmarks: a valid one and one whose definition is invalid."""
    info = site / "benchpkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: benchpkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [robustperf.benchmarks]
        tiny-linf-0.1 = benchpkg.catalog:TINY
        broken-bench = benchpkg.catalog:BROKEN
        """))
    pkg = site / "benchpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "catalog.py").write_text(textwrap.dedent("""\
        from recipes.catalog import BenchmarkEntry
        TINY = BenchmarkEntry(name="tiny-linf-0.1", impl="benchpkg:tiny.yaml", doc="a tiny digits benchmark")
        BROKEN = BenchmarkEntry(name="broken-bench", impl="benchpkg:broken.yaml", doc="an invalid one")
        """))
    (pkg / "tiny.yaml").write_text(textwrap.dedent(f"""\
        id: tiny-linf-0.1
        dataset: digits
        threat_model: {{norm: linf, eps: 0.1}}
        quality: {{target: {target}, check: {{val_size: 64, steps: 2}}}}
        confirmation: {{autoattack: [apgd-ce], n: 64, tolerance: 10}}
        repeats: 3
        divisions:
          closed: {{fixed: {{model.depth: 10, model.width: 1}}}}
        """))
    (pkg / "broken.yaml").write_text("id: broken-bench\ndataset: digits\n")


def test_a_benchmark_of_another_package_is_listed_and_entered_and_a_broken_one_is_named(tmp_path):
    _benchmark_distribution(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    out = _robustperf("benchmarks", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    tiny = next(b for b in data["benchmarks"] if b["id"] == "tiny-linf-0.1")
    assert tiny["quality"]["target"] == 40.0 and tiny["repeats"] == 3 and tiny["file"].endswith("tiny.yaml")
    (problem,) = data["problems"]
    assert "broken-bench" in problem and "benchpkg 1.0" in problem and "broken.yaml" in problem
    assert "key 'threat_model'" in problem or "missing" in problem
    assert "digits-linf-0.2" in [b["id"] for b in data["benchmarks"]]  # the built-ins keep working
    listed = _robustperf("plugins", "--kind", "benchmarks", "--json", env=env)
    assert {p["name"] for p in json.loads(listed.stdout)["plugins"]} >= {"tiny-linf-0.1", "digits-linf-0.2"}
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nbenchmark: tiny-linf-0.1\nbase: {training: {epochs: 2}}\n")
    runs = _robustperf("expand", str(recipe), env=env)
    assert runs.returncode == 0, runs.stderr
    configs = [json.loads(line)["config"] for line in runs.stdout.splitlines()]
    assert len(configs) == 3 and {c["attack"]["eps"] for c in configs} == {0.1}
    assert {c["training"]["val_size"] for c in configs} == {64} and {c["model"]["width"] for c in configs} == {1}
    recipe.write_text("name: r\nbenchmark: broken-bench\n")
    bad = _robustperf("expand", str(recipe), env=env)
    assert bad.returncode == 2 and "broken.yaml" in bad.stderr and "Traceback" not in bad.stderr
