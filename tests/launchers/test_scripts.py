"""Generated batch scripts: golden files, array splitting, quoting, signal forwarding, executed by bash.

No scheduler is needed here: the scripts are plain bash, so they are run with the variables the scheduler would
set (each executor's ``task_environment``: SLURM_ARRAY_TASK_ID, LSB_JOBID/LSB_JOBINDEX, ...) and must start the
right matrix entries. Tests of what every backend does are parametrised over the catalog's executors; the golden
files are per backend.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from launchers import LaunchError, TaskCommand, get_executor, parse_indices
from launchers.launch import launch
from launchers.lsf import LsfExecutor
from launchers.slurm import SlurmExecutor
from recipes import load_recipe

from tests.launchers.conftest import check_golden, executor_names, recorder, script_executor_names, task_env

COMMAND = TaskCommand(before=("/venv/bin/python", "-m", "robustperf", "run", "/recipes/demo.yaml"),
                      after=("--results", "/data/results", "--set", "training.epochs=1"))
FULL = dict(job_name="demo sweep", timeout_min=90, max_parallel=3, partition="gpu", account="proj-42",
            gpus_per_node=2, cpus_per_task=8, mem_gb=32, signal_delay_s=300,
            directives=("--qos=high",), setup=("module load cuda/12.4", "source /opt/venv/bin/activate"))
LSF_FULL = dict(FULL, directives=('-R "select[mem>32000]"',))
NASTY = "a b; rm -rf keep $(touch pwned) `touch pwned2` 'q\" & echo hi > pwned3"


def _executor(cls, tmp_path, **params):
    ex = cls(str(tmp_path / "launch"), COMMAND, dry_run=True)
    ex.update_parameters(**params)
    return ex


@pytest.mark.parametrize("cls,params,name", [
    (SlurmExecutor, {}, "slurm_minimal.sbatch"),
    (SlurmExecutor, FULL, "slurm_full.sbatch"),
    (LsfExecutor, {}, "lsf_minimal.bsub"),
    (LsfExecutor, LSF_FULL, "lsf_full.bsub"),
])
def test_script_matches_golden(cls, params, name, tmp_path):
    indices = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15] if params else [0, 1, 2, 3]
    check_golden(name, _executor(cls, tmp_path, **params)._make_submission_file_text(indices))


def test_long_index_list_wraps_and_matches_golden(tmp_path):
    text = _executor(SlurmExecutor, tmp_path, max_parallel=16)._make_submission_file_text(list(range(100, 160)))
    assert all(len(line) <= 100 for line in text.splitlines() if line.startswith(("INDICES", "  ")))
    check_golden("slurm_wrapped.sbatch", text)


@pytest.mark.parametrize("name", script_executor_names())
def test_map_array_splits_at_max_array_size_and_chains(name, tmp_path):
    ex = _executor(get_executor(name), tmp_path, max_array_size=4, chain=2)
    jobs = ex.map_array(list(range(10)))
    assert [(j.array, j.link) for j in jobs] == [(a, l) for a in range(3) for l in range(3)]
    assert [jobs[a * 3].indices for a in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    scripts = sorted(p.name for p in (tmp_path / "launch").iterdir() if p.is_file())
    assert len(scripts) == 3, scripts  # one script per array, submitted chain + 1 times
    for job in jobs:
        assert (job.depends_on is None) == (job.link == 0)
        assert job.scheduler == name and job.script.endswith(ex.script_suffix)
    assert all(job.command == ex._make_submission_command(job.script, job.depends_on) for job in jobs)
    assert "INDICES=(8 9)" in (tmp_path / "launch" / scripts[-1]).read_text()


@pytest.mark.parametrize("cls,array,link2", [
    (SlurmExecutor, "--array=0-1%2", lambda c: c[:2] == ["sbatch", "--parsable"]
     and c[2].startswith("--dependency=afterany:")),
    (LsfExecutor, '[1-2]%2"', lambda c: c[:2] == ["bsub", "-w"] and c[2].startswith("ended(")),
])
def test_throttle_and_chain_in_each_schedulers_syntax(cls, array, link2, tmp_path):
    jobs = _executor(cls, tmp_path, max_array_size=4, chain=2).map_array(list(range(10)))
    assert array in pathlib.Path(jobs[-1].script).read_text()
    assert link2(jobs[2].command)


def test_submission_output_parsing():
    assert SlurmExecutor._get_job_id_from_submission_command("1234\n") == "1234"
    assert SlurmExecutor._get_job_id_from_submission_command("1234;cluster-a\n") == "1234"
    assert LsfExecutor._get_job_id_from_submission_command(
        "Job <5678> is submitted to queue <normal>.\n") == "5678"
    for cls, text in ((SlurmExecutor, "sbatch: error: nope"), (LsfExecutor, "Request aborted by esub")):
        with pytest.raises(LaunchError, match="could not find"):
            cls._get_job_id_from_submission_command(text)


def test_parse_indices():
    assert parse_indices("0-3,7, 9-9", 10) == [0, 1, 2, 3, 7, 9]
    assert parse_indices("3,1,1", 4) == [1, 3]
    for bad, match in (("0-10", "outside the matrix of 10"), ("5-2", "reversed"), ("a", "cannot read"),
                       (",", "selects no run")):
        with pytest.raises(LaunchError, match=match):
            parse_indices(bad, 10)


def test_bad_names_and_multiline_directives_are_refused(tmp_path):
    ex = _executor(SlurmExecutor, tmp_path)
    with pytest.raises(LaunchError, match="plain scheduler name"):
        ex.update_parameters(partition="gpu; rm -rf /")
    with pytest.raises(LaunchError, match="one line"):
        ex.update_parameters(directives=["--qos=high\nrm -rf /"])
    with pytest.raises(ValueError, match="valid: "):
        ex.update_parameters(gpus=1)


# ---------------------------------------------------------------- scripts executed by bash


def _nasty_recipe(tmp_path: pathlib.Path, repo_root: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / NASTY
    folder.mkdir()
    text = (repo_root / "recipes" / "tiny-digits.yaml").read_text()
    text = text.replace("name: tiny-digits", "name: \"x'; touch pwned4; $(touch pwned5)\"")
    text = text.replace("training.loss: [at, trades]", "training.loss: [at, trades]\n  seed: [0, 1, 2]")
    path = folder / "recipe; $(touch pwned6).yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("scheduler", script_executor_names())
def test_metacharacters_in_names_and_paths_stay_inert(scheduler, tmp_path, repo_root):
    recipe_path = _nasty_recipe(tmp_path, repo_root)
    results = tmp_path / NASTY / "results"
    overrides = ["training.epochs=1", "tracking.group=it's $(touch pwned7)"]
    recipe = load_recipe(str(recipe_path), overrides)
    assert len(recipe.runs()) == 6
    result = launch(recipe, scheduler=scheduler, results_dir=str(results), indices="1,4-5", dry_run=True,
                    overrides=overrides, python=str(recorder(tmp_path)))
    (job,) = result.jobs
    assert job.indices == [1, 4, 5]
    (pathlib.Path(result.folder) / "keep").mkdir()  # `rm -rf keep` would remove it from the job's cwd
    log = tmp_path / "calls.jsonl"
    for k in range(3):
        env = dict(task_env(scheduler, k), RECORD_TO=str(log))
        proc = subprocess.run(["bash", job.script], cwd=result.folder, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "hi" not in proc.stdout
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    expected_tail = ["--results", str(results), "--set", overrides[0], "--set", overrides[1]]
    assert [c["argv"] for c in calls] == [
        ["-m", "robustperf", "run", str(recipe_path), "--index", str(i), *expected_tail] for i in (1, 4, 5)]
    assert (pathlib.Path(result.folder) / "keep").is_dir()
    created = [p for p in tmp_path.rglob("pwned*")] + [p for p in pathlib.Path(result.folder).rglob("pwned*")]
    assert created == []
    assert pathlib.Path(result.folder).parent.parent == results  # the launch folder is under the results


def _signal_task(tmp_path: pathlib.Path) -> pathlib.Path:
    """A task that reports when it is ready, and on SIGUSR1 'checkpoints' and exits 124 like robustperf run."""
    path = tmp_path / "task.py"
    path.write_text(
        f"#!{sys.executable}\n"
        "import os, signal, sys, time\n"
        "out = os.environ['RECORD_TO']\n"
        "def stop(signum, frame):\n"
        "    open(out, 'a').write(f'signal {signum}\\n'); sys.exit(124)\n"
        "signal.signal(signal.SIGUSR1, stop); signal.signal(signal.SIGTERM, stop)\n"
        "open(out, 'a').write('ready\\n')\n"
        "time.sleep(60)\n"
        "open(out, 'a').write('not signalled\\n')\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("name", script_executor_names())
@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_script_forwards_the_checkpoint_signal_and_returns_the_runs_status(sig, name, tmp_path):
    task = _signal_task(tmp_path)
    ex = get_executor(name)(str(tmp_path / "launch"), TaskCommand(before=(str(task),)), dry_run=True)
    (job,) = ex.map_array([7])
    log = tmp_path / "task.log"
    env = dict(task_env(name, 0), RECORD_TO=str(log))
    proc = subprocess.Popen(["bash", job.script], env=env, cwd=ex.folder)
    deadline = time.monotonic() + 30
    while not (log.exists() and "ready" in log.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, "the task did not start"
        time.sleep(0.05)
    proc.send_signal(sig)  # as SLURM does with --signal=B:USR1@s, or at the time limit / scancel
    assert proc.wait(timeout=30) == 124
    assert log.read_text().splitlines() == ["ready", f"signal {int(sig)}"]


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the script's session (it was started with start_new_session=True: the script and its task)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.mark.parametrize("name", script_executor_names())
def test_script_returns_the_runs_status_when_the_run_ends_before_the_wait_resumes(name, tmp_path):
    """A run that exits at once on the forwarded signal is reaped by the interrupted `wait`; the script must still
    return the run's status (124), not the wait's 128 + signal (that race failed 34 times in 40 under load)."""
    task = tmp_path / "task.sh"
    task.write_text("#!/bin/bash\ntrap 'exit 124' TERM USR1\necho ready >> \"$RECORD_TO\"\n"
                    "while :; do sleep 0.01; done\n")
    task.chmod(0o755)
    ex = get_executor(name)(str(tmp_path / "launch"), TaskCommand(before=(str(task),)), dry_run=True)
    (job,) = ex.map_array([7])
    for attempt in range(20):
        log = tmp_path / f"task{attempt}.log"
        proc = subprocess.Popen(["bash", job.script], env=dict(task_env(name, 0), RECORD_TO=str(log)),
                                cwd=ex.folder, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not (log.exists() and "ready" in log.read_text()):
                assert time.monotonic() < deadline and proc.poll() is None, "the task did not start"
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 124, attempt
        finally:  # a failed attempt must not leave the task spinning
            _kill_group(proc)


@pytest.mark.parametrize("name", script_executor_names())
def test_a_signal_before_the_script_knows_the_runs_pid_is_passed_on(name, tmp_path):
    """The scheduler may signal the script between starting the run and learning its pid (`child=$!`): the signal
    is kept and passed on then (before, `set -u` ended the script with 1 on the unset pid, the run left behind).
    The task signals its script as its first act, so the signal lands as early as it can."""
    task = tmp_path / "task.sh"
    task.write_text("#!/bin/bash\ntrap 'exit 124' TERM USR1\nkill -TERM $PPID\n"
                    "for i in $(seq 3000); do sleep 0.01; done\nexit 3\n")
    task.chmod(0o755)
    ex = get_executor(name)(str(tmp_path / "launch"), TaskCommand(before=(str(task),)), dry_run=True)
    (job,) = ex.map_array([7])
    for attempt in range(10):
        proc = subprocess.Popen(["bash", job.script], env=task_env(name, 0), cwd=ex.folder, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 124, (attempt, err)
        finally:  # the old script left the task running when it died
            _kill_group(proc)


@pytest.mark.parametrize("name", executor_names())
def test_every_executor_runs_the_same_command_per_index(name, tmp_path):
    """Parametrized over the catalog: each backend starts `<command> --index <i>` for each index given (one that
    runs the tasks here runs them; a scheduler's script is run as its array tasks would be)."""
    log = tmp_path / "calls.jsonl"
    command = TaskCommand(before=(str(recorder(tmp_path)), "run"), after=("--results", "R"))
    cls = get_executor(name)
    ex = cls(str(tmp_path / "launch"), command, dry_run=not cls.runs_here)
    ex.update_parameters(max_parallel=2)
    old = os.environ.get("RECORD_TO")
    os.environ["RECORD_TO"] = str(log)
    try:
        jobs = ex.map_array([3, 5, 8])
        if not cls.runs_here:
            for k in range(3):
                subprocess.run(["bash", jobs[0].script], env=task_env(name, k), cwd=ex.folder, check=True,
                               timeout=60)
    finally:
        if old is None:
            del os.environ["RECORD_TO"]
        else:
            os.environ["RECORD_TO"] = old
    argvs = sorted((c["argv"] for c in map(json.loads, log.read_text().splitlines())), key=lambda a: a[2])
    assert argvs == [["run", "--index", str(i), "--results", "R"] for i in (3, 5, 8)]


def test_dry_run_cli_prints_scripts_and_commands(tmp_path, repo_root, capsys):
    import robustperf

    results = tmp_path / "res"
    code = robustperf.main(["launch", str(repo_root / "recipes" / "tiny-digits.yaml"), "--scheduler", "slurm",
                            "--results", str(results), "--dry-run", "--chain", "1", "--max-parallel", "1",
                            "--time-min", "5", "--partition", "debug", "--set", "training.epochs=1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "#SBATCH --array=0-1%1" in out and "#SBATCH --time=5" in out and "#SBATCH --partition=debug" in out
    assert "--set training.epochs=1 &" in out
    assert out.count("sbatch --parsable") == 2 and "--dependency=afterany:" in out
    assert not list(results.glob("*/result.json"))
    ledger = json.loads(next(results.glob("_launch/*/launch.json")).read_text())
    assert ledger["dry_run"] is True and all(j["job_id"] is None for j in ledger["jobs"])


def test_cli_user_mistakes_exit_2(tmp_path, repo_root, capsys):
    import robustperf

    recipe = str(repo_root / "recipes" / "tiny-digits.yaml")
    base = ["launch", recipe, "--results", str(tmp_path / "r"), "--dry-run"]
    assert robustperf.main(base + ["--indices", "0-5"]) == 2
    assert "outside the matrix of 2 runs" in capsys.readouterr().err
    assert robustperf.main(base + ["--max-parallel", "0"]) == 2
    assert "launch.max_parallel" in capsys.readouterr().err
    assert robustperf.main(base + ["--scheduler", "slurm", "--partition", "a b"]) == 2
    assert "plain scheduler name" in capsys.readouterr().err


def test_sbatch_missing_is_a_launch_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    ex = SlurmExecutor(str(tmp_path / "launch"), COMMAND)
    ex.update_parameters(max_array_size=10)
    with pytest.raises(LaunchError, match="sbatch not found") as err:
        ex.map_array([0])
    assert err.value.script and err.value.script.endswith("array-000.sbatch")
    assert shutil.which("sbatch", path=str(tmp_path)) is None


def test_multi_gpu_runs_start_under_torchrun_and_get_sigterm(tmp_path):
    from launchers.launch import task_command

    command = task_command("/recipes/demo.yaml", "/data/results", ["training.epochs=1"], python="/venv/bin/python",
                           gpus=4)
    ex = SlurmExecutor(str(tmp_path / "launch"), command, dry_run=True)
    ex.update_parameters(gpus_per_node=4, cpus_per_task=16)
    text = ex._make_submission_file_text([0, 1])
    assert "-m torch.distributed.run --standalone --nproc_per_node=4 -m robustperf run" in text
    assert "trap 'forward TERM' USR1" in text  # torchrun dies on USR1 but passes TERM to its workers
    check_golden("slurm_torchrun.sbatch", text)
    single = task_command("/recipes/demo.yaml", "/data/results", [], python="/venv/bin/python", gpus=1)
    assert single.stop_signal is None and "torch.distributed.run" not in single.before


@pytest.mark.parametrize("name", script_executor_names())
def test_signal_must_come_after_the_job_starts(name, tmp_path):
    ex = _executor(get_executor(name), tmp_path, timeout_min=2, signal_delay_s=120)
    with pytest.raises(LaunchError, match="shorter than the wall-time"):
        ex.map_array([0])
