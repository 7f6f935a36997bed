"""Names that become paths, and queues that do not answer (issue 22).

- study names map to folders one to one (``study x`` and ``study_x`` no longer share ``_tune/study_x/``), a
  study made before keeps its folder, and no name leaves ``_tune/`` (property test over names);
- ``status`` counts a run once, from the folder named by its run_id: copies under other names are listed as
  misplaced, not counted;
- ``_launch``, ``_tune`` and ``_migrated`` inside a results folder are never followed when they are links, and
  ``migrate`` skips a folder that is a link or holds another run's record;
- a relaunch while ``squeue`` hangs stops with exit 2 naming it (whichever scheduler the relaunch uses), on a real
  one-node SLURM with the jobs of the first launch held in its queue.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import robustperf
from launchers import query as launcher_query
from launchers.launch import launch
from launchers.tune import open_study, tune_folder
from launchers.tune.pareto import PARETO_CSV, write_pareto
from recipes import load_recipe
from results import new_record, write_record

TUNE = """\
name: {name!r}
base: {{data: {{name: digits}}, model: {{depth: 10, width: 1}}}}
search:
  trials: 2
  objectives: {{accuracy.clean: max}}
  space: {{training.lr: {{uniform: [0.01, 0.5]}}}}
"""


# ---------------------------------------------------------------- study names -> folders

_NAME_CHARS = "abcxyz_ .-+/\\~é$*?:\n" + "0123456789"


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=_NAME_CHARS, min_size=1, max_size=100), min_size=2, max_size=6, unique=True))
def test_distinct_study_names_get_distinct_folders_inside_tune(names):
    folders = [tune_folder("/results", name) for name in names]
    assert len(set(folders)) == len(folders), list(zip(names, folders))
    for name, folder in zip(names, folders):
        assert os.path.dirname(folder) == "/results/_tune", folder
        assert os.path.basename(folder) not in ("", ".", "..") and len(os.path.basename(folder)) <= 80


@pytest.mark.parametrize("name", ["tune-digits", "study_x", "a.b+c-1"])
def test_a_plain_name_keeps_its_own_folder(name):
    assert tune_folder("/results", name) == f"/results/_tune/{name}"


def _study(tmp_path, name, results):
    path = tmp_path / f"{abs(hash(name))}.yaml"
    path.write_text(TUNE.format(name=name))
    recipe = load_recipe(str(path))
    folder = tune_folder(str(results), recipe.name)
    study = open_study(recipe, folder)
    return recipe, folder, study


def _finish_one_trial(study, value):
    from optuna.distributions import FloatDistribution

    trial = study.ask({"training.lr": FloatDistribution(0.01, 0.5)})
    trial.set_user_attr("run_id", f"{int(value * 1000):012d}")
    study.tell(trial, [value])


def test_two_studies_whose_names_slug_alike_keep_their_own_pareto_front(tmp_path):
    results = tmp_path / "res"
    recipe_a, folder_a, study_a = _study(tmp_path, "study x", results)
    _finish_one_trial(study_a, 0.25)
    write_pareto(study_a, folder_a, recipe_a.search.objective_names, recipe_a)
    front_a = pathlib.Path(folder_a, PARETO_CSV).read_bytes()
    recipe_b, folder_b, study_b = _study(tmp_path, "study_x", results)
    _finish_one_trial(study_b, 0.75)
    write_pareto(study_b, folder_b, recipe_b.search.objective_names, recipe_b)
    assert folder_a != folder_b
    assert pathlib.Path(folder_a, PARETO_CSV).read_bytes() == front_a  # not overwritten by the other study
    assert b"0.25" in front_a and b"0.75" in pathlib.Path(folder_b, PARETO_CSV).read_bytes()
    # each study opened again finds its own folder and trials
    assert [t.values for t in _study(tmp_path, "study x", results)[2].trials] == [[0.25]]
    assert [t.values for t in _study(tmp_path, "study_x", results)[2].trials] == [[0.75]]


def test_a_study_made_in_its_old_shared_folder_is_still_found_there(tmp_path):
    """Before issue 22, ``study x`` lived in ``_tune/study_x/``: it is found there; ``study_x`` goes elsewhere."""
    from launchers.tune import storage

    import optuna

    results = tmp_path / "res"
    legacy = results / "_tune" / "study_x"
    optuna.create_study(study_name="study x", storage=storage(str(legacy)), directions=["maximize"])
    assert tune_folder(str(results), "study x") == str(legacy)
    assert tune_folder(str(results), "study_x") != str(legacy)
    assert os.path.dirname(tune_folder(str(results), "study_x")) == str(results / "_tune")


def test_a_linked_study_folder_or_tune_folder_is_refused(tmp_path):
    from results import UnsafePathError

    outside = tmp_path / "outside"
    outside.mkdir()
    results = tmp_path / "res"
    (results / "_tune").mkdir(parents=True)
    (results / "_tune" / "study_x").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        _study(tmp_path, "study_x", results)
    shutil.rmtree(results / "_tune")
    (results / "_tune").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        _study(tmp_path, "study_x", results)
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------- copies of runs are not runs

def _completed(results: pathlib.Path, spec, recipe):
    record = new_record(spec.run_id, spec.name, spec.config, recipe.name)
    record["status"] = "completed"
    write_record(str(results), record)


def test_status_counts_a_run_once_however_many_copies_of_it_there_are(tmp_path, tiny_recipe, capsys):
    recipe = load_recipe(str(tiny_recipe))
    results = tmp_path / "res"
    spec = recipe.run(0)
    _completed(results, spec, recipe)
    for n in range(4):
        shutil.copytree(results / spec.run_id, results / f"copy-{n}")
    assert robustperf.main(["status", str(results), "--json", "--no-jobs"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["completed"] == 1 and data["counts"]["misplaced"] == 4 and data["total"] == 1
    assert robustperf.main(["status", str(results), "--recipe", str(tiny_recipe), "--json", "--no-jobs"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {"completed": 1, "failed": 0, "running": 0, "pending": 1, "misplaced": 4}
    assert robustperf.main(["collect", str(results), "-o", str(tmp_path / "t.csv")]) == 0
    assert "4 left out" in capsys.readouterr().err
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 2  # the header and the one run


# ---------------------------------------------------------------- links inside the results folder

def test_launch_and_migrate_never_follow_a_link_inside_the_results_folder(tmp_path, tiny_recipe, capsys):
    recipe = load_recipe(str(tiny_recipe))
    results = tmp_path / "res"
    outside = tmp_path / "outside"
    outside.mkdir()
    results.mkdir()
    (results / "_launch").symlink_to(outside, target_is_directory=True)
    assert robustperf.main(["launch", str(tiny_recipe), "--scheduler", "slurm", "--dry-run", "--results",
                            str(results)]) == 2
    assert "_launch" in capsys.readouterr().err and list(outside.iterdir()) == []
    (results / "_launch").unlink()
    # migrate: a run folder that is a link, and a copy of a run under another name, are skipped and listed
    spec = recipe.run(0)
    _completed(tmp_path / "elsewhere", spec, recipe)
    (results / spec.run_id).symlink_to(tmp_path / "elsewhere" / spec.run_id, target_is_directory=True)
    shutil.copytree(tmp_path / "elsewhere" / spec.run_id, results / "copy")
    before = sorted(p.name for p in results.iterdir())
    assert robustperf.main(["migrate", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"skip {spec.run_id}:" in out and "symbolic link" in out
    assert "skip copy:" in out and "named 'copy'" in out
    assert sorted(p.name for p in results.iterdir()) == before


# ---------------------------------------------------------------- a queue that does not answer

def _alive(pid: int) -> bool:
    """Running (a killed child of init stays a zombie until init reaps it: that is not running)."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slurm
