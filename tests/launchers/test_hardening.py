"""Issue 12 on the launchers: setup environments, the launch directory, hung or refusing file systems and
schedulers, and a second launcher seeing what a local launch (or any live run lock) has in flight."""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

import robustperf
from launchers import LaunchError, TaskCommand
from launchers import core as launcher_core
from launchers.launch import launch, task_command
from launchers.lsf import LsfExecutor
from launchers.plan import plan_launch
from launchers.slurm import SlurmExecutor
from recipes import load_recipe
from results.lock import RunLock

from tests.launchers.conftest import recorder, script_executor_names, task_env


def fake_venv(tmp_path: pathlib.Path) -> pathlib.Path:
    """A folder with bin/activate putting bin/ first on PATH, and a bin/robustperf that records its calls."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'export PATH="{venv}/bin:$PATH"\n')
    shutil.copy(recorder(tmp_path), venv / "bin" / "robustperf")
    (venv / "bin" / "robustperf").chmod(0o755)
    return venv


@pytest.mark.parametrize("scheduler", script_executor_names())
def test_setup_lines_pick_the_robustperf_they_put_on_path(scheduler, tmp_path, tiny_recipe, monkeypatch):
    venv = fake_venv(tmp_path)
    workdir = tmp_path / "project"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    recipe = load_recipe(str(tiny_recipe))
    result = launch(recipe, scheduler=scheduler, results_dir=str(tmp_path / "res"), dry_run=True,
                    parameters={"setup": (f"source {venv}/bin/activate",)})
    (job,) = result.jobs
    text = pathlib.Path(job.script).read_text()
    assert sys.executable not in text  # the launching interpreter is only the default without setup
    log = tmp_path / "calls.jsonl"
    for k in range(2):
        env = dict(task_env(scheduler, k), RECORD_TO=str(log))
        proc = subprocess.run(["bash", job.script], cwd=result.folder, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["argv"][:3] for c in calls] == [["run", str(tiny_recipe), "--index"]] * 2
    assert {c["cwd"] for c in calls} == {str(workdir)}  # the launch directory, not _launch/<name>/

    # a setup that does not provide robustperf: one clear line and exit 127, not "command not found" noise
    result = launch(recipe, scheduler=scheduler, results_dir=str(tmp_path / "res2"), dry_run=True,
                    parameters={"setup": ("true",)})
    env = dict(task_env(scheduler, 0), PATH="/usr/bin:/bin")
    proc = subprocess.run(["bash", result.jobs[0].script], cwd=result.folder, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 127 and "robustperf is not on PATH after the setup lines" in proc.stderr


def test_without_setup_the_launching_interpreter_runs_the_task(tmp_path):
    command = task_command("/r.yaml", "/res", [])
    assert command.before[:3] == (sys.executable, "-m", "robustperf")
    venv = task_command("/r.yaml", "/res", [], setup=("module load x",))
    assert venv.before[:2] == ("robustperf", "run")
    multi = task_command("/r.yaml", "/res", [], setup=("module load x",), gpus=4)
    assert multi.before[:3] == ("torchrun", "--standalone", "--nproc_per_node=4") and multi.stop_signal == "TERM"


def test_relative_data_paths_resolve_against_the_launch_directory_locally(tmp_path, tiny_recipe, monkeypatch,
                                                                           capsys):
    workdir = tmp_path / "project"
    (workdir / "data").mkdir(parents=True)
    monkeypatch.chdir(workdir)
    overrides = ["data.name=cifar10", "data.root=data/cifar-10-batches-py"]
    recipe = load_recipe(str(tiny_recipe), overrides)
    task = recorder(tmp_path)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("RECORD_TO", str(log))
    result = launch(recipe, scheduler="local", results_dir=str(tmp_path / "res"), overrides=overrides,
                    python=str(task))
    assert {json.loads(line)["cwd"] for line in log.read_text().splitlines()} == {str(workdir)}
    # the folder is missing here, which the launch says before any run starts
    assert any("data/cifar-10-batches-py" in w and "does not exist" in w for w in result.warnings)


# ---------------------------------------------------------------- outside commands and the file system

def test_a_hung_sbatch_times_out_with_one_clear_error(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\nsleep 30\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(launcher_core, "SUBMIT_TIMEOUT_S", 1.0)
    ex = SlurmExecutor(str(tmp_path / "launch"), TaskCommand(before=("true",)))
    ex.update_parameters(max_array_size=10)
    start = time.monotonic()
    with pytest.raises(LaunchError, match="did not answer within 1 s") as err:
        ex.map_array([0])
    assert time.monotonic() - start < 10
    assert err.value.script and "check the queue" in str(err.value)


@contextlib.contextmanager
def small_file_system(path: pathlib.Path, options: str):
    """A real tmpfs mounted at ``path`` (root only; skipped where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize("state", ["full", "read-only"])
def test_full_or_read_only_results_end_in_one_line(state, tmp_path, tiny_recipe, capsys):
    mount = tmp_path / "mnt"
    with small_file_system(mount, "size=64k" if state == "full" else "size=64k,ro"):
        if state == "full":
            with contextlib.suppress(OSError), open(mount / "filler", "wb") as fh:  # fill it
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        results = mount / "results"
        code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", "slurm", "--dry-run", "--results",
                                str(results)])
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert ("No space left" if state == "full" else "Read-only file system") in err
        code = robustperf.main(["run", str(tiny_recipe), "--index", "0", "--results", str(results), "--device",
                                "cpu", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err, err
        assert ("No space left" if state == "full" else "Read-only file system") in err.splitlines()[-1]


# ---------------------------------------------------------------- what a second launcher sees

def _slow_task(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "slow.py"
    path.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    path.chmod(0o755)
    return path


def test_a_second_launcher_sees_a_local_launchs_runs_in_flight(tmp_path, tiny_recipe):
    results = tmp_path / "res"
    driver = textwrap.dedent(f"""
        from launchers.launch import launch
        from recipes import load_recipe
        launch(load_recipe({str(tiny_recipe)!r}), scheduler="local", results_dir={str(results)!r},
               python={str(_slow_task(tmp_path))!r}, parameters={{"max_parallel": 1}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], env=dict(os.environ, PYTHONPATH=os.getcwd()),
                            start_new_session=True)
    try:
        recipe = load_recipe(str(tiny_recipe))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            plan = plan_launch(recipe.runs(), str(results), scheduler="slurm")
            if plan.in_flight:
                break
            time.sleep(0.2)
        # both runs: the one running and the one still waiting behind max_parallel 1, seen from another scheduler
        assert len(plan.in_flight) == 2 and not plan.submit, plan.summary()
        assert all("local launcher" in why for _, why in plan.in_flight)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    plan = plan_launch(recipe.runs(), str(results), scheduler="local")
    assert len(plan.submit) == 2  # the launcher is gone: nothing is in flight any more


def test_a_held_run_lock_counts_as_in_flight(tmp_path, tiny_recipe, capsys):
    recipe = load_recipe(str(tiny_recipe))
    run = recipe.runs()[1]
    results = tmp_path / "res"
    with RunLock(str(results / run.run_id)):
        code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", "slurm", "--dry-run", "--results",
                                str(results)])
        err = capsys.readouterr().err
        assert code == 0 and "1 to run, 1 still queued or running" in err
        assert f"{run.run_id} (process {os.getpid()} on" in err and "holds its run lock" in err
    plan = plan_launch(recipe.runs(), str(results), scheduler="slurm")
    assert len(plan.submit) == 2


# ---------------------------------------------------------------- issue 11 item 8: bjobs' exit status

def _fake_bjobs(tmp_path, monkeypatch, body):
    """LSF has no server here: a ``bjobs`` on PATH answering like LSF does (its output and exit status)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "bjobs").write_text("#!/bin/sh\n" + body)
    (bin_dir / "bjobs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_a_failing_bjobs_is_an_error_not_nothing_alive(tmp_path, monkeypatch):
    _fake_bjobs(tmp_path, monkeypatch, "echo 'LSF is down. Please wait ...' >&2\nexit 255\n")
    with pytest.raises(LaunchError, match="bjobs failed") as err:
        LsfExecutor.alive_jobs(["123"])
    assert "LSF is down" in str(err.value) and "exit status 255" in str(err.value)
    _fake_bjobs(tmp_path, monkeypatch, "echo 'No job found' >&2\nexit 255\n")
    assert LsfExecutor.alive_jobs(["123"]) == set()
    _fake_bjobs(tmp_path, monkeypatch, "echo '123|1|RUN'\necho '124|2|DONE'\n")
    assert LsfExecutor.alive_jobs(["123", "123[1]", "124"]) == {"123", "123[1]"}


def test_a_finished_local_launch_does_not_block_the_next_one_in_the_same_process(tmp_path, tiny_recipe):
    recipe = load_recipe(str(tiny_recipe))
    task = recorder(tmp_path)  # exits 0 at once and writes no record: the runs stay to do
    results = str(tmp_path / "res")
    os.environ["RECORD_TO"] = str(tmp_path / "calls.jsonl")
    try:
        first = launch(recipe, scheduler="local", results_dir=results, python=str(task))
        second = launch(recipe, scheduler="local", results_dir=results, python=str(task))
    finally:
        del os.environ["RECORD_TO"]
    assert len(first.plan.submit) == len(second.plan.submit) == 2 and not second.plan.in_flight


def test_empty_indices_is_a_flag_error(tmp_path, tiny_recipe, capsys):
    code = robustperf.main(["launch", str(tiny_recipe), "--dry-run", "--results", str(tmp_path), "--indices", ""])
    err = capsys.readouterr().err
    assert code == 2 and "--indices" in err and "selects no run" in err


def test_status_names_the_lock_holder_of_a_running_record_whose_job_is_gone(tmp_path, tiny_recipe):
    from launchers.status import collect_status
    from results import new_record, write_record

    recipe = load_recipe(str(tiny_recipe))
    run = recipe.runs()[0]
    results = str(tmp_path / "res")
    record = new_record(run.run_id, run.name, run.config)
    record["status"] = "running"
    record["job"].update(scheduler="slurm", job_id="999999", attempts=1)  # a job squeue no longer lists
    write_record(results, record)
    checkers = {"slurm": lambda ids: set()}
    (entry,) = collect_status(results, None, checkers).runs
    assert entry.note == "its job is gone: launch again to resume"
    with RunLock(os.path.join(results, run.run_id)):  # e.g. a requeued copy started by hand, still alive
        (entry,) = collect_status(results, None, checkers).runs
        assert "holds its run lock" in entry.note and str(os.getpid()) in entry.note
