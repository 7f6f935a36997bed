"""Against a real one-node SLURM cluster (see conftest.slurm_cluster and .ci/slurm-up).

- an array of 4 tiny digits runs with %2 completes, a completed record each, never more than 2 at once;
- launching again submits nothing;
- a run whose time limit is shorter than its training is signalled by SLURM, checkpoints, and the chained job
  finishes it with the same result as an uninterrupted run;
- arrays above MaxArraySize are split (trivial tasks: the split, not the training, is under test);
- a run whose record says running while its job is alive, and a run still queued by an earlier launch, are
  not submitted twice; sbatch errors come back verbatim with the script.
"""
from __future__ import annotations

import json
import os
import signal
import pathlib
import subprocess
import sys
import time

import pytest

import robustperf
from launchers import LaunchError, TaskCommand
from launchers.launch import launch
from launchers.slurm import SlurmExecutor, parse_max_array_size
from recipes import load_recipe
from results import load_record, new_record, write_record

from tests.launchers.conftest import pending_signals

pytestmark = pytest.mark.slurm

#: tiny-digits made faster still: seconds of CPU per run
FAST = ["training.epochs=2", "attack.steps=1", "evaluation.autoattack=null", "evaluation.pgd_steps=2",
        "training.select_subset=64", "training.select_pgd_steps=2"]


def _squeue(job_ids):
    proc = subprocess.run(["squeue", "--noheader", "--array", "--format=%i|%T", "--jobs=" + ",".join(job_ids)],
                          capture_output=True, text=True)
    return [line.split("|") for line in proc.stdout.split()] if proc.returncode == 0 else []


