"""A run folder is written only by the commands given it, never through a link, never as another run (issue 22).

- a resumed run whose ``train.log`` and ``mllog.txt`` are links to files elsewhere stops (exit 2, naming the link)
  before it writes anything; so does every other file or folder of a run folder made a link (the whole set: what
  a run, ``evaluate`` and ``infer`` write there), and a run folder that is itself a link;
- ``infer`` and ``evaluate`` of a copy of a run under another folder name refuse it and leave the original's
  record as it was; a record whose ``run_id`` is a path (``../../../x``) is refused and no folder appears there;
- ``run`` of a folder whose record names another run never writes that other run's folder.
"""
from __future__ import annotations

import glob
import json
import os
import pathlib
import shutil

import pytest

from benchmarks.evaluation.evaluate import AUTOATTACK_STATE_FILE, EVAL_FOLDER, PROGRESS_FILE
from benchmarks.interruption import TEST_INTERRUPT_ENV
from benchmarks.cli_infer import SAMPLES_FILE, SAMPLES_FOLDER
from results.keys import SURVIVAL_TABLE
from tests.benchmarks._training_helpers import run_cli

RECIPE = """\
name: folder-safety
base:
  seed: 0
  data: {name: digits, batch_size: 128}
  model: {arch: wrn, depth: 10, width: 1}
  training: {loss: at, epochs: 2, warmup_epochs: 0, lr: 0.1, select_subset: 32, select_pgd_steps: 1}
  attack: {norm: linf, eps: 0.1, steps: 1}
  evaluation: {pgd_steps: 1, autoattack: null}
"""
#: what `evaluate` and `infer` add to a run folder (state, survival table, raw samples), beside what a run made
LATER = (SURVIVAL_TABLE, f"{EVAL_FOLDER}/best/{PROGRESS_FILE}", f"{EVAL_FOLDER}/best/{AUTOATTACK_STATE_FILE}",
         f"{SAMPLES_FOLDER}/best/{SAMPLES_FILE}")
INFER = ["--precision", "fp32", "--queries", "2", "--passes", "1", "--warmup", "1", "--batch-sizes", "8",
         "--autoattack", "none", "--threads", "1", "--accuracy-n", "16", "--calibration-n", "8"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run SIGKILLed right after its first epoch's checkpoint (record running, checkpoints, logs): made once."""
    base = tmp_path_factory.mktemp("interrupted")
    (base / "r.yaml").write_text(RECIPE)
    args = ["run", base / "r.yaml", "--index", "0", "--results", base / "res", "--device", "cpu", "--no-progress",
            "--no-flops", "--no-eval"]
    proc = run_cli(args, env={TEST_INTERRUPT_ENV: "checkpoint:1"})
    assert proc.returncode == -9, proc.stdout + proc.stderr
    (run_dir,) = glob.glob(str(base / "res" / "*" / ""))
    return base, pathlib.Path(run_dir)


def _copy(interrupted, tmp_path):
    base, run_dir = interrupted
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(base / "r.yaml", tmp_path / "r.yaml")
    results = tmp_path / "res"
    shutil.copytree(run_dir, results / run_dir.name, symlinks=True)
    args = ["run", tmp_path / "r.yaml", "--index", "0", "--results", results, "--device", "cpu", "--no-progress",
            "--no-flops", "--no-eval"]
    return args, results / run_dir.name


def _tree(folder: pathlib.Path):
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else os.readlink(p)
                                         if p.is_symlink() else None) for p in sorted(folder.rglob("*"))}