@pytest.mark.timeout(300)
def test_a_hanging_squeue_stops_every_relaunch(slurm_cluster, tmp_path, tiny_recipe, monkeypatch, capsys):
    recipe = load_recipe(str(tiny_recipe))
    results = tmp_path / "res"
    # the first launch's runs wait in the real queue (held): the normal path sees them as in flight
    first = launch(recipe, scheduler="slurm", results_dir=str(results), parameters={"directives": ("--hold",)})
    job_ids = [j.job_id for j in first.jobs]
    try:
        for scheduler in ("slurm", "local"):
            code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", scheduler, "--results", str(results),
                                    "--dry-run"])
            err = capsys.readouterr().err
            assert code == 0 and "2 still queued or running" in err and "nothing to launch" in err, err
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        pids = tmp_path / "pids"  # the hang is a child of the script: the whole process group must go
        (bin_dir / "squeue").write_text(f"#!/bin/sh\nsleep 600 &\necho $! >> {pids}\nwait\n")
        (bin_dir / "squeue").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        monkeypatch.setattr(launcher_query, "QUERY_TIMEOUT_S", 2.0, raising=False)
        launched = sorted(os.listdir(results / "_launch"))
        for scheduler in ("local", "slurm"):
            start = time.monotonic()
            code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", scheduler, "--results", str(results)])
            err = capsys.readouterr().err
            assert code == 2 and "squeue did not answer within 2 s" in err and "Traceback" not in err, err
            assert time.monotonic() - start < 30
            assert sorted(os.listdir(results / "_launch")) == launched  # nothing launched, no script written
            assert not [p for p in results.iterdir() if not p.name.startswith("_")]  # no run started here
        for pid in map(int, pids.read_text().split()):
            assert not _alive(pid), "the hanging query's child was left running"
    finally:
        subprocess.run(["scancel", *job_ids], capture_output=True)