def _wait_jobs(job_ids, timeout, on_poll=None):
    """Wait until none of ``job_ids`` is pending or running; returns the polls' results."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _squeue(job_ids)
        if on_poll:
            on_poll(rows)
        if not rows:
            return
        if time.monotonic() > deadline:
            subprocess.run(["scancel", *job_ids])
            pytest.fail(f"SLURM jobs {job_ids} still queued after {timeout} s: {rows}")
        time.sleep(1.0)


def _logs(folder):
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted(pathlib.Path(folder, "logs").glob("*.out")))


@pytest.fixture(scope="module")
def four_runs(slurm_cluster, tmp_path_factory, tiny_recipe):
    """4 runs (AT, TRADES x 2 seeds) launched as one SLURM array with %2, waited for."""
    overrides = ["repeats=2", *FAST, "training.epochs=1"]
    results = tmp_path_factory.mktemp("slurm") / "res dir; $(touch pwned) 'q"
    recipe = load_recipe(str(tiny_recipe), overrides)
    assert len(recipe.runs()) == 4
    result = launch(recipe, scheduler="slurm", results_dir=str(results), overrides=overrides,
                    parameters={"max_parallel": 2, "timeout_min": 10, "signal_delay_s": 30})
    running = []
    _wait_jobs([j.job_id for j in result.jobs], timeout=600,
               on_poll=lambda rows: running.append(sum(state == "RUNNING" for _, state in rows)))
    return recipe, results, result, running, overrides


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_array_of_four_with_throttle_two_completes(four_runs):
    recipe, results, result, running, _ = four_runs
    (job,) = result.jobs
    assert job.indices == [0, 1, 2, 3]
    assert "#SBATCH --array=0-3%2" in pathlib.Path(job.script).read_text()
    assert max(running) <= 2
    for spec in recipe.runs():
        record = load_record(str(results), spec.run_id)
        assert record is not None, _logs(result.folder)
        assert record["status"] == "completed", (record["failure_reason"], _logs(result.folder))
        assert record["job"]["scheduler"] == "slurm"
        assert str(record["job"]["array_job_id"]) == job.job_id
        assert int(record["job"]["array_task_id"]) == spec.index  # all indices selected: position == index
        assert record["accuracy"]["clean"] is not None
    assert not list(results.parent.rglob("pwned"))


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_launching_again_submits_nothing(four_runs, capsys):
    import robustperf

    recipe, results, _, _, overrides = four_runs
    before = set(os.listdir(results / "_launch"))
    code = robustperf.main(["launch", recipe.path, "--scheduler", "slurm", "--results", str(results),
                            *[a for o in overrides for a in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 0
    assert "4 already completed" in err and "nothing to launch" in err
    assert set(os.listdir(results / "_launch")) == before  # no script written, nothing submitted

    assert robustperf.main(["status", str(results), "--recipe", recipe.path,
                            *[a for o in overrides for a in ("--set", o)], "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"] == {"completed": 4, "failed": 0, "running": 0, "pending": 0}


def _elapsed_seconds(job_id: str) -> int:
    text = subprocess.run(["squeue", "--noheader", "--jobs", job_id, "--format=%M"], capture_output=True,
                          text=True, check=True).stdout.strip()
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


@pytest.mark.timeout(1200)
@pytest.mark.slow
def test_time_limit_signal_checkpoint_and_chained_resume(slurm_cluster, tmp_path, tiny_recipe):
    """A run whose time limit is shorter than its training: SLURM sends --signal's USR1 before the limit, the
    run checkpoints and exits, and link 1 of the chain resumes it to the end, with the same result as an
    uninterrupted run of the same config.

    SLURM checks time limits every 30 s, so when the signal lands depends on this machine's speed. To make
    it land in training whatever the speed, the run is frozen (SIGSTOP) after its first checkpoint, its time
    limit is cut to 1-2 minutes from now (within the 90 s signal window), SLURM's signal is seen pending on
    the frozen process, and the run is thawed (SIGCONT) to handle it: it checkpoints mid-training."""
    overrides = [*FAST, "training.epochs=3"]
    recipe = load_recipe(str(tiny_recipe), overrides)
    spec = recipe.run(0)
    reference_dir = tmp_path / "reference"
    reference = subprocess.Popen(
        [sys.executable, "-m", "robustperf", "run", str(tiny_recipe), "--index", "0", "--results",
         str(reference_dir), "--no-progress", *[a for o in overrides for a in ("--set", o)]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # The array task runs with OMP_NUM_THREADS = its CPUs (launch.cpus_per_run, 1). Float reductions
        # depend on the thread count, so the reference must use the same one to be bit-comparable.
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    results = tmp_path / "results"
    result = launch(recipe, scheduler="slurm", results_dir=str(results), indices="0", overrides=overrides,
                    parameters={"timeout_min": 10, "signal_delay_s": 90, "chain": 1})
    first, second = result.jobs
    assert second.depends_on == first.job_id
    assert "#SBATCH --signal=B:USR1@90" in pathlib.Path(first.script).read_text()

    checkpoint = results / spec.run_id / "checkpoint-last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert time.monotonic() < deadline, _logs(result.folder)
        assert _squeue([first.job_id]), "link 0 ended before its first checkpoint:\n" + _logs(result.folder)
        time.sleep(0.2)
    job = load_record(str(results), spec.run_id)["job"]
    pid, task_job = int(job["pid"]), str(job["job_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        # the limit ends 60-120 s from now: SLURM's next check (<= 30 s) is inside the 90 s signal window
        limit_min = _elapsed_seconds(task_job) // 60 + 2
        subprocess.run(["scontrol", "update", f"JobId={task_job}", f"TimeLimit={limit_min}"], check=True)
        deadline = time.monotonic() + 90
        while not pending_signals(pid) & (1 << (signal.SIGUSR1 - 1)):
            assert time.monotonic() < deadline, "SLURM sent no USR1 within 90 s"
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait_jobs([first.job_id, second.job_id], timeout=400)

    record = load_record(str(results), spec.run_id)
    logs = _logs(result.folder)
    assert record["status"] == "completed", (record["failure_reason"], logs)
    assert record["job"]["attempts"] == 2, logs
    assert str(record["job"]["array_job_id"]) == second.job_id  # finished by the chained job
    first_log = next(pathlib.Path(result.folder, "logs").glob(f"{first.job_id}_0.out")).read_text()
    assert "received signal 10" in first_log and "checkpoint saved" in first_log, first_log
    assert "DUE TO TIME LIMIT" not in first_log  # it stopped itself before the limit
    second_log = next(pathlib.Path(result.folder, "logs").glob(f"{second.job_id}_0.out")).read_text()
    assert "resuming" in second_log, second_log

    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0, out
    expected = load_record(str(reference_dir), spec.run_id)
    assert expected["job"]["attempts"] == 1
    for group, key in (("accuracy", "clean"), ("accuracy", "pgd"), ("training", "final_train_loss"),
                       ("training", "best_epoch"), ("training", "epochs_completed")):
        assert record[group][key] == expected[group][key], (group, key)


def test_arrays_above_max_array_size_are_split(slurm_cluster, tmp_path):
    max_size = parse_max_array_size(slurm_cluster)
    marker = tmp_path / "ran"
    marker.mkdir()
    command = TaskCommand(before=(sys.executable, "-c", "import sys; open(sys.argv[1] + '/' + sys.argv[3] + '-' "
                                  "+ __import__('os').environ['SLURM_ARRAY_TASK_ID'], 'w')", str(marker)))
    ex = SlurmExecutor(str(tmp_path / "launch"), command)
    if max_size > 20:  # a cluster not started by .ci/slurm-up: split at a smaller size instead
        max_size = 3
        ex.update_parameters(max_array_size=max_size)
    assert ex.max_array_size() == max_size
    indices = [i * 10 for i in range(max_size + 2)]
    ex.update_parameters(max_parallel=4, timeout_min=2, signal_delay_s=30)
    jobs = ex.map_array(indices)
    assert [len(j.indices) for j in jobs] == [max_size, 2]
    _wait_jobs([j.job_id for j in jobs], timeout=120)
    ran = sorted(os.listdir(marker))
    expected = sorted([f"{i * 10}-{i}" for i in range(max_size)] + [f"{max_size * 10}-0", f"{max_size * 10 + 10}-1"])
    assert ran == expected, _logs(ex.folder)


def test_running_record_with_live_job_and_queued_runs_are_not_duplicated(slurm_cluster, tmp_path, tiny_recipe):
    recipe = load_recipe(str(tiny_recipe), FAST)
    results = tmp_path / "results"
    held = subprocess.run(["sbatch", "--parsable", "--hold", "--output=/dev/null", "--wrap", "sleep 300"],
                          capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    try:
        spec = recipe.run(0)
        record = new_record(spec.run_id, spec.name, spec.config, recipe.name)
        record["job"].update(scheduler="slurm", job_id=held, host="elsewhere", pid=1, attempts=1)
        write_record(str(results), record)
        # run 1 is queued (held) by a first launch: it has no record yet
        first = launch(recipe, scheduler="slurm", results_dir=str(results), overrides=FAST,
                       parameters={"directives": ("--hold",)})
        assert [j.indices for j in first.jobs] == [[1]]
        assert [r.index for r, _ in first.plan.in_flight] == [0]

        again = launch(recipe, scheduler="slurm", results_dir=str(results), overrides=FAST, dry_run=True)
        assert again.plan.submit == []
        assert sorted(r.index for r, _ in again.plan.in_flight) == [0, 1]

        subprocess.run(["scancel", held, first.jobs[0].job_id], check=True)
        _wait_jobs([held, first.jobs[0].job_id], timeout=60)
        after = launch(recipe, scheduler="slurm", results_dir=str(results), overrides=FAST, dry_run=True)
        assert [r.index for r in after.plan.submit] == [0, 1]
        assert [r.index for r in after.plan.resumed] == [0]
    finally:
        subprocess.run(["scancel", held], capture_output=True)


def test_sbatch_error_is_shown_verbatim_with_the_script(slurm_cluster, tmp_path, tiny_recipe, capsys):
    import robustperf

    code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", "slurm", "--results", str(tmp_path / "r"),
                            "--partition", "no-such-partition", *[a for o in FAST for a in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 2
    assert "sbatch refused the job script" in err
    assert "invalid partition specified: no-such-partition" in err.lower()
    script = next((tmp_path / "r" / "_launch").glob("*/array-000.sbatch"))
    assert f"script: {script}" in err

    with pytest.raises(LaunchError) as info:
        SlurmExecutor(str(tmp_path / "l"), TaskCommand(before=("true",))).update_parameters(
            partition="no-such-partition").map_array([0])
    assert info.value.command[:2] == ["sbatch", "--parsable"] and info.value.returncode != 0


# ---------------------------------------------------------------- issue 12: setup environments, relative data

def _tiny_cifar(folder: pathlib.Path, per_file: int = 16) -> None:
    """CIFAR-10 batches in the official python format, ``per_file`` images each."""
    import pickle

    import numpy as np

    rng = np.random.RandomState(0)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"data": rng.randint(0, 256, (per_file, 3072), dtype=np.uint8),
                 b"labels": rng.randint(0, 10, per_file).tolist(), b"filenames": [b"x.png"] * per_file}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


def _venv_with_robustperf(path: pathlib.Path) -> pathlib.Path:
    """A real venv (``python -m venv``) that sees this checkout and its packages, with the ``robustperf``
    console script pip would install, which also notes the interpreter that ran it."""
    import site

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    site_dir = next(path.glob("lib/python*/site-packages"))
    roots = [str(pathlib.Path(__file__).resolve().parents[2]), *site.getsitepackages()]
    (site_dir / "robustperf-checkout.pth").write_text("\n".join(roots) + "\n")
    script = path / "bin" / "robustperf"
    script.write_text(f"#!{path}/bin/python\nimport os, sys\n"
                      "with open(os.path.join(sys.prefix, 'tasks.log'), 'a') as fh:\n"
                      "    fh.write(sys.executable + '\\n')\n"
                      "from robustperf import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def venv_relative_run(slurm_cluster, tmp_path_factory, tiny_recipe):
    """One SLURM run launched from a project folder with a relative data.root and a venv activated by --setup."""
    root = tmp_path_factory.mktemp("slurm-venv")
    project = root / "project"
    _tiny_cifar(project / "data" / "cifar-10-batches-py")
    venv = _venv_with_robustperf(root / "venv")
    overrides = [*FAST, "training.epochs=1", "data.name=cifar10", "data.root=data/cifar-10-batches-py",
                 "data.batch_size=16", "training.lr_base_batch_size=16"]
    results = root / "results"
    before = os.getcwd()
    os.chdir(project)
    try:
        code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", "slurm", "--results", str(results),
                                "--indices", "0", "--setup", f"source {venv}/bin/activate", "--time-min", "10",
                                "--signal-seconds", "30", *[a for o in overrides for a in ("--set", o)]])
    finally:
        os.chdir(before)
    assert code == 0
    (folder,) = (results / "_launch").iterdir()
    ledger = json.loads((folder / "launch.json").read_text())
    _wait_jobs([j["job_id"] for j in ledger["jobs"]], timeout=600)
    return load_recipe(str(tiny_recipe), overrides).run(0), results, folder, venv



@pytest.mark.timeout(900)
@pytest.mark.slow
def test_relative_data_path_resolves_against_the_launch_directory(venv_relative_run):
    spec, results, folder, _ = venv_relative_run
    record = load_record(str(results), spec.run_id)
    assert record is not None, _logs(folder)
    assert record["status"] == "completed", (record["failure_reason"], _logs(folder))
    assert record["config"]["data"]["root"] == "data/cifar-10-batches-py"  # identity unchanged: still relative
    assert record["config"]["data"]["name"] == "cifar10"
    script = next(folder.glob("*.sbatch")).read_text()
    assert f"cd -- {folder.parents[2] / 'project'} ||" in script  # where the launch was made from


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_setup_venv_runs_its_own_robustperf(venv_relative_run):
    spec, results, folder, venv = venv_relative_run
    script = next(folder.glob("*.sbatch")).read_text()
    assert sys.executable not in script
    used = (venv / "tasks.log").read_text().split()
    assert used == [f"{venv}/bin/python"], _logs(folder)
    assert load_record(str(results), spec.run_id)["status"] == "completed", _logs(folder)