def test_a_resumed_run_never_appends_through_linked_logs(interrupted, tmp_path):
    args, run_dir = _copy(interrupted, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for name in ("train.log", "mllog.txt"):
        (outside / name).write_text("someone else's file\n")
        (run_dir / name).unlink()
        (run_dir / name).symlink_to(outside / name)
    before, record = _tree(outside), (run_dir / "result.json").read_bytes()
    proc = run_cli(args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "symbolic link" in proc.stderr and ("train.log" in proc.stderr or "mllog.txt" in proc.stderr)
    assert _tree(outside) == before  # not one line appended
    assert (run_dir / "result.json").read_bytes() == record  # nothing changed, not even the attempt count


def _entries(run_dir: pathlib.Path):
    """Every file and folder of the run folder (relative), and what evaluate and infer would write there."""
    found = {str(p.relative_to(run_dir)) for p in run_dir.rglob("*")}
    folders = {str(parent) for p in LATER for parent in pathlib.PurePath(p).parents if str(parent) != "."}
    return sorted(found | set(LATER) | folders)


@pytest.mark.parametrize("kind", ["link-to-file", "link-to-folder", "dangling-link"])
def test_any_entry_of_a_run_folder_made_a_link_stops_the_run_before_it_writes(interrupted, tmp_path, kind):
    """The whole set of files a run folder holds (or will hold): each made a link in turn, the resume refuses,
    naming it, and neither the link's target nor the run folder changes."""
    from benchmarks.run import execute
    from recipes import load_recipe
    from results import UnsafePathError

    _, template = _copy(interrupted, tmp_path / "template")
    spec = load_recipe(str(tmp_path / "template" / "r.yaml")).run(0)
    entries = _entries(template)
    assert {"train.log", "mllog.txt", "result.json", "checkpoint-last.pt", "metrics.jsonl"} <= set(entries)
    for n, name in enumerate(entries):
        results = tmp_path / f"res{n}"
        run_dir = results / template.name
        shutil.copytree(template, run_dir, symlinks=True)
        outside = tmp_path / f"outside{n}"
        outside.mkdir()
        (outside / "victim").write_text("keep\n")
        link = run_dir / name
        if link.is_dir():
            shutil.rmtree(link)
        elif link.exists():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to({"link-to-file": outside / "victim", "link-to-folder": outside,
                         "dangling-link": outside / "gone"}[kind])
        before_out, before_run = _tree(outside), _tree(run_dir)
        with pytest.raises(UnsafePathError) as err:
            execute(spec, str(results), device="cpu", progress=False, evaluate=False, count_flops=False)
        assert err.value.path == str(link) and "symbolic link" in str(err.value), name
        assert _tree(outside) == before_out and _tree(run_dir) == before_run, name
    # the run folder itself a link to a folder elsewhere
    results = tmp_path / "res-linked"
    results.mkdir()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(template, elsewhere, symlinks=True)
    (results / template.name).symlink_to(elsewhere, target_is_directory=True)
    before = _tree(elsewhere)
    with pytest.raises(UnsafePathError, match="not a run folder"):
        execute(spec, str(results), device="cpu", progress=False, evaluate=False, count_flops=False)
    assert _tree(elsewhere) == before


@pytest.mark.parametrize("command", ["infer", "evaluate"])
def test_a_copy_of_a_run_under_another_name_is_refused_and_the_original_kept(interrupted, tmp_path, command):
    _, run_dir = _copy(interrupted, tmp_path)
    original = json.loads((run_dir / "result.json").read_text())
    original["only_the_original"] = "keep me"  # a field the copy lacks: an overwrite would drop it
    (run_dir / "result.json").write_text(json.dumps(original, indent=2))
    copy = run_dir.parent / "copy-of-the-run"
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "result.json").read_text())
    del record["only_the_original"]
    (copy / "result.json").write_text(json.dumps(record, indent=2))
    before = _tree(tmp_path)
    args = [command, copy] + (INFER if command == "infer" else ["--set", "evaluation.autoattack=null"])
    proc = run_cli(args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "copy-of-the-run" in proc.stderr and run_dir.name in proc.stderr
    assert _tree(tmp_path) == before  # the original's record (and everything else) as it was


@pytest.mark.parametrize("command", ["infer", "evaluate"])
@pytest.mark.parametrize("run_id", ["../../../escaped", "{tmp}/absolute"])
def test_a_run_id_that_is_a_path_is_refused_and_nothing_is_made_there(interrupted, tmp_path, command, run_id):
    run_id = run_id.format(tmp=tmp_path)  # an absolute path, inside the test's folder so a failure stays there
    _, run_dir = _copy(interrupted, tmp_path)
    crafted = tmp_path / "a" / "b" / "crafted"
    shutil.copytree(run_dir, crafted)
    record = json.loads((crafted / "result.json").read_text())
    record["run_id"] = run_id
    (crafted / "result.json").write_text(json.dumps(record, indent=2))
    before = _tree(tmp_path)
    proc = run_cli([command, crafted] + (INFER if command == "infer" else []))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "is not a run id" in proc.stderr
    assert _tree(tmp_path) == before


def test_run_never_writes_the_folder_its_record_names(interrupted, tmp_path):
    """A record of another run in this run's folder (copied over it): the run stops naming it and writes
    neither folder."""
    args, run_dir = _copy(interrupted, tmp_path)
    record = json.loads((run_dir / "result.json").read_text())
    record["run_id"] = "0123456789ab"
    (run_dir / "result.json").write_text(json.dumps(record, indent=2))
    before = _tree(tmp_path)
    proc = run_cli(args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "holds run '0123456789ab'" in proc.stderr and "--restart" in proc.stderr
    assert _tree(tmp_path) == before and not (run_dir.parent / "0123456789ab").exists()
