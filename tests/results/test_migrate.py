"""`robustperf migrate` on a results directory made by the 1.0 release (tests/data/results-1.0, see SOURCE.md)."""
from __future__ import annotations

import json
import shutil

import pytest

import results
import robustperf
from launchers.errors import LaunchError
from launchers.launch import launch
from recipes import load_recipe
from scaling.table import collect
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "results-1.0"
#: the 1.0 directory's settings (SOURCE.md) in today's keys: the per-epoch check's keys belong to training
SETTINGS = ["training.epochs=1", "training.select_subset=64", "training.select_pgd_steps=3",
            "evaluation.pgd_steps=3", "evaluation.autoattack=[apgd-ce]", "evaluation.autoattack_n=16"]


@pytest.fixture
def old_dir(tmp_path):
    target = tmp_path / "runs"
    shutil.copytree(DATA, target, ignore=shutil.ignore_patterns("SOURCE.md"))
    return target


def _folders(root):
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_dry_run_changes_nothing(old_dir, capsys):
    before = {p: p.read_bytes() for p in old_dir.rglob("*") if p.is_file()}
    assert robustperf.main(["migrate", str(old_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "merge" in out and "move" in out
    assert {p: p.read_bytes() for p in old_dir.rglob("*") if p.is_file()} == before


def test_migrated_directory_launches_nothing_new(old_dir, capsys):
    recipe = load_recipe(str(ROOT / "recipes" / "tiny-digits.yaml"), SETTINGS)
    new_ids = sorted(r.run_id for r in recipe.runs())
    assert not set(new_ids) & set(_folders(old_dir))  # the old identity rule named these folders otherwise
    # launching before migrating would train the finished runs again: refused, exit 2, nothing written
    before = {p: p.read_bytes() for p in old_dir.rglob("*") if p.is_file()}
    with pytest.raises(LaunchError, match=r"older run-identity rule.*robustperf migrate"):
        launch(recipe, scheduler="local", results_dir=str(old_dir), dry_run=True)
    capsys.readouterr()
    assert robustperf.main(["launch", str(ROOT / "recipes" / "tiny-digits.yaml"), "--scheduler", "local",
                            "--results", str(old_dir), *[a for s in SETTINGS for a in ("--set", s)]]) == 2
    assert "robustperf migrate" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in old_dir.rglob("*") if p.is_file()} == before

    assert robustperf.main(["migrate", str(old_dir)]) == 0
    assert _folders(old_dir) == new_ids
    plan = launch(recipe, scheduler="local", results_dir=str(old_dir), dry_run=True).plan
    assert plan.submit == [] and len(plan.completed) == 2
    launch(recipe, scheduler="local", results_dir=str(old_dir))  # real launch: nothing to run, headline in place
    at = results.load_record(str(old_dir), recipe.runs()[0].run_id)
    assert at["accuracy"]["autoattack_n"] == 16 and at["config"]["evaluation"]["autoattack_n"] == 16

    # AT with AutoAttack on 16 and on 8 points were one trained run: merged, both evaluations kept

    assert at["schema_version"] == "1.1" and at["run_id"] == recipe.runs()[0].run_id
    assert sorted(e["settings"]["autoattack_n"] for e in at["evaluations"].values()) == [8, 16]
    assert at["accuracy"]["autoattack_n"] in (8, 16)  # the latest completed folder's headline
    kept = [p.parent.name for p in (old_dir / "_migrated").glob("*/result.json")]  # kept, never deleted
    assert len(kept) == 1 and kept[0] in ("4b648a9db55e", "13f35ec038c0")

    # idempotent: nothing left to do, nothing changes
    snapshot = {p: p.read_bytes() for p in old_dir.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert robustperf.main(["migrate", str(old_dir)]) == 0
    assert "0 change(s), 2 run(s) already current" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in old_dir.rglob("*") if p.is_file()} == snapshot

    # going back to the stored 8-point evaluation is free (the test data kept no checkpoints): no job
    eight = load_recipe(str(ROOT / "recipes" / "tiny-digits.yaml"), [*SETTINGS[:-1], "evaluation.autoattack_n=8"])
    plan = launch(eight, scheduler="local", results_dir=str(old_dir), indices="0").plan
    assert plan.submit == [] and [r.run_id for r, _, _ in plan.refreshed] == [eight.runs()[0].run_id]
    assert results.load_record(str(old_dir), eight.runs()[0].run_id)["accuracy"]["autoattack_n"] == 8


def test_an_unknown_field_is_read_kept_and_collected(old_dir):
    path = old_dir / "be231187284e" / "result.json"
    data = json.loads(path.read_text())
    data["from_the_future"] = {"answer": 42}
    path.write_text(json.dumps(data))
    assert results.read_record(str(path))["from_the_future"] == {"answer": 42}
    table, problems = collect(str(old_dir))
    assert not problems and table["from_the_future.answer"].dropna().tolist() == [42]
    assert robustperf.main(["migrate", str(old_dir)]) == 0
    (moved,) = [p for p in old_dir.glob("*/result.json")
                if json.loads(p.read_text())["config"]["training"]["loss"] == "trades"]
    assert json.loads(moved.read_text())["from_the_future"] == {"answer": 42}
