"""Keys that moved: read as their new key for a release with a warning naming it, then refused naming it; never
answered with the nearest spelling in the old section (issue 22: ``evaluation.pgd_subset`` -> "did you mean
'evaluation.pgd_steps'")."""
from __future__ import annotations

import dataclasses

import pytest

import robustperf
from recipes import RecipeError, load_recipe
from recipes.schema import all_paths

try:  # the table's own tests need it; the behaviour tests run (and fail) on the code before issue 22 without it
    from recipes import moved
except ImportError:  # pragma: no cover - the old code
    moved = None

HEAD = "name: m\nbase:\n  training: {epochs: 2, warmup_epochs: 0}\n"
PLACES = {
    "base": HEAD + "  evaluation: {pgd_subset: 64}\n",
    "grid": HEAD + "grid:\n  evaluation.pgd_subset: [64, 128]\n",
    "section axis": HEAD + "grid:\n  evaluation: [{pgd_subset: 64}, {pgd_subset: 128}]\n",
    "exclude": HEAD + "grid:\n  training.select_subset: [64, 128]\nexclude:\n  - {evaluation.pgd_subset: 64}\n",
}


@pytest.fixture(autouse=True)
def _fresh_warnings():
    if moved is not None:
        moved._WARNED.clear()
    yield
    if moved is not None:
        moved._WARNED.clear()


def _subsets(recipe):
    return [run.config["training"]["select_subset"] for run in recipe.runs()]


@pytest.mark.parametrize("place, subsets", [("base", [64]), ("grid", [64, 128]), ("section axis", [64, 128]),
                                            ("exclude", [128])])
def test_an_old_key_is_read_as_its_new_one_with_one_warning(place, subsets, tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(PLACES[place])
    assert _subsets(load_recipe(path)) == subsets
    err = capsys.readouterr().err
    assert err.count("warning") == 1, err
    assert "evaluation.pgd_subset" in err and "'training.select_subset'" in err and "refused from 0.3" in err
    assert "did you mean" not in err


def test_the_old_key_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(HEAD)
    assert _subsets(load_recipe(path, ["evaluation.pgd_subset=32"])) == [32]
    assert "<--set>" in capsys.readouterr().err
    assert robustperf.main(["expand", "--count", str(path), "--set", "evaluation.pgd_subset=32"]) == 0


def test_old_and_new_key_together_are_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(HEAD.replace("warmup_epochs: 0}", "warmup_epochs: 0, select_subset: 8}")
                    + "  evaluation: {pgd_subset: 64}\n")
    with pytest.raises(RecipeError, match="set twice.*keep 'training.select_subset'"):
        load_recipe(path)


def test_from_the_release_that_refuses_it_the_old_key_names_the_new_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(moved, "_current", lambda: "0.3.0")
    path = tmp_path / "r.yaml"
    for place in PLACES:
        path.write_text(PLACES[place])
        with pytest.raises(RecipeError) as err:
            load_recipe(path)
        assert "moved to 'training.select_subset' in 0.2" in str(err.value) and "did you mean" not in str(err.value)
    assert robustperf.main(["expand", str(path)]) == 2
    assert "training.select_subset" in capsys.readouterr().err


def test_a_move_whose_meaning_changed_is_refused_at_once(monkeypatch):
    changed = dataclasses.replace(moved.MOVES[0], same_meaning=False)
    assert not moved.accepted(changed, "0.1.0")
    monkeypatch.setattr(moved, "_BY_OLD", {changed.old: changed})
    with pytest.raises(RecipeError, match="with another meaning"):
        moved.warn_moved(changed, "r.yaml", "base.evaluation.pgd_subset")


def test_other_places_name_the_new_key_instead_of_a_neighbour(tmp_path):
    from recipes import validate_section

    with pytest.raises(RecipeError, match="moved to 'training.select_subset'"):
        validate_section("evaluation", {"pgd_subset": 3}, file="<--set>", partial=True)
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + "search: {trials: 2, objectives: {accuracy.clean: max}, "
                           "space: {evaluation.pgd_subset: {int: [8, 64]}}}\n")
    with pytest.raises(RecipeError, match="did you mean 'training.select_subset'"):
        load_recipe(path)


def test_the_table_is_consistent_with_the_schema():
    paths = all_paths()
    for move in moved.MOVES:
        assert move.old not in paths and move.new in paths, move
        assert tuple(map(int, move.moved_in.split("."))) < tuple(map(int, move.refused_from.split(".")))
    for key, _what, new, _release in moved.SPLITS:
        assert key in paths and new in paths


@pytest.mark.parametrize("old", ["nvml", "rapl"])
@pytest.mark.parametrize("where", ["base", "grid"])
def test_a_renamed_meter_is_read_as_zeus_with_one_warning_and_keeps_the_run_id(old, where, tmp_path, capsys):
    """The NVML and RAPL meters became Zeus's (issue 25): a recipe naming them still loads, as ``zeus``."""
    new, renamed = tmp_path / "new.yaml", tmp_path / "old.yaml"
    for path, value in ((new, "zeus"), (renamed, old)):
        path.write_text(HEAD + (f"  measurement: {{energy_source: {value}}}\n" if where == "base"
                                else f"grid:\n  measurement.energy_source: [{value}]\n"))
    runs = load_recipe(renamed).runs()
    assert [r.config["measurement"]["energy_source"] for r in runs] == ["zeus"]
    assert [r.run_id for r in runs] == [r.run_id for r in load_recipe(new).runs()]
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and f"'{old}' is now 'zeus'" in err and "refused from 0.3" in err, err


def test_from_the_release_that_refuses_it_a_renamed_meter_names_zeus(tmp_path, monkeypatch):
    monkeypatch.setattr(moved, "_current", lambda: "0.3.0")
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + "  measurement: {energy_source: nvml}\n")
    with pytest.raises(RecipeError, match="'nvml' was renamed 'zeus' in 0.2") as err:
        load_recipe(path)
    assert "did you mean" not in str(err.value)
